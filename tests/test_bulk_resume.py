"""A worker killed in the middle of a job: a new worker finishes it, every item applied exactly
once and none skipped, without the broker redelivering anything."""

import pytest
from bulk_support import preload_for_users, wait_for, wait_until_finished

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkItem

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


def test_a_job_whose_worker_is_killed_mid_flight_finishes_with_each_item_applied_once(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(api_key=sandbox_project["api_key"], latency_ms=250)
    user_ids = [f"resume-{n}" for n in range(60)]
    job = preload_for_users(environment, ops, user_ids, {"campaign": "spring", "wave": 2})
    bulk.start_job(job, ops)

    def mid_flight():
        done = job.items.filter(status=BulkItem.Status.SUCCEEDED).count()
        writing = AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.PENDING).count()
        return done >= 8 and writing >= 1

    wait_for(mid_flight, timeout_s=60, what="writes in flight")
    celery_worker.kill()
    in_flight = job.items.filter(status=BulkItem.Status.CLAIMED).count()
    assert in_flight >= 1
    assert job.items.filter(status=BulkItem.Status.PENDING).count() > 0

    celery_worker.start()
    progress = wait_until_finished(job, timeout_s=120)

    assert (progress["done"], progress["failed"], progress["skipped"], progress["remaining"]) == (
        60,
        0,
        0,
        0,
    )
    stats = sandbox.stats(sandbox_project["api_key"])
    assert stats["writes_by_user"] == {user_id: 1 for user_id in user_ids}
    for user_id in user_ids:
        variables = sandbox.state(sandbox_project["project_id"], user_id)["variables"]
        assert variables == {"campaign": "spring", "wave": 2}
    assert not AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.PENDING).exists()
    assert AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.SUCCEEDED).count() == 60
