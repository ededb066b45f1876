"""Credentials are encrypted at rest, rotate to a new key, and fail closed without one."""

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection

from sessions_app.encryption import UndecryptableSecret, hint
from sessions_app.models import AuditEntry, Project

pytestmark = pytest.mark.production_path

API_KEY = "VF.DM.0123456789abcdef01234567.plaintextmustnotbestored42"
ACCESS_TOKEN = "vfp_plain_tokenthatmustnotbestored"
KEY_A, KEY_B, KEY_C = (Fernet.generate_key().decode() for _ in range(3))


def raw_secrets(project_id: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, access_token FROM sessions_app_project WHERE id = %s", [project_id]
        )
        return cursor.fetchone()


def make_project(**fields) -> Project:
    return Project.objects.create(
        name="Encrypted",
        voiceflow_project_id="0123456789abcdef01234567",
        api_key=API_KEY,
        access_token=ACCESS_TOKEN,
        **fields,
    )


@pytest.mark.django_db
def test_the_database_holds_no_plaintext_key_or_token(settings):
    settings.ENCRYPTION_KEYS = [KEY_A]
    project = make_project()

    stored_key, stored_token = raw_secrets(project.pk)

    assert API_KEY not in stored_key and "plaintextmustnotbestored" not in stored_key
    assert ACCESS_TOKEN not in stored_token
    assert Fernet(KEY_A).decrypt(stored_key.encode()).decode() == API_KEY
    assert Fernet(KEY_A).decrypt(stored_token.encode()).decode() == ACCESS_TOKEN
    assert Project.objects.get(pk=project.pk).api_key == API_KEY


@pytest.mark.django_db
def test_an_absent_token_is_stored_empty_not_encrypted(settings):
    settings.ENCRYPTION_KEYS = [KEY_A]
    project = Project.objects.create(name="No token", voiceflow_project_id="p", api_key=API_KEY)

    assert raw_secrets(project.pk)[1] == ""
    assert Project.objects.get(pk=project.pk).access_token == ""


@pytest.mark.django_db
def test_the_project_keeps_only_a_hint_in_clear():
    project = make_project()

    assert project.api_key_hint == "VF.DM.…ed42"
    assert project.access_token_hint == "vfp_…ored"
    assert hint("") == ""


@pytest.mark.django_db
def test_rotation_reencrypts_with_the_newest_key_and_old_ciphertexts_keep_decrypting(settings):
    settings.ENCRYPTION_KEYS = [KEY_A]
    project = make_project()
    before_key, before_token = raw_secrets(project.pk)

    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    # Before rotation the old ciphertext still decrypts under the new key list.
    assert Project.objects.get(pk=project.pk).api_key == API_KEY
    call_command("rotate_encryption_keys")

    after_key, after_token = raw_secrets(project.pk)
    assert after_key != before_key and after_token != before_token
    assert Fernet(KEY_B).decrypt(after_key.encode()).decode() == API_KEY
    with pytest.raises(InvalidToken):
        Fernet(KEY_A).decrypt(after_key.encode())
    rotated = AuditEntry.objects.get(action=AuditEntry.Action.KEYS_ROTATED)
    assert rotated.request_sent == {"projects_reencrypted": 1}
    assert API_KEY not in str(rotated.request_sent)

    settings.ENCRYPTION_KEYS = [KEY_B]
    reloaded = Project.objects.get(pk=project.pk)
    assert (reloaded.api_key, reloaded.access_token) == (API_KEY, ACCESS_TOKEN)


@pytest.mark.django_db
def test_a_secret_no_configured_key_decrypts_fails_closed_with_a_clear_error(settings):
    settings.ENCRYPTION_KEYS = [KEY_A]
    project = make_project()
    stored_key, _ = raw_secrets(project.pk)

    settings.ENCRYPTION_KEYS = [KEY_C]
    with pytest.raises(UndecryptableSecret) as raised:
        Project.objects.get(pk=project.pk)

    message = str(raised.value)
    assert "VOICEFLOW_ADMIN_ENCRYPTION_KEYS" in message
    assert stored_key not in message and API_KEY not in message


@pytest.mark.django_db
def test_rotation_without_the_old_key_stops_and_changes_nothing(settings):
    settings.ENCRYPTION_KEYS = [KEY_A]
    project = make_project()
    before = raw_secrets(project.pk)

    settings.ENCRYPTION_KEYS = [KEY_C]
    with pytest.raises(CommandError, match="VOICEFLOW_ADMIN_ENCRYPTION_KEYS"):
        call_command("rotate_encryption_keys")

    assert raw_secrets(project.pk) == before
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.KEYS_ROTATED).exists()
