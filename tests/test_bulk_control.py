"""Pause, resume and cancel take effect within seconds; retry runs the failed items only."""

import time

import pytest
from bulk_support import preload_for_users, wait_for, wait_until_finished

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkItem, BulkJob

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


def started_slow_job(
    sandbox, sandbox_project, environment, ops, count: int = 80
) -> tuple[BulkJob, list[str]]:
    sandbox.knobs(api_key=sandbox_project["api_key"], latency_ms=200)
    user_ids = [f"slow-{n}" for n in range(count)]
    job = preload_for_users(environment, ops, user_ids, {"segment": "b"})
    bulk.start_job(job, ops)
    wait_for(
        lambda: job.items.filter(status=BulkItem.Status.SUCCEEDED).count() >= 5,
        what="the job to get going",
    )
    return job, user_ids


def settled(job: BulkJob) -> bool:
    return not job.items.filter(status=BulkItem.Status.CLAIMED).exists()


def test_pause_stops_new_items_within_seconds_and_resume_finishes_the_job(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    job, user_ids = started_slow_job(clean_knobs, sandbox_project, environment, ops)

    bulk.pause_job(job, ops, source=AuditEntry.Source.PAGE)
    wait_for(lambda: settled(job), timeout_s=5, what="items in hand to finish")
    done_at_pause = job.items.filter(status=BulkItem.Status.SUCCEEDED).count()
    time.sleep(2)
    job.refresh_from_db()
    assert job.status == BulkJob.Status.PAUSED
    assert (
        job.items.filter(status=BulkItem.Status.SUCCEEDED).count() == done_at_pause < len(user_ids)
    )
    assert len(clean_knobs.stats(sandbox_project["api_key"])["writes_by_user"]) == done_at_pause

    bulk.resume_job(job, ops, source=AuditEntry.Source.PAGE)
    progress = wait_until_finished(job)
    assert (progress["status"], progress["done"], progress["failed"]) == (
        "completed",
        len(user_ids),
        0,
    )
    assert clean_knobs.stats(sandbox_project["api_key"])["writes_by_user"] == {
        u: 1 for u in user_ids
    }


def test_cancel_skips_every_item_not_started_within_seconds(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    job, user_ids = started_slow_job(clean_knobs, sandbox_project, environment, ops)

    bulk.cancel_job(job, ops, source=AuditEntry.Source.PAGE)
    wait_for(lambda: settled(job), timeout_s=5, what="items in hand to finish")
    progress = wait_until_finished(job, timeout_s=10)

    assert progress["status"] == "cancelled"
    assert progress["remaining"] == 0
    assert progress["skipped"] > 0
    assert progress["done"] + progress["skipped"] == len(user_ids)
    written = clean_knobs.stats(sandbox_project["api_key"])["writes_by_user"]
    done = set(job.items.filter(status=BulkItem.Status.SUCCEEDED).values_list("user_id", flat=True))
    assert written == {u: 1 for u in done}
    for item in job.items.filter(status=BulkItem.Status.SKIPPED):
        assert item.reason == "Not run: the job was cancelled."
        assert clean_knobs.state(sandbox_project["project_id"], item.user_id) in (None, {})


def test_retry_runs_only_the_failed_items(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        failures={"mode": "5xx", "status": 400, "user_ids": ["bad-1", "bad-2"]},
    )
    user_ids = ["ok-1", "bad-1", "ok-2", "bad-2"]
    job = preload_for_users(environment, ops, user_ids, {"segment": "c"})
    bulk.start_job(job, ops)
    assert wait_until_finished(job)["failed"] == 2

    sandbox.reset_knobs()
    assert bulk.retry_failed(job, ops) == 2
    progress = wait_until_finished(job)

    assert (progress["done"], progress["failed"]) == (4, 0)
    requests = sandbox.stats(sandbox_project["api_key"])
    assert requests["writes_by_user"] == {u: 1 for u in user_ids}
    assert requests["by_route"]["state.get"] == 6  # ok-* read once; bad-* read on each of two runs
