"""A changed password revokes the account's API tokens, on every surface (the Password page,
Django admin's set-password form, `manage.py changepassword`), audited, and the page says so. A
password re-hash at sign-in is no change."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from knox.models import AuthToken
from persona_support import PASSWORD

from sessions_app.account_actions import do_create_token
from sessions_app.models import AuditEntry

pytestmark = pytest.mark.production_path

NEW_PASSWORD = "a brand new passphrase 9917"


@pytest.fixture
def token_of_viewer(viewer):
    _, plain = do_create_token(viewer, expires_in_days=None, source="page")
    return plain


def answers(token: str) -> int:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/projects").status_code


def test_changing_ones_password_on_the_page_revokes_ones_tokens(
    client_for_user, viewer, token_of_viewer
):
    assert answers(token_of_viewer) == 200
    client = client_for_user(viewer)

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    assert "your API tokens were revoked" in response.content.decode()
    assert answers(token_of_viewer) == 401
    assert not AuthToken.objects.filter(user=viewer).exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PASSWORD_CHANGED)
    assert (entry.actor, entry.source) == (viewer, AuditEntry.Source.PAGE)
    assert entry.request_sent == {"user": viewer.get_username(), "tokens_revoked": 1}


def test_the_password_page_says_tokens_are_revoked(client_for_user, viewer):
    page = client_for_user(viewer).get(reverse("password_change")).content.decode()

    assert "Your API tokens are revoked" in page


def test_setting_a_password_in_django_admin_revokes_the_tokens(
    client_for_user, admin_user, viewer, token_of_viewer
):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()

    client_for_user(admin_user).post(
        reverse("admin:auth_user_password_change", args=[viewer.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert answers(token_of_viewer) == 401
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PASSWORD_CHANGED)
    assert (entry.actor, entry.source) == (admin_user, AuditEntry.Source.ADMIN)


def test_changepassword_at_the_shell_revokes_the_tokens(viewer, token_of_viewer, monkeypatch):
    # changepassword reads the new password twice from the terminal.
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)

    call_command("changepassword", viewer.get_username())

    assert answers(token_of_viewer) == 401
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PASSWORD_CHANGED)
    assert (entry.actor, entry.source) == (None, AuditEntry.Source.CLI)


def test_signing_in_keeps_the_tokens(viewer, token_of_viewer, settings):
    # A sign-in that re-hashes the password (here: after a hasher change) changes nothing.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]
    user = get_user_model().objects.get(pk=viewer.pk)
    assert user.check_password(PASSWORD)

    assert answers(token_of_viewer) == 200
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.PASSWORD_CHANGED).exists()


def test_other_saves_of_the_account_keep_the_tokens(viewer, token_of_viewer):
    viewer.email = "vera@example.org"
    viewer.save()

    assert answers(token_of_viewer) == 200
