"""Every management command exits non-zero on an error, as the shell sees it (`manage.py` in a
process of its own), with a message and no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sessions_app.management.commands import __file__ as commands_init

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = sorted(
    path.stem for path in Path(commands_init).parent.glob("*.py") if path.stem != "__init__"
)


def shell(*args: str, **env: str) -> subprocess.CompletedProcess:
    from django.db import connection

    database = Path(connection.settings_dict["NAME"]).resolve()
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{database}", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def failing_case(command: str, environment, tmp_path) -> tuple[list[str], dict]:
    """The arguments and environment of a run of `command` that must fail."""
    ids = tmp_path / "ids.txt"
    ids.write_text("customer-1\n")
    unknown_user = ["--environment", str(environment.pk), "--as-user", "olga"]
    return {
        "session_state": (["session_state", *unknown_user, "customer-1"], {}),
        "session_set_variables": (
            ["session_set_variables", *unknown_user, "customer-1", '{"coupon": null}', "--dry-run"],
            {},
        ),
        "session_reset": (["session_reset", *unknown_user, "customer-1", "--dry-run"], {}),
        "bulk_job": (["bulk_job", *unknown_user, "--kind", "reset", str(ids), "--follow"], {}),
        "bulk_job_control": (["bulk_job_control", "--as-user", "olga", "cancel", "1"], {}),
        # The stored key was encrypted with a key no longer configured.
        "rotate_encryption_keys": (
            ["rotate_encryption_keys"],
            {"VOICEFLOW_ADMIN_ENCRYPTION_KEYS": Fernet.generate_key().decode()},
        ),
        "bootstrap": (["bootstrap", "--no-demo", "--admin-username", ""], {}),
        "segment_job": (["segment_job", *unknown_user, "high-value", "--run"], {}),
        # A size below zero seeds nothing.
        "seed_scale_data": (["seed_scale_data", "--job-items", "-1"], {}),
        # A database nobody migrated.
        "setup_roles": (["setup_roles"], {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}),
    }[command]


def test_every_command_has_a_failing_case_here():
    assert (
        sorted(
            [
                "bootstrap",
                "bulk_job",
                "bulk_job_control",
                "rotate_encryption_keys",
                "seed_scale_data",
                "segment_job",
                "session_reset",
                "session_set_variables",
                "session_state",
                "setup_roles",
            ]
        )
        == COMMANDS
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_failing_run_exits_non_zero_with_a_message_and_no_traceback(
    command, transactional_db, project, environment, tmp_path
):
    args, env = failing_case(command, environment, tmp_path)
    if command == "bootstrap":
        # Only the very first run creates an account, with the name given.
        from django.contrib.auth import get_user_model

        get_user_model().objects.all().delete()

    finished = shell(*args, **env)

    assert finished.returncode != 0, (finished.stdout, finished.stderr)
    assert "Traceback" not in finished.stderr, finished.stderr
    assert finished.stderr.strip(), "the failure is explained"
