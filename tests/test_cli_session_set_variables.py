"""`manage.py session_set_variables`: merge variables from the shell, audited with source cli."""

import pytest
from cli_support import run, run_json

from sessions_app.actions import fingerprint
from sessions_app.models import AuditEntry

STATE = {"stack": [{"diagramID": "root"}], "storage": {}, "variables": {"plan": "gold", "n": 1}}


@pytest.fixture
def customer(sandbox, environment) -> str:
    sandbox.set_state(environment.project.voiceflow_project_id, "c-1", STATE)
    return "c-1"


def variables_of(sandbox, environment, user_id: str) -> dict:
    return sandbox.state(environment.project.voiceflow_project_id, user_id)["variables"]


def test_it_merges_and_audits_as_the_named_user(sandbox, environment, customer, support):
    status, body = run_json(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        customer,
        '{"plan": "pro"}',
    )

    assert status == 0
    assert variables_of(sandbox, environment, customer) == {"plan": "pro", "n": 1}
    entry = AuditEntry.objects.get(pk=body["audit_entry"])
    assert (entry.source, entry.actor, entry.action) == ("cli", support, "set_variables")


def test_it_reads_the_variables_from_stdin(sandbox, environment, customer, support, monkeypatch):
    status, _ = run(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        customer,
        "-",
        stdin='{"n": 2}',
        monkeypatch=monkeypatch,
    )

    assert status == 0
    assert variables_of(sandbox, environment, customer)["n"] == 2


def test_a_dry_run_shows_the_change_and_sends_nothing(sandbox, environment, customer, support):
    status, body = run_json(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        customer,
        '{"plan": "pro", "n": 1}',
        "--dry-run",
    )

    assert status == 0
    assert body["changes"] == {"plan": {"before": "gold", "after": "pro"}}
    assert variables_of(sandbox, environment, customer) == STATE["variables"]
    assert not AuditEntry.objects.exists()


def test_a_stale_if_match_exits_3_and_changes_nothing(sandbox, environment, customer, support):
    status, body = run_json(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        customer,
        '{"plan": "pro"}',
        "--if-match",
        '"stale"',
    )

    assert status == 3
    assert body["error"]["code"] == "precondition_failed"
    assert body["error"]["details"]["etag"] == fingerprint(STATE)
    assert variables_of(sandbox, environment, customer) == STATE["variables"]


def test_a_current_if_match_goes_through(sandbox, environment, customer, support):
    status, _ = run(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        customer,
        '{"plan": "pro"}',
        "--if-match",
        f'"{fingerprint(STATE)}"',
    )

    assert status == 0


@pytest.mark.parametrize("variables", ["{not json", "[1]", "{}"])
def test_bad_variables_exit_2(sandbox, environment, customer, support, variables):
    status, body = run_json(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        customer,
        variables,
    )

    assert status == 2
    assert body["error"]["code"] == "validation"
    assert variables_of(sandbox, environment, customer) == STATE["variables"]


def test_a_viewer_may_not_set_variables(sandbox, environment, customer, viewer):
    status, body = run_json(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        viewer.username,
        customer,
        '{"plan": "pro"}',
    )

    assert status == 6
    assert body["error"]["code"] == "permission_denied"
    assert variables_of(sandbox, environment, customer) == STATE["variables"]


def test_an_unknown_user_exits_2(environment, customer):
    status, _ = run(
        "session_set_variables",
        "--environment",
        str(environment.pk),
        "--as-user",
        "nobody",
        customer,
        '{"plan": "pro"}',
    )

    assert status == 2
