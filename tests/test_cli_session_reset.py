"""`manage.py session_reset`: reset from the shell, audited with source cli."""

import pytest
from cli_support import run, run_json

from sessions_app.models import AuditEntry

STATE = {"stack": [{"diagramID": "root"}], "storage": {}, "variables": {"plan": "gold"}}


@pytest.fixture
def customer(sandbox, project) -> str:
    sandbox.set_state(project.voiceflow_project_id, "r-1", STATE)
    return "r-1"


def remote(sandbox, environment, user_id):
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


def test_it_resets_and_keeps_the_state_before(sandbox, environment, customer, ops):
    status, body = run_json(
        "session_reset", "--environment", str(environment.pk), "--as-user", ops.username, customer
    )

    assert status == 0
    assert remote(sandbox, environment, customer) in (None, {})
    entry = AuditEntry.objects.get(pk=body["audit_entry"])
    assert (entry.source, entry.actor, entry.action, entry.state_before) == (
        "cli",
        ops,
        "reset",
        STATE,
    )


def test_a_dry_run_sends_nothing(sandbox, environment, customer, ops):
    status, printed = run(
        "session_reset",
        "--environment",
        str(environment.pk),
        "--as-user",
        ops.username,
        customer,
        "--dry-run",
    )

    assert status == 0
    assert "has a state with 1 variables" in printed
    assert remote(sandbox, environment, customer) == STATE


def test_production_needs_confirmation(sandbox, production_environment, customer, ops):
    refused, _ = run(
        "session_reset",
        "--environment",
        str(production_environment.pk),
        "--as-user",
        ops.username,
        customer,
    )
    confirmed, _ = run(
        "session_reset",
        "--environment",
        str(production_environment.pk),
        "--as-user",
        ops.username,
        customer,
        "--confirm-production",
    )

    assert (refused, confirmed) == (2, 0)


def test_support_may_not_reset(sandbox, environment, customer, support):
    status, _ = run(
        "session_reset",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        customer,
    )

    assert status == 6
    assert remote(sandbox, environment, customer) == STATE


def test_the_acting_user_is_required(sandbox, environment, customer):
    status, _ = run("session_reset", "--environment", str(environment.pk), customer)

    assert status != 0
    assert remote(sandbox, environment, customer) == STATE
