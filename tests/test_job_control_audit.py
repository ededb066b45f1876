"""Who paused, resumed or cancelled a bulk job is on record, from the job page, the API and the
command line alike; the job page and the audit trail name them."""

import pytest
from api_support import token_client
from bulk_support import reset_users
from cli_support import run, run_json
from django.urls import reverse

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkJob

CONTROL_ACTIONS = [
    AuditEntry.Action.JOB_PAUSED,
    AuditEntry.Action.JOB_RESUMED,
    AuditEntry.Action.JOB_CANCELLED,
]


@pytest.fixture
def started_job(environment, ops) -> BulkJob:
    job = reset_users(environment, ops, ["a", "b"])
    bulk.start_job(job, ops)
    return job


def control_rows(job: BulkJob) -> list[tuple]:
    return list(
        AuditEntry.objects.filter(job=job)
        .order_by("created_at", "pk")
        .values_list("action", "actor", "actor_name", "source", "outcome")
    )


def expected_rows(actor, source: str) -> list[tuple]:
    return [
        (action, actor.pk, actor.username, source, AuditEntry.Outcome.SUCCEEDED)
        for action in CONTROL_ACTIONS
    ]


def test_pausing_resuming_and_cancelling_on_the_job_page_are_audited(started_job, ops, ops_client):
    for name in ("job_pause", "job_resume", "job_cancel"):
        assert ops_client.post(reverse(name, args=[started_job.pk])).status_code == 302

    assert control_rows(started_job) == expected_rows(ops, AuditEntry.Source.PAGE)
    page = ops_client.get(reverse("job_detail", args=[started_job.pk])).content.decode()
    assert f"Bulk job cancelled by {ops.username} (Page)" in page


def test_the_audit_trail_lists_who_stopped_a_job(started_job, ops, ops_client, admin_client_):
    ops_client.post(reverse("job_cancel", args=[started_job.pk]))

    page = admin_client_.get(reverse("audit_list")).content.decode()
    assert "Bulk job cancelled" in page
    assert f"Job #{started_job.pk}" in page
    assert f"<td>{ops.username}</td>" in page


def test_pausing_resuming_and_cancelling_over_the_api_are_audited(started_job, ops):
    client = token_client(ops)
    for control in ("pause", "resume", "cancel"):
        assert client.post(f"/api/v1/jobs/{started_job.pk}/{control}").status_code == 200

    assert control_rows(started_job) == expected_rows(ops, AuditEntry.Source.API)


def test_pausing_resuming_and_cancelling_from_the_command_line_are_audited(started_job, ops):
    for control in ("pause", "resume", "cancel"):
        status, body = run_json(
            "bulk_job_control", "--as-user", ops.username, control, str(started_job.pk)
        )
        assert status == 0, body

    assert body == {"job": started_job.pk, "status": "cancelled"}
    assert control_rows(started_job) == expected_rows(ops, AuditEntry.Source.CLI)


def test_a_control_the_job_refuses_leaves_no_row(environment, ops):
    draft = reset_users(environment, ops, ["a"])

    status, body = run_json("bulk_job_control", "--as-user", ops.username, "pause", str(draft.pk))

    assert status == 3
    assert body["error"]["message"] == "Only a queued or running job can be paused."
    assert not AuditEntry.objects.filter(job=draft).exists()


def test_the_command_line_needs_a_role_that_runs_jobs(started_job, support):
    status, _ = run(
        "bulk_job_control", "--as-user", support.username, "cancel", str(started_job.pk)
    )

    assert status == 6
    started_job.refresh_from_db()
    assert started_job.status == BulkJob.Status.QUEUED
    assert not AuditEntry.objects.filter(job=started_job).exists()
