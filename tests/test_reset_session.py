"""Resetting a session: confirmed by typing the userID, plain about production, and always undoable
because the audit row keeps the state before."""

import pytest
from django.urls import reverse
from inspector_support import (
    ORDER_FLOW,
    action_url,
    based_on,
    inspect_url,
    ordering_state,
    text_of,
)

from sessions_app.models import AuditEntry

USER = "customer-42"


@pytest.fixture
def ordering(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    return ordering_state()


def reset(client, environment, typed, *, user_id=USER, state=None):
    return client.post(
        reverse("session_reset", args=[environment.pk]),
        {
            "user": user_id,
            "based_on": based_on(state or ordering_state()),
            "confirm_user_id": typed,
        },
    )


def stored(sandbox, environment, user_id=USER):
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


def test_the_confirmation_page_says_what_will_be_lost(ops_client, environment, ordering):
    response = ops_client.get(action_url("session_reset", environment, USER))

    assert response.status_code == 200
    text = text_of(response)
    assert f"Currently at {ORDER_FLOW}, node 66b0c2aa0123456789abcdef" in text
    assert "Variables 10" in text
    assert "Type the userID to confirm" in text
    assert "Production" not in text


def test_it_resets_when_the_user_id_is_typed_exactly(ops_client, sandbox, environment, ordering):
    response = reset(ops_client, environment, USER)

    assert response.status_code == 302
    assert response["Location"] == inspect_url(environment, USER)
    assert stored(sandbox, environment) is None
    entry = AuditEntry.objects.get()
    assert entry.action == AuditEntry.Action.RESET
    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert entry.state_before == ordering_state()
    assert entry.state_after == {}


@pytest.mark.parametrize("typed", ["customer-43", "Customer-42", " customer-42", ""])
def test_it_refuses_when_the_typed_user_id_differs(
    ops_client, sandbox, environment, ordering, typed
):
    response = reset(ops_client, environment, typed)

    assert response.status_code == 400
    assert "nothing was reset" in text_of(
        response
    ) or "Type the userID to confirm the reset." in text_of(response)
    assert stored(sandbox, environment) == ordering_state()
    assert not AuditEntry.objects.exists()


def test_it_resets_exactly_the_user_with_an_odd_id(ops_client, sandbox, environment):
    project_id = environment.project.voiceflow_project_id
    odd = "team/a b?#%é"
    for user_id in (odd, "team", "team/a b"):
        sandbox.set_state(project_id, user_id, ordering_state())

    reset(ops_client, environment, odd, user_id=odd)

    assert stored(sandbox, environment, odd) is None
    assert stored(sandbox, environment, "team") == ordering_state()
    assert stored(sandbox, environment, "team/a b") == ordering_state()


def test_production_asks_plainly_before_a_reset(ops_client, sandbox, production_environment):
    sandbox.set_state(production_environment.project.voiceflow_project_id, USER, ordering_state())

    response = ops_client.get(action_url("session_reset", production_environment, USER))

    assert "Production. Resetting deletes a real customer's live conversation" in text_of(response)


def test_a_user_without_state_has_nothing_to_reset(ops_client, environment):
    response = ops_client.get(action_url("session_reset", environment, "nobody"))

    assert "there is nothing to reset" in text_of(response)
    assert 'name="confirm_user_id"' not in response.content.decode()


def test_a_failure_upstream_is_a_message_and_a_failed_audit_row(
    ops_client, sandbox, clean_knobs, environment, ordering
):
    clean_knobs.knobs(
        failures={"mode": "5xx", "status": 500, "routes": ["state.delete"]},
        api_key=environment.project.api_key,
    )

    response = reset(ops_client, environment, USER)

    assert response.status_code == 200
    assert "The session was not reset. Voiceflow failed (500)." in text_of(response)
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.FAILED and entry.upstream_status == 500
    assert stored(sandbox, environment) == ordering_state()


@pytest.mark.parametrize("persona", ["viewer_client", "support_client"])
def test_roles_below_ops_cannot_reset(request, sandbox, environment, ordering, persona):
    client = request.getfixturevalue(persona)

    assert client.get(action_url("session_reset", environment, USER)).status_code == 403
    assert reset(client, environment, USER).status_code == 403
    assert stored(sandbox, environment) == ordering_state()
