"""Who may see and who may run bulk jobs: viewing needs inspect_session, anything that creates or
controls a job needs run_bulk_jobs (Ops and Admin); the buttons follow."""

import pytest
from bulk_support import preload_for_users
from django.test import Client
from django.urls import reverse

from sessions_app import bulk
from sessions_app.models import BulkJob
from sessions_app.voiceflow import budget

CONTROL_POSTS = [
    "job_start",
    "job_pause",
    "job_resume",
    "job_cancel",
    "job_retry",
    "job_undo",
    "job_discard",
]


@pytest.fixture
def draft(environment, ops) -> BulkJob:
    return preload_for_users(environment, ops, ["a", "b"], {"x": 1})


@pytest.mark.parametrize("persona", ["viewer_client", "support_client"])
def test_viewers_and_support_see_jobs_but_cannot_run_them(
    request, persona, draft, sandbox, sandbox_project
):
    client = request.getfixturevalue(persona)

    assert client.get(reverse("job_list")).status_code == 200
    page = client.get(reverse("job_detail", args=[draft.pk]))
    assert page.status_code == 200
    assert (
        b"Start the job" not in page.content
        and b"New job" not in client.get(reverse("job_list")).content
    )
    assert client.get(reverse("job_progress", args=[draft.pk])).status_code == 200
    for name in ["job_new", "job_preview", "job_results"]:
        url = reverse(name) if name == "job_new" else reverse(name, args=[draft.pk])
        assert client.get(url).status_code == 403, name
    for name in CONTROL_POSTS:
        assert client.post(reverse(name, args=[draft.pk])).status_code == 403, name
    draft.refresh_from_db()
    assert draft.status == BulkJob.Status.DRAFT
    assert sandbox.stats(sandbox_project["api_key"])["requests"] == 0


@pytest.mark.parametrize("persona", ["ops_client", "admin_client_"])
def test_ops_and_admins_run_jobs(request, persona, draft):
    client = request.getfixturevalue(persona)

    page = client.get(reverse("job_detail", args=[draft.pk]))
    assert b"Start the job" in page.content
    response = client.post(reverse("job_start", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == BulkJob.Status.QUEUED
    assert client.post(reverse("job_pause", args=[draft.pk])).status_code == 302
    draft.refresh_from_db()
    assert draft.status == BulkJob.Status.PAUSED


def test_an_operator_without_a_role_sees_no_jobs(outsider_client, draft):
    assert outsider_client.get(reverse("job_list")).status_code == 403
    assert outsider_client.get(reverse("job_detail", args=[draft.pk])).status_code == 403
    assert b"Jobs</a>" not in outsider_client.get(reverse("home")).content


def test_signed_out_visitors_are_sent_to_sign_in(draft):
    response = Client().get(reverse("job_detail", args=[draft.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_nav_shows_jobs_to_viewers(viewer_client):
    assert b'href="/jobs/">Jobs</a>' in viewer_client.get(reverse("home")).content


def test_a_control_refused_by_the_jobs_state_says_why_and_changes_nothing(ops_client, draft):
    response = ops_client.post(reverse("job_pause", args=[draft.pk]), follow=True)

    assert "Only a queued or running job can be paused." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == BulkJob.Status.DRAFT


def test_the_dry_run_shows_current_values_beside_new_ones(
    ops_client, sandbox, sandbox_project, environment, ops
):
    sandbox.set_state(
        sandbox_project["project_id"],
        "a",
        {"stack": [], "storage": {}, "variables": {"x": 0, "y": 5}},
    )
    job = preload_for_users(environment, ops, ["a", "b"], {"x": 1})

    page = ops_client.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert (
        "<strong>under a minute</strong> at this project's budget of 100000 requests a minute"
        in page
    )
    preview = ops_client.get(
        reverse("job_preview", args=[job.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()

    assert preview.count('<tr class="changed">') == 2
    assert '<td class="value">0</td><td class="value">1</td>' in preview
    assert "No state yet" in preview
    stats = sandbox.stats(sandbox_project["api_key"])
    assert stats["by_route"] == {"state.get": 2}
    # Two users, two requests each, at the share of the budget a job may use (80% by default).
    assert bulk.estimated_duration_s(job) == pytest.approx(
        2 * 2 * 60 / (100_000 * budget.SAFETY_FACTOR * 0.8)
    )
