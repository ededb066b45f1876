"""Encryption at rest for Voiceflow credentials.

A key list (newest first) in `VOICEFLOW_ADMIN_ENCRYPTION_KEYS`: the newest key encrypts, every key
decrypts, so keys can be rotated without downtime (`manage.py rotate_encryption_keys`). A value that
no key decrypts is an error, never a silent fallback to the stored text.
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class UndecryptableSecret(Exception):
    """A stored secret could not be decrypted with any configured key."""


@cache
def _keyring(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def keyring() -> MultiFernet:
    return _keyring(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return keyring().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return keyring().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise UndecryptableSecret(
            "A stored credential cannot be decrypted with the configured "
            "VOICEFLOW_ADMIN_ENCRYPTION_KEYS; was a key removed before rotation?"
        ) from exc


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the newest key (a no-op for values already under it, apart from the nonce)."""
    try:
        return keyring().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise UndecryptableSecret("A stored credential cannot be decrypted for rotation.") from exc


def hint(secret: str) -> str:
    """What may be shown of a secret: its public prefix and last four characters."""
    if not secret:
        return ""
    prefix = "VF.DM." if secret.startswith("VF.DM.") else secret[:4]
    return f"{prefix}…{secret[-4:]}"


class EncryptedTextField(models.TextField):
    """Holds ciphertext in the database and plaintext in Python; empty stays empty."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)
