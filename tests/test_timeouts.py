"""No request waits forever on the database or the broker: PostgreSQL cancels a statement that
outlasts DATABASE_STATEMENT_TIMEOUT_MS, and a job started while Redis hangs is answered within
the broker's socket time-out (the sweep queues it later). Voiceflow's time-out on every page and
API call is checked by tests/test_faults_pages.py and tests/test_faults_api.py."""

import socket
import time

import httpx
import pytest
from django.conf import settings
from django.db import connection
from knox.models import AuthToken
from reliability_support import WebServer, process_env, run_django

from sessions_app.models import BulkJob

postgresql_only = pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="a PostgreSQL setting (make test runs it on the production path)",
)


@postgresql_only
@pytest.mark.production_path
def test_every_database_connection_has_a_statement_time_out_of_30_seconds(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("30s",)


@postgresql_only
@pytest.mark.production_path
def test_postgresql_cancels_a_statement_that_outlasts_the_configured_time_out(db):
    from reliability_support import database_url_of

    result, elapsed_s = run_django(
        "from django.db import connection\n"
        "with connection.cursor() as cursor: cursor.execute('SELECT pg_sleep(20)')",
        DATABASE_URL=database_url_of(connection.settings_dict),
        DATABASE_STATEMENT_TIMEOUT_MS="500",
    )

    assert result.returncode != 0
    assert "canceling statement due to statement timeout" in result.stderr
    assert elapsed_s < 10


def test_an_unusable_statement_time_out_stops_start_up_naming_the_variable():
    result, _ = run_django(
        "pass",
        DATABASE_URL="postgres://nobody@127.0.0.1:5432/nothing",
        DATABASE_STATEMENT_TIMEOUT_MS="soon",
    )

    assert result.returncode != 0
    assert "DATABASE_STATEMENT_TIMEOUT_MS must be a whole number >= 1; got 'soon'." in (
        result.stderr
    )


def test_a_job_started_over_http_while_the_broker_hangs_is_answered_within_its_socket_time_out(
    transactional_db, tmp_path, environment, ops
):
    hung_broker = socket.create_server(("127.0.0.1", 0), backlog=50)  # accepts, never answers
    broker_url = f"redis://127.0.0.1:{hung_broker.getsockname()[1]}/0"
    web = WebServer(process_env({"CELERY_BROKER_URL": broker_url}), tmp_path / "web.log")
    _, token = AuthToken.objects.create(ops, expiry=None)
    try:
        web.start()
        started = time.monotonic()
        answer = httpx.post(
            f"{web.url}/api/v1/jobs",
            json={
                "environment": environment.pk,
                "kind": "preload",
                "user_ids": ["hung-broker-1"],
                "variables": {"plan": "gold"},
                "start": True,
            },
            headers={"Authorization": f"Token {token}"},
            timeout=40,
        )
        elapsed_s = time.monotonic() - started
    finally:
        web.kill()
        hung_broker.close()

    assert answer.status_code == 201, answer.text
    # The input is stored; its check (then the start) waits for the broker to come back.
    assert answer.json()["status"] == BulkJob.Status.VALIDATING
    # settings.py gives a Redis broker a 10 s socket time-out.
    assert elapsed_s < 10 + 5
    assert "the broker is unavailable; the sweep will queue it again" in web.log()
