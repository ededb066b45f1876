"""The operator chooses, per job, whether each state is read before its write (undoable, two
requests a user) or not ("no undo for this job": one request a user). The dry run and the job
page say which; the audit trail records the mode that ran."""

import pytest
from api_support import session_client
from bulk_support import preload_for_users, reset_users, wait_until_finished
from django.urls import reverse

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkJob, WriteMode

pytestmark = [pytest.mark.worker, pytest.mark.production_path]

USERS = [f"mode-user-{n}" for n in range(6)]


def test_a_preload_without_undo_sends_one_request_per_user_and_records_the_mode(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    sandbox.set_state(
        sandbox_project["project_id"], USERS[0], {"stack": [], "storage": {}, "variables": {"a": 1}}
    )
    requests_before = sandbox.stats(sandbox_project["api_key"])["requests"]
    job = preload_for_users(environment, ops, USERS, {"plan": "gold"})

    bulk.start_job(job, ops, write_mode=WriteMode.SINGLE_REQUEST)
    progress = wait_until_finished(job)

    assert (progress["done"], progress["failed"]) == (6, 0)
    stats = sandbox.stats(sandbox_project["api_key"])
    assert stats["requests"] - requests_before == 6
    assert stats["writes_by_user"] == {user_id: 1 for user_id in USERS}
    assert sandbox.state(sandbox_project["project_id"], USERS[0])["variables"] == {
        "a": 1,
        "plan": "gold",
    }
    entries = AuditEntry.objects.filter(job=job)
    assert set(entries.values_list("write_mode", "outcome", "state_before")) == {
        ("single_request", "succeeded", None)
    }
    assert all(entry.state_after["variables"]["plan"] == "gold" for entry in entries)
    job.refresh_from_db()
    with pytest.raises(bulk.JobStateError, match="without undo"):
        bulk.create_undo_job(job, ops)


def test_the_default_reads_each_state_first_and_stays_undoable(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    before = {"stack": [], "storage": {}, "variables": {"plan": "silver"}}
    sandbox.set_state(sandbox_project["project_id"], USERS[0], before)
    requests_before = sandbox.stats(sandbox_project["api_key"])["requests"]
    job = preload_for_users(environment, ops, USERS, {"plan": "gold"})

    bulk.start_job(job, ops)
    wait_until_finished(job)

    assert sandbox.stats(sandbox_project["api_key"])["requests"] - requests_before == 12
    entries = AuditEntry.objects.filter(job=job)
    assert set(entries.values_list("write_mode", flat=True)) == {"read_first"}
    assert entries.get(user_id=USERS[0]).state_before == before
    undo = bulk.create_undo_job(job, ops)
    bulk.start_job(undo, ops)
    wait_until_finished(undo)
    assert sandbox.state(sandbox_project["project_id"], USERS[0])["variables"] == {"plan": "silver"}


def test_a_reset_without_undo_sends_only_the_delete(
    celery_worker, sandbox, sandbox_project, environment, ops
):
    for user_id in USERS[:3]:
        sandbox.set_state(
            sandbox_project["project_id"], user_id, {"stack": [], "storage": {}, "variables": {}}
        )
    methods_before = sandbox.stats(sandbox_project["api_key"])["by_method"]
    job = reset_users(environment, ops, USERS[:3])

    bulk.start_job(job, ops, write_mode=WriteMode.SINGLE_REQUEST)
    wait_until_finished(job)

    methods = sandbox.stats(sandbox_project["api_key"])["by_method"]
    assert methods.get("DELETE", 0) - methods_before.get("DELETE", 0) == 3
    assert methods.get("GET", 0) == methods_before.get("GET", 0)
    assert all(sandbox.state(sandbox_project["project_id"], u) in ({}, None) for u in USERS[:3])


def test_the_dry_run_offers_both_modes_and_the_job_page_says_which_ran(
    client_for_user, environment, ops
):
    job = preload_for_users(environment, ops, USERS, {"plan": "gold"})
    client = client_for_user(ops)

    dry_run = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'name="write_mode" value="read_first" checked' in dry_run
    assert 'name="write_mode" value="single_request"' in dry_run
    assert "No undo for this job" in dry_run
    assert 'data-estimate="single_request"' in dry_run

    client.post(reverse("job_start", args=[job.pk]), {"write_mode": "single_request"})
    job.refresh_from_db()
    assert job.write_mode == WriteMode.SINGLE_REQUEST
    page = client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'id="write-mode"' in page and "No undo for this job" in page


def test_an_unknown_mode_is_refused_and_changes_nothing(environment, ops):
    job = preload_for_users(environment, ops, USERS, {"plan": "gold"})

    with pytest.raises(bulk.JobStateError, match="Choose how to write"):
        bulk.start_job(job, ops, write_mode="fast")

    job.refresh_from_db()
    assert (job.status, job.write_mode) == (BulkJob.Status.DRAFT, WriteMode.READ_FIRST)


def test_the_api_starts_a_job_without_undo_and_shows_the_mode(environment, ops):
    job = preload_for_users(environment, ops, USERS, {"plan": "gold"})
    client = session_client(ops)

    refused = client.post(f"/api/v1/jobs/{job.pk}/start", {"write_mode": "fast"}, format="json")
    started = client.post(
        f"/api/v1/jobs/{job.pk}/start", {"write_mode": "single_request"}, format="json"
    )

    assert refused.status_code == 400
    assert started.status_code == 200, started.content
    assert started.json()["write_mode"] == "single_request"
