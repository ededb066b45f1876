"""Administrative actions leave audit rows: API tokens created and revoked, roles and privilege
flags granted and revoked in Django admin, the demo project registered by `bootstrap`."""

import io

import pytest
from api_support import session_client
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse
from knox.models import AuthToken
from persona_support import PASSWORD
from rest_framework.test import APIClient

from sessions_app.models import AuditEntry
from sessions_app.sandbox_registration import DEMO_PROJECT_NAME


def columns_text(entry: AuditEntry) -> str:
    return " ".join(
        str(getattr(entry, field.attname)) for field in AuditEntry._meta.concrete_fields
    )


# ---- API tokens ----


def test_creating_a_token_on_the_page_is_audited_without_the_token(client_for_user, viewer):
    client = client_for_user(viewer)
    client.post(reverse("api_tokens"), {"expires_in_days": "30"})
    shown = client.get(reverse("api_tokens")).context["created_token"]

    entry = AuditEntry.objects.get(action=AuditEntry.Action.TOKEN_CREATED)

    token = AuthToken.objects.get(user=viewer)
    assert (entry.actor, entry.source) == (viewer, AuditEntry.Source.PAGE)
    assert entry.request_sent == {"prefix": token.token_key, "expires_in_days": 30}
    assert shown not in columns_text(entry)


def test_creating_a_token_over_the_api_is_audited_without_the_token(viewer):
    response = APIClient().post(
        "/api/v1/tokens", {"username": viewer.username, "password": PASSWORD}, format="json"
    )

    entry = AuditEntry.objects.get(action=AuditEntry.Action.TOKEN_CREATED)

    assert (entry.actor, entry.source) == (viewer, AuditEntry.Source.API)
    assert response.json()["token"] not in columns_text(entry)


def test_revoking_a_token_is_audited(client_for_user, viewer):
    token, _ = AuthToken.objects.create(viewer, expiry=None)

    client_for_user(viewer).post(reverse("api_token_revoke", args=[token.token_key]))
    session_client(viewer).delete(f"/api/v1/tokens/{token.token_key}")

    revoked = AuditEntry.objects.filter(action=AuditEntry.Action.TOKEN_REVOKED)
    assert [(entry.source, entry.request_sent) for entry in revoked] == [
        (AuditEntry.Source.PAGE, {"prefix": token.token_key})
    ]


def test_revoking_somebody_elses_token_is_not_recorded_as_a_revocation(
    client_for_user, viewer, support
):
    token, _ = AuthToken.objects.create(support, expiry=None)

    client_for_user(viewer).post(reverse("api_token_revoke", args=[token.token_key]))

    assert not AuditEntry.objects.filter(action=AuditEntry.Action.TOKEN_REVOKED).exists()
    assert AuthToken.objects.filter(pk=token.pk).exists()


# ---- roles in Django admin ----


@pytest.fixture
def superuser_client(client_for_user, admin_user):
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    return client_for_user(admin_user)


def user_form(client, user, **changes) -> dict:
    url = f"/django-admin/auth/user/{user.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if name in ("password",) or value is None:
            continue
        if name in ("groups", "user_permissions"):
            data[name] = [item.pk if hasattr(item, "pk") else item for item in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif name in ("last_login", "date_joined"):
            data[f"{name}_0"] = value.strftime("%Y-%m-%d")
            data[f"{name}_1"] = value.strftime("%H:%M:%S")
        else:
            data[name] = value
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_granting_a_role_in_django_admin_is_audited(superuser_client, outsider, admin_user):
    ops_role = Group.objects.get(name="Ops")
    url = f"/django-admin/auth/user/{outsider.pk}/change/"

    response = superuser_client.post(
        url, user_form(superuser_client, outsider, groups=[ops_role.pk], is_staff="on")
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGED)
    assert (entry.actor, entry.source) == (admin_user, AuditEntry.Source.ADMIN)
    assert entry.request_sent == {
        "user": outsider.username,
        "groups_granted": ["Ops"],
        "flags": {"is_staff": True},
    }


def test_revoking_a_role_and_a_permission_in_django_admin_is_audited(superuser_client, support):
    permission = Permission.objects.get(codename="view_audit")
    support.user_permissions.add(permission)

    superuser_client.post(
        f"/django-admin/auth/user/{support.pk}/change/",
        user_form(superuser_client, support, groups=[], user_permissions=[]),
    )

    entry = AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGED)
    assert entry.request_sent == {
        "user": support.username,
        "groups_revoked": ["Support"],
        "permissions_revoked": ["sessions_app.view_audit"],
    }


def test_saving_a_user_without_changing_access_records_nothing(superuser_client, support):
    superuser_client.post(
        f"/django-admin/auth/user/{support.pk}/change/",
        user_form(superuser_client, support, first_name="Sam"),
    )

    assert not AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGED).exists()


def test_deleting_a_user_with_a_role_is_audited_as_a_revocation(superuser_client, ops):
    superuser_client.post(f"/django-admin/auth/user/{ops.pk}/delete/", {"post": "yes"})

    entry = AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGED)
    assert entry.request_sent == {
        "user": ops.username,
        "groups_revoked": ["Ops"],
        "flags": {"is_active": False},
    }


def test_changing_a_roles_permissions_is_audited(superuser_client, viewer):
    viewer_role = Group.objects.get(name="Viewer")
    extra = Permission.objects.get(codename="reset_session")
    kept = list(viewer_role.permissions.values_list("pk", flat=True))

    superuser_client.post(
        f"/django-admin/auth/group/{viewer_role.pk}/change/",
        {"name": "Viewer", "permissions": [*kept, extra.pk]},
    )

    entry = AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGED)
    assert entry.request_sent == {"role": "Viewer", "permissions_granted": ["reset_session"]}


# ---- bootstrap ----


def test_bootstrap_audits_the_demo_project_it_registers(db, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    call_command("bootstrap", stdout=io.StringIO())
    call_command("bootstrap", stdout=io.StringIO())

    entry = AuditEntry.objects.get(action=AuditEntry.Action.PROJECT_CREATED)
    assert (entry.project_name, entry.source, entry.actor) == (
        DEMO_PROJECT_NAME,
        AuditEntry.Source.CLI,
        None,
    )
    assert "api_key" in entry.request_sent["fields"]
