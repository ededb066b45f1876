"""Structured logs: with LOG_FORMAT=json every line of the web server and the workers is one JSON
object; requests carry their id, bulk work its job and item ids and outcomes, never a userID or
a variable's value."""

import json
import re

import httpx
import pytest
from bulk_support import preload_for_users, wait_until_finished
from django.test import Client
from reliability_support import (
    CeleryProcess,
    RedisServer,
    WebServer,
    process_env,
    publishing_to,
    run_django,
)

from sessions_app import bulk

pytestmark = pytest.mark.production_path


def json_lines(text: str) -> list[dict]:
    """The log lines among a worker's output (Celery prints its start-up banner on stdout)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_an_unknown_log_format_stops_start_up_naming_the_variable():
    result, _ = run_django("pass", LOG_FORMAT="xml")

    assert result.returncode != 0
    assert "LOG_FORMAT must be plain or json; got 'xml'." in result.stderr


def test_a_response_carries_the_request_id_the_proxy_sent(db):
    response = Client().get("/healthz", headers={"X-Request-ID": "edge-7f3a:42"})

    assert response["X-Request-ID"] == "edge-7f3a:42"


@pytest.mark.parametrize("offered", ["", "has spaces", "x" * 200, 'quote"d'])
def test_a_request_without_a_usable_id_gets_a_new_one(db, offered):
    response = Client().get("/healthz", headers={"X-Request-ID": offered})

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_every_web_server_line_is_json_and_a_request_s_lines_carry_its_id(
    transactional_db, test_broker, tmp_path
):
    log_path = tmp_path / "web.log"
    web = WebServer(process_env(test_broker, LOG_FORMAT="json"), log_path).start()
    try:
        answer = httpx.get(
            f"{web.url}/api/v1/projects?user=someone%40example.com",
            headers={"X-Request-ID": "trace-1"},
        )
    finally:
        web.kill()

    assert answer.headers["X-Request-ID"] == "trace-1"
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # gunicorn's own lines too
    assert {
        "Starting gunicorn 23.0.0",
        "Using worker: voiceflow_admin.gunicorn.SlowClientSafeThreadWorker",
    } <= {line["message"] for line in lines}
    access, refusal = [line for line in lines if line["request_id"] == "trace-1"]
    assert access == access | {
        "level": "INFO",
        "logger": "sessions_app.requests",
        "message": "GET /api/v1/projects 401",
        "method": "GET",
        "path": "/api/v1/projects",
        "status": 401,
    }
    assert access["duration_ms"] > 0 and access["time"].endswith("+00:00")
    assert (refusal["logger"], refusal["message"]) == (
        "django.request",
        "Unauthorized: /api/v1/projects",
    )
    assert "someone" not in text  # the query string, where userIDs travel, is never logged


def test_the_bulk_engine_logs_each_item_outcome_without_user_ids_or_values(
    transactional_db, tmp_path, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        failures={"mode": "5xx", "status": 422, "user_ids": ["logged-person-2"]},
    )
    log_path = tmp_path / "worker.log"
    redis = RedisServer(tmp_path).start()  # its own, so no other test run's worker takes the job
    env = process_env({"CELERY_BROKER_URL": redis.url}, LOG_FORMAT="json")
    worker = CeleryProcess("worker", env, log_path)
    try:
        worker.start()
        with publishing_to(redis.url):
            job = preload_for_users(
                environment, ops, ["logged-person-1", "logged-person-2"], {"plan": "platinum-9931"}
            )
            bulk.start_job(job, ops)
            wait_until_finished(job, timeout_s=60)
    finally:
        worker.kill()
        redis.kill()

    text = log_path.read_text()
    lines = json_lines(text)
    outcomes = {
        line["item_id"]: (line["line"], line["outcome"], line["upstream_status"])
        for line in lines
        if line.get("job_id") == job.pk and "item_id" in line
    }
    items = {item.pk: item for item in job.items.all()}
    assert outcomes == {
        items_pk: (item.line_number, item.status, item.upstream_status)
        for items_pk, item in items.items()
    }
    assert {outcome for _, outcome, _ in outcomes.values()} == {"succeeded", "failed"}
    completed = [
        line
        for line in lines
        if line.get("job_id") == job.pk and line.get("outcome") == "completed"
    ]
    assert (completed[0]["succeeded"], completed[0]["failed"]) == (1, 1)
    for private in ("logged-person", "platinum-9931"):
        assert private not in text
