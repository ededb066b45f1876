"""`manage.py session_state`: a conversation's state and ETag at the shell."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import run, run_json

from sessions_app.actions import fingerprint

STATE = {"stack": [{"diagramID": "root"}], "storage": {}, "variables": {"plan": "gold"}}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def customer(sandbox, environment) -> str:
    sandbox.set_state(environment.project.voiceflow_project_id, "a/b c", STATE)
    return "a/b c"


def test_it_prints_the_state_and_etag_as_json(environment, customer):
    status, body = run_json("session_state", "--environment", str(environment.pk), customer)

    assert status == 0
    assert body["state"] == STATE
    assert body["etag"] == fingerprint(STATE)


def test_it_finds_the_environment_by_project_and_label(environment, customer):
    label = f"{environment.project.name}/{environment.label}"

    status, printed = run("session_state", "--environment", label, customer)

    assert status == 0
    assert printed.startswith(f"ETag: {fingerprint(STATE)}")
    assert '"plan": "gold"' in printed


def test_an_unknown_environment_exits_5(db):
    status, body = run_json("session_state", "--environment", "Nope/Nothing", "u")

    assert status == 5
    assert body["error"]["code"] == "not_found"


def test_a_userid_voiceflow_would_refuse_exits_2(environment):
    status, body = run_json("session_state", "--environment", str(environment.pk), "x" * 14_337)

    assert status == 2
    assert body["error"]["code"] == "validation"


def test_voiceflow_failing_exits_4(clean_knobs, environment):
    clean_knobs.knobs(api_key=environment.project.api_key, failures={"mode": "5xx", "status": 503})

    status, body = run_json("session_state", "--environment", str(environment.pk), "u")

    assert status == 4
    assert body["error"]["code"] == "upstream_error"


def test_a_user_whose_role_does_not_allow_reading_exits_6(environment, outsider):
    status, _ = run(
        "session_state", "--environment", str(environment.pk), "--as-user", outsider.username, "u"
    )

    assert status == 6


def test_the_exit_status_reaches_the_shell(transactional_db, sandbox, environment, customer):
    from django.db import connection

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{Path(connection.settings_dict['NAME']).resolve()}",
    }
    found = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "session_state",
            "--environment",
            str(environment.pk),
            "--json",
            customer,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    missing = subprocess.run(
        [sys.executable, "manage.py", "session_state", "--environment", "999999", customer],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert found.returncode == 0, found.stderr
    assert '"plan": "gold"' in found.stdout
    assert missing.returncode == 5
    assert "No environment '999999'" in missing.stderr
    assert "Traceback" not in missing.stderr
