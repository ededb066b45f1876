"""`manage.py check --deploy` is clean under production settings, and they are what they claim."""

import json
import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/root"),
    "VOICEFLOW_ADMIN_ENV_FILE": os.devnull,
    "DJANGO_SETTINGS_MODULE": "voiceflow_admin.settings",
    # As long and random as `scripts/ensure_env.py` makes it, so the deploy check accepts it.
    "DJANGO_SECRET_KEY": "k3P9x-Qv7LrT2mZ8wYc4Nf6Hj1Sd5Gb0Ue-Xa9Ko3Vi7Rp2Lt8Mz4Wq6Ey1Cn5Bh0",
    "VOICEFLOW_ADMIN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "DJANGO_DEBUG": "0",
    "DJANGO_HTTPS": "1",
    "DJANGO_ALLOWED_HOSTS": "admin.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://admin.example.com",
    "LOG_LEVEL": "WARNING",
}


def manage(*args: str, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**PRODUCTION, **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_settings(**variables: str) -> dict:
    names = [
        "DEBUG",
        "ALLOWED_HOSTS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
    ]
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name, None) for name in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**PRODUCTION, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_a_production_setup_without_https():
    result = manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_HTTPS="0")

    assert result.returncode != 0
    assert "security.W012" in result.stderr  # SESSION_COOKIE_SECURE


def test_production_settings_turn_on_secure_cookies_redirects_and_hsts():
    resolved = production_settings()

    assert resolved["DEBUG"] is False
    assert resolved["ALLOWED_HOSTS"] == ["admin.example.com"]
    assert resolved["SESSION_COOKIE_SECURE"] and resolved["CSRF_COOKIE_SECURE"]
    assert resolved["SECURE_SSL_REDIRECT"]
    assert resolved["SECURE_HSTS_SECONDS"] == 31536000
    assert resolved["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert resolved["SECURE_HSTS_PRELOAD"] is False
    assert resolved["SECURE_PROXY_SSL_HEADER"] is None


def test_hsts_and_the_proxy_header_are_configurable():
    resolved = production_settings(
        DJANGO_HSTS_SECONDS="600", DJANGO_HSTS_PRELOAD="1", DJANGO_BEHIND_PROXY="1"
    )

    assert resolved["SECURE_HSTS_SECONDS"] == 600
    assert resolved["SECURE_HSTS_PRELOAD"] is True
    assert resolved["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
