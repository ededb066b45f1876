"""Bulk jobs through changing faults, for every kind of job: each ends with every item accounted
for (succeeded + failed + skipped = total), the sandbox holds exactly what the succeeded items
say and nothing for the others, failed items carry Voiceflow's reason and status, and there is
one succeeded audit row per succeeded item. (tests/test_bulk_faults.py covers each fault alone
on a preload.)"""

import pytest
from bulk_support import preload_for_users, reset_users, wait_for, wait_until_finished
from inspector_support import ordering_state

from sessions_app import bulk
from sessions_app.actions import writable_state
from sessions_app.models import AuditEntry, BulkItem, BulkJob

# Once, on the default path: the engine's handling of faults is the same on any database
# (tests/test_bulk_faults.py also runs on PostgreSQL and Redis).
pytestmark = pytest.mark.worker

Item = BulkItem.Status


def counts(job: BulkJob) -> dict:
    return {status: job.items.filter(status=status).count() for status in Item.values}


def assert_every_item_accounted_for(job: BulkJob, progress: dict) -> None:
    by_status = counts(job)
    assert by_status[Item.PENDING] == by_status[Item.CLAIMED] == 0
    assert by_status[Item.SUCCEEDED] + by_status[Item.FAILED] + by_status[Item.SKIPPED] == (
        job.total_items
    )
    assert (progress["done"], progress["failed"], progress["skipped"]) == (
        by_status[Item.SUCCEEDED],
        by_status[Item.FAILED],
        by_status[Item.SKIPPED],
    )
    assert not AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.PENDING).exists()
    for item in job.items.filter(status=Item.SUCCEEDED):
        entries = AuditEntry.objects.filter(
            job=job, user_id=item.user_id, outcome=AuditEntry.Outcome.SUCCEEDED
        )
        assert list(entries) == [item.audit_entry]


def test_a_preload_through_changing_faults_then_cancelled_accounts_for_every_item(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox, api_key = clean_knobs, sandbox_project["api_key"]
    doomed = ["doomed-1", "doomed-2", "doomed-3"]
    # Far more users than are done before the cancel, so the cancel always finds some left.
    user_ids = doomed + [f"weather-{n:03d}" for n in range(197)]
    variables = {"offer": "storm", "tier": 2}
    sandbox.knobs(
        api_key=api_key,
        latency_ms=60,
        budget_per_minute=16,
        window_seconds=2,  # a 429 storm all along: 16 requests in any 2 seconds at most
        failures={"mode": "5xx", "status": 500, "user_ids": doomed},
    )
    job = preload_for_users(environment, ops, user_ids, variables)
    bulk.start_job(job, ops)

    # The doomed users come first in the file, so they are taken first; once they failed,
    # writes get lost on the way, then reads time out, then the operator cancels.
    wait_for(lambda: counts(job)[Item.FAILED] == 3, timeout_s=60, what="the doomed items")
    sandbox.knobs(api_key=api_key, failures={"mode": "drop", "routes": ["state.patch"], "count": 4})
    wait_for(lambda: counts(job)[Item.SUCCEEDED] >= 15, timeout_s=60, what="15 items done")
    sandbox.knobs(
        api_key=api_key,
        failures={"mode": "timeout", "routes": ["state.get"], "count": 3, "hold_seconds": 5},
    )
    wait_for(lambda: counts(job)[Item.SUCCEEDED] >= 30, timeout_s=90, what="30 items done")
    bulk.cancel_job(job, ops, source=AuditEntry.Source.PAGE)
    progress = wait_until_finished(job, timeout_s=60)

    assert progress["status"] == "cancelled"
    assert_every_item_accounted_for(job, progress)
    stats = sandbox.stats(api_key)
    assert stats["rate_limited"] > 0 and stats["injected_failures"] > 3
    succeeded = set(job.items.filter(status=Item.SUCCEEDED).values_list("user_id", flat=True))
    assert stats["writes_by_user"] == dict.fromkeys(succeeded, 1)
    for user_id in user_ids:
        state = sandbox.state(sandbox_project["project_id"], user_id)
        assert (state or {}).get("variables") == (variables if user_id in succeeded else None)
    for item in job.items.filter(status=Item.FAILED):
        assert item.user_id in doomed
        assert (item.upstream_status, item.attempts) == (500, 5)
        assert "Voiceflow failed (500)" in item.reason
    assert counts(job)[Item.SKIPPED] > 0
    assert set(job.items.filter(status=Item.SKIPPED).values_list("reason", flat=True)) == {
        "Not run: the job was cancelled."
    }


def test_a_reset_and_its_undo_through_faults_each_apply_once(
    celery_worker, clean_knobs, sandbox_project, environment, ops
):
    sandbox, api_key = clean_knobs, sandbox_project["api_key"]
    project_id = sandbox_project["project_id"]
    user_ids = [f"reset-{n:02d}" for n in range(16)]
    states = {}
    for n, user_id in enumerate(user_ids):
        states[user_id] = ordering_state()
        states[user_id]["variables"]["quantity"] = n
        sandbox.set_state(project_id, user_id, states[user_id])
    refused, silent = ["reset-03", "reset-09"], "reset-12"
    sandbox.knobs(
        api_key=api_key,
        latency_ms=40,
        failures={"mode": "5xx", "status": 502, "user_ids": refused, "routes": ["state.delete"]},
    )
    job = reset_users(environment, ops, user_ids)
    bulk.start_job(job, ops)
    wait_for(lambda: counts(job)[Item.FAILED] == 2, timeout_s=60, what="the refused deletes")
    # One user's deletes now go unanswered until the job gives up on it.
    sandbox.knobs(
        api_key=api_key,
        failures={
            "mode": "timeout",
            "user_ids": [silent],
            "routes": ["state.delete"],
            "hold_seconds": 5,
        },
    )
    progress = wait_until_finished(job, timeout_s=120)

    assert_every_item_accounted_for(job, progress)
    reset_done = set(job.items.filter(status=Item.SUCCEEDED).values_list("user_id", flat=True))
    failed = {item.user_id: item for item in job.items.filter(status=Item.FAILED)}
    assert reset_done | set(failed) == set(user_ids)
    assert set(refused) <= set(failed)
    for user_id in refused:
        assert failed[user_id].upstream_status == 502
        assert "Voiceflow failed (502)" in failed[user_id].reason
    if silent in failed:  # unless its delete went through before the time-outs began
        assert "Voiceflow did not answer within 3 s" in failed[silent].reason
    assert sandbox.stats(api_key)["writes_by_user"] == dict.fromkeys(reset_done, 1)
    for user_id in user_ids:
        stored = sandbox.state(project_id, user_id)
        assert stored == (None if user_id in reset_done else states[user_id])

    # Undo what was reset, while every third PUT fails with a 503 burst.
    sandbox.knobs(
        api_key=api_key,
        failures={"mode": "5xx", "status": 503, "routes": ["state.put"], "rate": 0.34, "count": 6},
    )
    undo = bulk.create_undo_job(job, ops)
    bulk.start_job(undo, ops)
    undo_progress = wait_until_finished(undo, timeout_s=120)

    assert_every_item_accounted_for(undo, undo_progress)
    assert (undo_progress["done"], undo_progress["failed"]) == (len(reset_done), 0)
    assert sandbox.stats(api_key)["writes_by_user"] == dict.fromkeys(reset_done, 2)
    for user_id in user_ids:
        # A state put back is written as a PUT sends it: the base frame's null nodeID is left
        # out (actions.writable_state); a state never reset still reads as it was.
        expected = states[user_id]
        assert sandbox.state(project_id, user_id) == (
            writable_state(expected) if user_id in reset_done else expected
        )
