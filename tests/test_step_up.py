"""Step-up confirmation: credential and role changes, reset jobs and large preloads need the
password entered within STEP_UP_MINUTES, in this browser session."""

import time

import pytest
from api_support import error_of, session_client, token_client
from bulk_support import preload_for_users, reset_users
from django.urls import reverse
from knox.models import AuthToken
from persona_support import PASSWORD
from step_up_support import confirm_url, confirmed_minutes_ago

from sessions_app.models import BulkJob, Project
from sessions_app.step_up import SESSION_KEY

API_KEY = "VF.DM.0123456789abcdef01234567.originalKeyOriginalKey01"


@pytest.fixture
def stale_ops(client_for_user, ops):
    client = client_for_user(ops)
    confirmed_minutes_ago(client, 60)
    return client


# ---- pages ----


@pytest.mark.parametrize("name, needs_pk", [("project_create", False), ("project_edit", True)])
def test_a_credential_page_asks_for_the_password_first(stale_admin, environment, name, needs_pk):
    url = reverse(name, args=[environment.project_id] if needs_pk else [])

    response = stale_admin.get(url)

    assert response.status_code == 302
    assert response["Location"] == confirm_url(url)


def test_a_stale_post_changes_nothing_and_leads_back_to_the_form(stale_admin):
    response = stale_admin.post(
        reverse("project_create"),
        {"name": "Unconfirmed", "voiceflow_project_id": "x", "api_key": API_KEY},
    )

    assert response["Location"] == confirm_url(reverse("project_create"))
    assert not Project.objects.filter(name="Unconfirmed").exists()
    warning = [str(m) for m in stale_admin.get(response["Location"]).context["messages"]]
    assert any("Nothing was done yet" in text for text in warning)


def test_deleting_a_project_needs_the_password(stale_admin, environment):
    response = stale_admin.post(reverse("project_delete", args=[environment.project_id]))

    assert response.status_code == 302
    assert Project.objects.filter(pk=environment.project_id).exists()


def test_the_right_password_returns_the_operator_to_the_action(stale_admin):
    response = stale_admin.post(
        reverse("step_up"), {"password": PASSWORD, "next": reverse("project_create")}
    )

    assert response["Location"] == reverse("project_create")
    assert stale_admin.get(reverse("project_create")).status_code == 200


def test_a_wrong_password_confirms_nothing(stale_admin):
    response = stale_admin.post(
        reverse("step_up"), {"password": "not it", "next": reverse("project_create")}
    )

    assert response.status_code == 400
    assert "That password is not right" in response.content.decode()
    assert stale_admin.get(reverse("project_create")).status_code == 302


def test_wrong_passwords_count_towards_the_sign_in_lockout(stale_admin, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        stale_admin.post(reverse("step_up"), {"password": "not it"})

    response = stale_admin.post(reverse("step_up"), {"password": PASSWORD})

    assert response.status_code == 429
    assert stale_admin.get(reverse("project_create")).status_code == 302


def test_it_never_returns_the_operator_to_another_site(stale_admin):
    response = stale_admin.post(
        reverse("step_up"), {"password": PASSWORD, "next": "https://evil.example/phish"}
    )

    assert response["Location"] == reverse("home")


def test_a_confirmation_lasts_step_up_minutes(client_for_user, admin_user, settings):
    client = client_for_user(admin_user)
    confirmed_minutes_ago(client, 5)

    settings.STEP_UP_MINUTES = 10
    assert client.get(reverse("project_create")).status_code == 200
    settings.STEP_UP_MINUTES = 4
    assert client.get(reverse("project_create")).status_code == 302


def test_signing_in_with_the_password_counts_as_a_confirmation(admin_user, client):
    client.post(reverse("login"), {"username": admin_user.username, "password": PASSWORD})

    assert client.get(reverse("project_create")).status_code == 200


def test_a_confirmation_belongs_to_its_browser_session(client_for_user, admin_user):
    confirmed = client_for_user(admin_user)
    other = client_for_user(admin_user)
    confirmed_minutes_ago(other, 60)
    confirmed.post(reverse("step_up"), {"password": PASSWORD})

    assert other.get(reverse("project_create")).status_code == 302


def test_creating_an_api_token_needs_the_password(client_for_user, viewer):
    client = client_for_user(viewer)
    confirmed_minutes_ago(client, 60)

    response = client.post(reverse("api_tokens"), {"expires_in_days": "30"})

    assert response["Location"] == confirm_url(reverse("api_tokens"))
    assert not AuthToken.objects.filter(user=viewer).exists()


def test_starting_a_reset_job_needs_the_password(stale_ops, production_environment, ops):
    job = reset_users(production_environment, ops, ["a", "b"])

    response = stale_ops.post(reverse("job_start", args=[job.pk]), {"confirm_production": "on"})

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="step-up-continue"' in page
    assert f'action="{reverse("job_start", args=[job.pk])}"' in page
    assert '<input type="hidden" name="confirm_production" value="on">' in page
    job.refresh_from_db()
    assert job.status == BulkJob.Status.DRAFT


def test_after_the_password_the_job_starts_with_the_choices_already_made(
    stale_ops, production_environment, ops
):
    job = reset_users(production_environment, ops, ["a", "b"])

    response = stale_ops.post(
        reverse("job_start", args=[job.pk]),
        {"confirm_production": "on", "step_up_password": PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("job_detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == BulkJob.Status.QUEUED
    assert job.started_by == ops
    assert time.time() - stale_ops.session[SESSION_KEY] < 60  # confirmed for what comes next


def test_a_wrong_password_starts_nothing_and_asks_again(stale_ops, environment, ops):
    job = reset_users(environment, ops, ["a"])

    response = stale_ops.post(
        reverse("job_start", args=[job.pk]), {"step_up_password": "not-the-password"}
    )

    assert response.status_code == 400
    assert "That password is not right." in response.content.decode()
    job.refresh_from_db()
    assert job.status == BulkJob.Status.DRAFT


def test_a_small_preload_starts_without_asking(stale_ops, environment, ops, settings):
    settings.STEP_UP_PRELOAD_THRESHOLD = 3
    job = preload_for_users(environment, ops, ["a", "b", "c"], {"tier": "gold"})

    stale_ops.post(reverse("job_start", args=[job.pk]))

    job.refresh_from_db()
    assert job.status == BulkJob.Status.QUEUED


def test_a_preload_above_the_threshold_needs_the_password(stale_ops, environment, ops, settings):
    settings.STEP_UP_PRELOAD_THRESHOLD = 3
    job = preload_for_users(environment, ops, ["a", "b", "c", "d"], {"tier": "gold"})

    response = stale_ops.post(reverse("job_start", args=[job.pk]))

    assert 'id="step-up-continue"' in response.content.decode()
    job.refresh_from_db()
    assert job.status == BulkJob.Status.DRAFT


def test_django_admin_user_pages_need_the_password(client_for_user, admin_user, outsider):
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    client = client_for_user(admin_user)
    confirmed_minutes_ago(client, 60)
    url = f"/django-admin/auth/user/{outsider.pk}/change/"

    response = client.get(url)

    assert response["Location"] == confirm_url(url)


# ---- the API: browser sessions are asked, tokens are not ----


def stale_session(user):
    client = session_client(user)
    session = client.session
    session[SESSION_KEY] = time.time() - 3600
    session.save()
    return client


def new_project(sandbox) -> dict:
    return {
        "name": "Via API",
        "voiceflow_project_id": "0123456789abcdef01234567",
        "runtime_url": sandbox.url,
        "api_key": API_KEY,
    }


def test_a_browser_session_must_confirm_before_creating_a_project(admin_user, sandbox):
    response = stale_session(admin_user).post(
        "/api/v1/projects", new_project(sandbox), format="json"
    )

    assert response.status_code == 403
    assert error_of(response)["code"] == "step_up_required"
    assert not Project.objects.exists()


def test_a_token_creates_a_project_without_a_confirmation(admin_user, sandbox):
    response = token_client(admin_user).post(
        "/api/v1/projects", new_project(sandbox), format="json"
    )

    assert response.status_code == 201


def test_a_browser_session_must_confirm_before_starting_a_reset(ops, environment):
    job = reset_users(environment, ops, ["a"])

    response = stale_session(ops).post(f"/api/v1/jobs/{job.pk}/start", {}, format="json")

    assert response.status_code == 403
    assert error_of(response)["code"] == "step_up_required"
    job.refresh_from_db()
    assert job.status == BulkJob.Status.DRAFT


def test_a_browser_session_must_confirm_before_creating_a_token(viewer):
    response = stale_session(viewer).post("/api/v1/tokens", {}, format="json")

    assert response.status_code == 403
    assert error_of(response)["code"] == "step_up_required"
    assert not AuthToken.objects.filter(user=viewer).exists()


# ---- the whole flow in a real browser ----


@pytest.mark.browser
def test_the_operator_confirms_and_lands_back_on_the_project_form(page, admin_user, live_server):
    from importlib import import_module

    from browser_support import sign_in
    from django.conf import settings as django_settings

    sign_in(page, admin_user)
    session_key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    store = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    store[SESSION_KEY] = time.time() - 3600
    store.save()

    page.goto("/projects/new")
    assert page.locator("h1").inner_text() == "Confirm your password"
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Confirm and continue").click()
    page.wait_for_load_state()

    assert page.url == f"{live_server.url}/projects/new"
    assert page.locator("#id_name").is_visible()
