"""Credentials never leave the server: no page, log line or audit row carries a key or token."""

import logging
import secrets

import pytest
from django.contrib.auth import get_user_model
from django.core import serializers
from django.db import connection
from django.test import Client
from django.urls import reverse

from sessions_app.actions import WriteContext, do_set_variables
from sessions_app.models import AuditEntry, Environment, Project
from sessions_app.roles import ensure_roles
from sessions_app.voiceflow import Unauthorized, UpstreamFailure, ValidationFailed, client_for

pytestmark = pytest.mark.production_path

# Distinctive enough that any appearance in a page, a log or a row is this key and nothing else.
KEY_SECRET_PART = "LeakCanaryKey" + secrets.token_hex(8)
TOKEN_SECRET_PART = "LeakCanaryToken" + secrets.token_hex(8)
REPLACEMENT_SECRET_PART = "LeakCanaryReplacement" + secrets.token_hex(8)


@pytest.fixture
def canary(db, sandbox) -> dict:
    """A project whose key the sandbox accepts, created through the project page."""
    project_id = secrets.token_hex(12)
    registration = {
        "project_id": project_id,
        "api_key": f"VF.DM.{project_id}.{KEY_SECRET_PART}",
        "access_token": f"vfp_{secrets.token_hex(4)}_{TOKEN_SECRET_PART}",
        "name": "Canary",
        "versions": {"development": secrets.token_hex(12), "production": secrets.token_hex(12)},
    }
    sandbox.control.post("/_sandbox/projects", json=registration).raise_for_status()
    return registration


@pytest.fixture
def staff_admin(db) -> Client:
    user = get_user_model().objects.create_user("ada-staff", password="x", is_staff=True)
    user.groups.add(ensure_roles()["Admin"])
    client = Client()
    client.force_login(user, backend="sessions_app.access.PermissionsBackend")
    return client


def create_through_the_page(client: Client, canary: dict, sandbox) -> Project:
    page = client.get(reverse("project_create"))
    management = page.context["environments"].management_form
    data = {field.html_name: field.value() for field in management}
    data |= {
        "name": "Canary",
        "voiceflow_project_id": canary["project_id"],
        "runtime_url": sandbox.url,
        "realtime_url": sandbox.url,
        "analytics_url": sandbox.url,
        "state_api": "legacy",
        "budget_per_minute": "100000",
        "api_key": canary["api_key"],
        "access_token": canary["access_token"],
        "environments-0-label": "Development",
        "environments-0-version_id": "development",
        "environments-0-alias": "main",
        "environments-0-realtime_version": "draft",
        "environments-0-badge": "green",
    }
    response = client.post(reverse("project_create"), data)
    assert response.status_code == 302
    return Project.objects.get(name="Canary")


def forbidden_strings(project: Project) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, access_token FROM sessions_app_project WHERE id = %s", [project.pk]
        )
        ciphertexts = list(cursor.fetchone())
    return [KEY_SECRET_PART, TOKEN_SECRET_PART, REPLACEMENT_SECRET_PART, *ciphertexts]


def assert_clean(text: str, forbidden: list[str], where: str) -> None:
    for secret in forbidden:
        assert secret not in text, f"a secret appears in {where}"


def test_no_page_shows_a_key_or_token_not_even_after_a_validation_error(
    staff_admin, canary, sandbox
):
    project = create_through_the_page(staff_admin, canary, sandbox)
    environment = project.environments.get()
    forbidden = forbidden_strings(project)
    edit_url = reverse("project_edit", args=[project.pk])
    edit_page = staff_admin.get(edit_url)
    failed_edit = {
        field.html_name: field.value()
        for form in (
            edit_page.context["form"],
            edit_page.context["environments"].management_form,
            *edit_page.context["environments"].forms,
        )
        for field in form
        if field.value() is not None
    } | {
        "api_key": f"VF.DM.{canary['project_id']}.{REPLACEMENT_SECRET_PART}",
        "budget_per_minute": "0",
    }

    pages = {
        "home": staff_admin.get(reverse("home")),
        "project list": staff_admin.get(reverse("projects")),
        "edit page": edit_page,
        "edit refused": staff_admin.post(edit_url, failed_edit),
        "delete confirmation": staff_admin.get(reverse("project_delete", args=[project.pk])),
        "test connection": staff_admin.post(
            reverse("environment_test_connection", args=[environment.pk]), follow=True
        ),
        "admin project list": staff_admin.get(reverse("admin:sessions_app_project_changelist")),
        "admin project page": staff_admin.get(
            reverse("admin:sessions_app_project_change", args=[project.pk])
        ),
        "admin environment page": staff_admin.get(
            reverse("admin:sessions_app_environment_change", args=[environment.pk])
        ),
    }

    assert "Connected:" in pages["test connection"].content.decode()
    assert "greater than or equal to 1" in pages["edit refused"].content.decode()
    for where, response in pages.items():
        assert response.status_code == 200, where
        assert_clean(response.content.decode(), forbidden, where)
    assert Project.objects.get(pk=project.pk).api_key == canary["api_key"]


def test_no_log_line_carries_a_key_or_token(staff_admin, canary, sandbox, caplog, clean_knobs):
    for name in ("", "httpx", "httpcore", "django", "sessions_app"):
        caplog.set_level(logging.DEBUG, logger=name)
    project = create_through_the_page(staff_admin, canary, sandbox)
    environment = project.environments.get()
    client = client_for(environment)
    errors: list[str] = []

    client.update_variables("logged-user", {"a": 1})
    client.get_state("logged-user")
    client.interact("logged-user", {"type": "launch"}, verbose=True)
    session_key = client.start_session("logged-user", environment.alias)
    list(client.stream_v4(session_key, {"type": "launch"}))
    with pytest.raises(ValidationFailed) as refused:
        client.replace_state("logged-user", {"stack": [{}], "storage": {}, "variables": {}})
    errors.append(refused.value.message)
    clean_knobs.knobs(
        api_key=canary["api_key"], failures={"mode": "5xx", "status": 500, "count": 1}
    )
    with pytest.raises(UpstreamFailure) as failed:
        client.get_state("logged-user")
    errors.append(failed.value.message)
    staff_admin.post(reverse("environment_test_connection", args=[environment.pk]))
    Project.objects.filter(pk=project.pk).update(
        api_key=f"VF.DM.{canary['project_id']}.{REPLACEMENT_SECRET_PART}"
    )
    environment.refresh_from_db()
    with pytest.raises(Unauthorized) as unauthorized:
        client_for(environment).get_state("logged-user")
    errors.append(unauthorized.value.message)
    staff_admin.post(reverse("environment_test_connection", args=[environment.pk]))

    assert any("HTTP Request" in record.getMessage() for record in caplog.records), (
        "httpx logged nothing: the capture is not looking at the client's requests"
    )
    forbidden = forbidden_strings(project)
    assert_clean(caplog.text, forbidden, "the log")
    for message in errors:
        assert_clean(message, forbidden, "an error message")


def test_no_audit_row_carries_a_key_or_token(staff_admin, canary, sandbox, admin_user):
    project = create_through_the_page(staff_admin, canary, sandbox)
    edit_url = reverse("project_edit", args=[project.pk])
    edit_page = staff_admin.get(edit_url)
    data = {
        field.html_name: field.value()
        for form in (
            edit_page.context["form"],
            edit_page.context["environments"].management_form,
            *edit_page.context["environments"].forms,
        )
        for field in form
        if field.value() is not None
    }
    staff_admin.post(
        edit_url, data | {"api_key": f"VF.DM.{canary['project_id']}.{REPLACEMENT_SECRET_PART}"}
    )
    Project.objects.filter(pk=project.pk).update(api_key=canary["api_key"])
    environment = Environment.objects.get(project=project)
    do_set_variables(
        environment,
        "audited-user",
        {"plan": "gold"},
        context=WriteContext(actor=admin_user, source="page"),
    )
    staff_admin.post(reverse("project_delete", args=[project.pk]))

    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert actions >= {
        AuditEntry.Action.PROJECT_CREATED,
        AuditEntry.Action.CREDENTIALS_CHANGED,
        AuditEntry.Action.SET_VARIABLES,
        AuditEntry.Action.PROJECT_DELETED,
    }
    rows = serializers.serialize("json", AuditEntry.objects.all())
    assert_clean(
        rows, [KEY_SECRET_PART, TOKEN_SECRET_PART, REPLACEMENT_SECRET_PART], "the audit trail"
    )
