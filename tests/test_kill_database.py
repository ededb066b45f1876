"""PostgreSQL out of reach of the worker for a few seconds mid-job (a TCP proxy between them cuts
every connection and refuses new ones, as a restart or a fail-over does): the job goes on as soon
as the database answers again, well before any lease could run out, and finishes with every item
applied exactly once and one succeeded audit row each."""

import time

import pytest
from bulk_support import preload_for_users, wait_until_finished
from django.conf import settings
from django.db import connection
from reliability_support import (
    CeleryProcess,
    RedisServer,
    TcpProxy,
    database_url_of,
    process_env,
    publishing_to,
    wait_for,
)

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkItem

pytestmark = [
    pytest.mark.worker,
    pytest.mark.production_path,
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="cuts a PostgreSQL connection (make test runs it on the production path)",
    ),
]


# Long enough that the sweep cannot be what resumes the job within this test's bound.
LEASE_S = 40


@pytest.fixture
def database_proxy(transactional_db):
    database = connection.settings_dict
    proxy = TcpProxy(database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of the test's own, so that no other test run's workers take its messages."""
    server = RedisServer(tmp_path).start()
    with publishing_to(server.url):
        yield server
    server.kill()


@pytest.fixture
def workers_behind_the_proxy(database_proxy, redis_server, tmp_path):
    through_proxy = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": database_proxy.port}
    env = process_env(
        {"CELERY_BROKER_URL": redis_server.url},
        DATABASE_URL=database_url_of(through_proxy),
        BULK_LEASE_SECONDS=str(LEASE_S),
        BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
    )
    processes = [
        CeleryProcess("worker", env, tmp_path / "worker.log").start(),
        CeleryProcess("beat", env, tmp_path / "beat.log").start(),
    ]
    yield processes
    for process in processes:
        process.kill()


def test_a_job_finishes_exactly_once_when_the_database_is_cut_off_mid_flight(
    workers_behind_the_proxy, database_proxy, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(api_key=sandbox_project["api_key"], latency_ms=150)
    user_ids = [f"db-cut-{n}" for n in range(120)]
    variables = {"campaign": "outage", "wave": 4}
    job = preload_for_users(environment, ops, user_ids, variables)
    bulk.start_job(job, ops)
    wait_for(
        lambda: job.items.filter(status=BulkItem.Status.SUCCEEDED).count() >= 10,
        timeout_s=60,
        what="the job to be under way",
    )

    database_proxy.cut()
    time.sleep(4)
    database_proxy.restore()
    restored_at = time.monotonic()
    assert job.items.filter(status=BulkItem.Status.PENDING).exists()  # work left for after

    progress = wait_until_finished(job, timeout_s=120)
    assert time.monotonic() - restored_at < LEASE_S * 0.75, "the job waited for the sweep"
    assert (progress["status"], progress["done"], progress["failed"], progress["skipped"]) == (
        "completed",
        120,
        0,
        0,
    )
    assert sandbox.stats(sandbox_project["api_key"])["writes_by_user"] == dict.fromkeys(user_ids, 1)
    for user_id in user_ids:
        assert sandbox.state(sandbox_project["project_id"], user_id)["variables"] == variables
    succeeded = AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.SUCCEEDED)
    assert sorted(succeeded.values_list("user_id", flat=True)) == sorted(user_ids)
    assert not AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.PENDING).exists()
