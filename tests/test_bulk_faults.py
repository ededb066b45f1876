"""Faults while a job runs: 429 storms, 5xx, time-outs and dropped connections end with the right
outcome for each item, and nothing is written twice."""

import pytest
from bulk_support import preload_for_users, wait_for, wait_until_finished

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkItem, BulkJob

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


def run_preload(environment, ops, user_ids, *, timeout_s: float = 120) -> tuple[BulkJob, dict]:
    job = preload_for_users(environment, ops, user_ids, {"offer": "autumn"})
    bulk.start_job(job, ops)
    return job, wait_until_finished(job, timeout_s=timeout_s)


def assert_written_once(sandbox, sandbox_project, user_ids):
    assert sandbox.stats(sandbox_project["api_key"])["writes_by_user"] == {
        user_id: 1 for user_id in user_ids
    }
    for user_id in user_ids:
        assert sandbox.state(sandbox_project["project_id"], user_id)["variables"] == {
            "offer": "autumn"
        }


def test_a_429_storm_slows_the_job_down_but_every_item_succeeds_once(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(api_key=sandbox_project["api_key"], budget_per_minute=12, window_seconds=1)
    user_ids = [f"storm-{n}" for n in range(30)]

    _, progress = run_preload(environment, ops, user_ids)

    assert (progress["done"], progress["failed"]) == (30, 0)
    assert sandbox.stats(sandbox_project["api_key"])["rate_limited"] > 0
    assert_written_once(sandbox, sandbox_project, user_ids)


def test_transient_5xx_are_retried_until_the_item_succeeds(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        failures={"mode": "5xx", "status": 503, "user_ids": ["flaky-0", "flaky-1"], "count": 4},
    )
    user_ids = [f"flaky-{n}" for n in range(6)]

    _, progress = run_preload(environment, ops, user_ids)

    assert (progress["done"], progress["failed"]) == (6, 0)
    assert sandbox.stats(sandbox_project["api_key"])["injected_failures"] == 4
    assert_written_once(sandbox, sandbox_project, user_ids)


@pytest.mark.parametrize("mode", ["timeout", "drop"])
def test_a_write_lost_on_the_way_is_resumed_not_repeated(
    celery_worker, clean_knobs, sandbox_project, environment, ops, mode
):
    sandbox = clean_knobs
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        failures={
            "mode": mode,
            "routes": ["state.patch"],
            "user_ids": ["lost-1", "lost-2"],
            "count": 2,
            "hold_seconds": 5,
        },
    )
    user_ids = [f"lost-{n}" for n in range(4)]

    job, progress = run_preload(environment, ops, user_ids)

    assert (progress["done"], progress["failed"]) == (4, 0)
    assert job.items.get(user_id="lost-1").attempts >= 2
    assert_written_once(sandbox, sandbox_project, user_ids)


def test_a_server_error_that_never_ends_fails_the_item_with_the_upstream_reason(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        failures={"mode": "5xx", "status": 502, "user_ids": ["doomed"]},
    )

    job, progress = run_preload(environment, ops, ["fine-1", "doomed", "fine-2"])

    assert (progress["done"], progress["failed"]) == (2, 1)
    doomed = job.items.get(user_id="doomed")
    assert doomed.status == BulkItem.Status.FAILED
    assert doomed.upstream_status == 502
    assert "Voiceflow failed (502)" in doomed.reason
    assert doomed.attempts == 5
    assert sandbox.state(sandbox_project["project_id"], "doomed") in (None, {})


def test_a_refused_request_fails_its_item_at_once_with_voiceflows_message(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        failures={"mode": "5xx", "status": 422, "user_ids": ["refused"], "routes": ["state.patch"]},
    )

    job, progress = run_preload(environment, ops, ["refused", "accepted"])

    refused = job.items.get(user_id="refused")
    assert (progress["done"], progress["failed"]) == (1, 1)
    assert (refused.attempts, refused.upstream_status) == (1, 422)
    assert refused.reason.startswith("Voiceflow refused the request")


def test_refused_credentials_pause_the_whole_job_with_the_reason(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(api_key=sandbox_project["api_key"], failures={"mode": "5xx", "status": 401})
    job = preload_for_users(
        environment, ops, [f"locked-{n}" for n in range(20)], {"offer": "autumn"}
    )
    bulk.start_job(job, ops)

    def paused():
        job.refresh_from_db()
        return job.status == BulkJob.Status.PAUSED

    wait_for(paused, timeout_s=30, what="the job to pause")
    assert "Voiceflow refused the credentials" in job.stop_reason
    wait_for(
        lambda: not job.items.filter(status=BulkItem.Status.CLAIMED).exists(),
        timeout_s=15,
        what="claims released",
    )
    assert job.items.filter(status=BulkItem.Status.FAILED).count() == 0

    sandbox.reset_knobs()
    bulk.resume_job(job, ops, source=AuditEntry.Source.PAGE)
    progress = wait_until_finished(job)
    assert (progress["done"], progress["failed"]) == (20, 0)
