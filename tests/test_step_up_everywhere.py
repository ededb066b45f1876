"""Every high-impact change asks for the password on every surface and is audited: Django admin's
set-password form and its "delete selected" action, and the API's environment changes over a
browser session (token-authenticated scripts keep working without it)."""

import time

import pytest
from api_support import error_of, session_client, token_client
from django.urls import reverse
from persona_support import PASSWORD
from step_up_support import confirm_url

from sessions_app.models import AuditEntry, Environment, Project
from sessions_app.step_up import SESSION_KEY

pytestmark = pytest.mark.production_path

NEW_PASSWORD = "a brand new passphrase 9917"


def stale(client):
    session = client.session
    session[SESSION_KEY] = time.time() - 3600
    session.save()
    return client


@pytest.fixture
def superuser(admin_user):
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    return admin_user


def set_password_form(client, account):
    url = reverse("admin:auth_user_password_change", args=[account.pk])
    return url, client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})


# ---- Django admin's set-password form ----


@pytest.mark.parametrize("whose", ["another user's", "a superuser's own"])
def test_setting_a_password_in_django_admin_needs_the_password_first(
    client_for_user, superuser, outsider, whose
):
    account = outsider if whose == "another user's" else superuser
    client = stale(client_for_user(superuser))

    url, response = set_password_form(client, account)

    assert response.status_code == 302
    assert response["Location"] == confirm_url(url)
    account.refresh_from_db()
    assert account.check_password(PASSWORD)
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.PASSWORD_CHANGED).exists()


def test_setting_a_password_in_django_admin_is_audited(client_for_user, superuser, outsider):
    client = client_for_user(superuser)  # signed in just now: confirmed

    _, response = set_password_form(client, outsider)

    assert response.status_code == 302
    outsider.refresh_from_db()
    assert outsider.check_password(NEW_PASSWORD)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PASSWORD_CHANGED)
    assert (entry.actor, entry.source) == (superuser, AuditEntry.Source.ADMIN)
    assert entry.request_sent["user"] == outsider.get_username()
    assert NEW_PASSWORD not in str(entry.request_sent)


# ---- Django admin's "delete selected" ----


def test_deleting_selected_projects_in_django_admin_needs_the_password(
    client_for_user, superuser, environment
):
    client = stale(client_for_user(superuser))
    url = reverse("admin:sessions_app_project_changelist")
    selected = {"action": "delete_selected", "_selected_action": [environment.project_id]}

    asked = client.post(url, selected)
    confirmed_anyway = client.post(url, {**selected, "post": "yes"})

    assert asked.status_code == 302
    assert asked["Location"] == confirm_url(url)
    assert confirmed_anyway["Location"] == confirm_url(url)
    assert Project.objects.filter(pk=environment.project_id).exists()


def test_deleting_selected_projects_after_the_step_up_is_audited(
    client_for_user, superuser, environment
):
    client = client_for_user(superuser)
    url = reverse("admin:sessions_app_project_changelist")

    client.post(
        url,
        {"action": "delete_selected", "_selected_action": [environment.project_id], "post": "yes"},
    )

    assert not Project.objects.filter(pk=environment.project_id).exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PROJECT_DELETED)
    assert entry.source == AuditEntry.Source.ADMIN


# ---- the API over a browser session ----


def test_a_browser_session_must_confirm_before_adding_an_environment(admin_user, project):
    body = {"project": project.pk, "label": "Staging", "version_id": "staging"}

    response = stale(session_client(admin_user)).post("/api/v1/environments", body, format="json")

    assert response.status_code == 403
    assert error_of(response)["code"] == "step_up_required"
    assert not Environment.objects.filter(label="Staging").exists()


def test_a_browser_session_must_confirm_before_clearing_is_production(
    admin_user, production_environment
):
    response = stale(session_client(admin_user)).patch(
        f"/api/v1/environments/{production_environment.pk}",
        {"is_production": False},
        format="json",
    )

    assert response.status_code == 403
    assert error_of(response)["code"] == "step_up_required"
    production_environment.refresh_from_db()
    assert production_environment.is_production


def test_a_browser_session_must_confirm_before_deleting_an_environment(admin_user, environment):
    response = stale(session_client(admin_user)).delete(f"/api/v1/environments/{environment.pk}")

    assert response.status_code == 403
    assert Environment.objects.filter(pk=environment.pk).exists()


def test_a_token_changes_environments_without_a_confirmation(admin_user, production_environment):
    client = token_client(admin_user)

    added = client.post(
        "/api/v1/environments",
        {"project": production_environment.project_id, "label": "Staging", "version_id": "staging"},
        format="json",
    )
    cleared = client.patch(
        f"/api/v1/environments/{production_environment.pk}",
        {"is_production": False},
        format="json",
    )

    assert added.status_code == 201
    assert cleared.status_code == 200
    production_environment.refresh_from_db()
    assert not production_environment.is_production
