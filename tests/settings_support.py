"""Django in a fresh interpreter with exactly the given environment (no .env file), as
`make start`, gunicorn and the worker start it: for the tests of what settings resolve to."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent

FERNET_KEY = Fernet.generate_key().decode()
BASE_ENVIRONMENT = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/root"),
    "VOICEFLOW_ADMIN_ENV_FILE": os.devnull,
    "DJANGO_SETTINGS_MODULE": "voiceflow_admin.settings",
    "DJANGO_SECRET_KEY": "a-secret-key-only-these-tests-use",
    "VOICEFLOW_ADMIN_ENCRYPTION_KEYS": FERNET_KEY,
    "LOG_LEVEL": "WARNING",
}


def run_django(code: str, **variables: str | None) -> subprocess.CompletedProcess:
    """`code` run with BASE_ENVIRONMENT and `variables` (None removes one from it)."""
    environment = dict(BASE_ENVIRONMENT)
    for name, value in variables.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
