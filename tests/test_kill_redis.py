"""The Redis broker killed and started again mid-job (a Redis of the test's own, without
persistence, so its messages are lost as in a crash): the job finishes with every item applied
exactly once and one succeeded audit row each, because the database, not the broker, holds the
job. A job started while the broker is down is queued by the sweep once it is back."""

import time

import pytest
from bulk_support import preload_for_users, wait_until_finished
from reliability_support import CeleryProcess, RedisServer, process_env, publishing_to, wait_for

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkItem

# Once, on the default path: it brings its own Redis, and the database plays no part.
pytestmark = pytest.mark.worker


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def workers(transactional_db, redis_server, tmp_path):
    """One worker and one beat, as separate processes (the Procfile's lines), on that Redis."""
    env = process_env(
        {"CELERY_BROKER_URL": redis_server.url},
        WORKER_CONCURRENCY="1",
        BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
    )
    processes = [
        CeleryProcess("worker", env, tmp_path / "worker.log"),
        CeleryProcess("beat", env, tmp_path / "beat.log"),
    ]
    with publishing_to(redis_server.url):
        for process in processes:
            process.start()
        yield processes
        for process in processes:
            process.kill()


def assert_each_applied_once(sandbox, sandbox_project, job, user_ids, variables):
    assert sandbox.stats(sandbox_project["api_key"])["writes_by_user"] == dict.fromkeys(user_ids, 1)
    for user_id in user_ids:
        assert sandbox.state(sandbox_project["project_id"], user_id)["variables"] == variables
    succeeded = AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.SUCCEEDED)
    assert sorted(succeeded.values_list("user_id", flat=True)) == sorted(user_ids)
    assert (
        not AuditEntry.objects.filter(job=job)
        .exclude(outcome=AuditEntry.Outcome.SUCCEEDED)
        .exists()
    )


def test_a_job_survives_its_broker_being_killed_and_restarted_mid_flight(
    workers, redis_server, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(api_key=sandbox_project["api_key"], latency_ms=150)
    user_ids = [f"redis-kill-{n}" for n in range(120)]
    variables = {"campaign": "broker", "wave": 3}
    job = preload_for_users(environment, ops, user_ids, variables)
    bulk.start_job(job, ops)
    wait_for(
        lambda: job.items.filter(status=BulkItem.Status.SUCCEEDED).count() >= 8,
        timeout_s=60,
        what="the job to be under way",
    )

    redis_server.kill()
    time.sleep(3)
    redis_server.start()
    assert job.items.filter(status=BulkItem.Status.PENDING).exists()  # work left for after

    progress = wait_until_finished(job, timeout_s=120)
    assert (progress["status"], progress["done"], progress["failed"], progress["skipped"]) == (
        "completed",
        120,
        0,
        0,
    )
    assert_each_applied_once(sandbox, sandbox_project, job, user_ids, variables)


def test_a_job_started_while_the_broker_is_down_is_queued_once_it_is_back(
    workers, redis_server, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    user_ids = [f"redis-down-{n}" for n in range(10)]
    variables = {"campaign": "late"}
    job = preload_for_users(environment, ops, user_ids, variables)
    redis_server.kill()

    started = time.monotonic()
    bulk.start_job(job, ops)
    assert time.monotonic() - started < 10  # answered, not held until the broker returns
    job.refresh_from_db()
    assert job.status == "queued"
    redis_server.start()

    progress = wait_until_finished(job, timeout_s=90)
    assert (progress["status"], progress["done"], progress["failed"]) == ("completed", 10, 0)
    assert_each_applied_once(sandbox, sandbox_project, job, user_ids, variables)
