"""Undo: any recorded "before" state can be put back, conflict-checked and itself audited; a reset
session always comes back, byte for byte."""

import json

import pytest
from django.urls import reverse
from inspector_support import (
    based_on,
    inspect_url,
    ordering_state,
    ordering_state_as_written,
    text_of,
)

from sessions_app.models import AuditEntry

USER = "customer-42"


@pytest.fixture
def ordering(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    return ordering_state()


def stored(sandbox, environment, user_id=USER):
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


def reset_on_page(client, environment, state, user_id=USER):
    client.post(
        reverse("session_reset", args=[environment.pk]),
        {"user": user_id, "based_on": based_on(state), "confirm_user_id": user_id},
    )
    return AuditEntry.objects.get(action=AuditEntry.Action.RESET, user_id=user_id)


def restore(client, entry, state_now):
    return client.post(reverse("audit_restore", args=[entry.pk]), {"based_on": based_on(state_now)})


@pytest.mark.production_path
def test_a_reset_session_comes_back_byte_for_byte(ops_client, sandbox, environment, ordering):
    # What the runtime keeps of a state written back: all of it but the base frame's null nodeID,
    # which its PUT refuses (actions.writable_state).
    before = json.dumps(ordering_state_as_written(), sort_keys=False)
    reset = reset_on_page(ops_client, environment, ordering)
    assert stored(sandbox, environment) is None

    response = restore(ops_client, reset, {})

    assert response.status_code == 302
    assert response["Location"] == inspect_url(environment, USER)
    assert json.dumps(stored(sandbox, environment), sort_keys=False) == before


def test_the_restore_is_itself_audited_and_points_at_its_source(
    ops_client, ops, environment, ordering
):
    reset = reset_on_page(ops_client, environment, ordering)

    restore(ops_client, reset, {})

    restoration = AuditEntry.objects.get(action=AuditEntry.Action.RESTORE)
    assert restoration.restored_from == reset
    assert restoration.outcome == AuditEntry.Outcome.SUCCEEDED
    assert restoration.actor == ops and restoration.source == AuditEntry.Source.PAGE
    assert restoration.state_before == {}
    assert restoration.state_after == ordering_state_as_written()


def test_restoring_a_variable_change_puts_the_old_value_back(
    ops_client, sandbox, environment, ordering
):
    ops_client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(ordering),
            "name": "quantity",
            "kind": "string",
            "value": "five",
        },
    )
    change = AuditEntry.objects.get()

    restore(ops_client, change, change.state_after)

    assert stored(sandbox, environment) == ordering_state_as_written()
    assert type(stored(sandbox, environment)["variables"]["quantity"]) is int


def test_restoring_the_state_before_a_first_write_removes_what_it_created(
    ops_client, sandbox, environment
):
    ops_client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": "newcomer",
            "based_on": based_on({}),
            "name": "plan",
            "kind": "string",
            "value": "gold",
        },
    )
    creation = AuditEntry.objects.get()
    assert creation.state_before == {}

    restore(ops_client, creation, creation.state_after)

    assert stored(sandbox, environment, "newcomer") is None


def test_the_inspector_history_offers_restore_through_its_preview(
    ops_client, environment, ordering
):
    reset = reset_on_page(ops_client, environment, ordering)

    page = ops_client.get(inspect_url(environment, USER)).content.decode()

    # A link to the preview, which asks before anything is written; no one-click form.
    assert f'href="{reverse("audit_restore", args=[reset.pk])}"' in page
    assert f'action="{reverse("audit_restore", args=[reset.pk])}"' not in page
    assert "Restore this state" in page


def test_the_restore_page_previews_what_comes_back(ops_client, environment, ordering):
    reset = reset_on_page(ops_client, environment, ordering)

    response = ops_client.get(reverse("audit_restore", args=[reset.pk]))

    text = text_of(response)
    assert "stack added" in text and "variables added" in text
    assert "Put this state back" in text
    assert f'value="{based_on({})}"' in response.content.decode()


def test_restoring_in_production_says_so(ops_client, sandbox, production_environment):
    sandbox.set_state(production_environment.project.voiceflow_project_id, USER, ordering_state())
    reset = reset_on_page(ops_client, production_environment, ordering_state())

    response = ops_client.get(reverse("audit_restore", args=[reset.pk]))

    assert "Production. Restoring replaces a live customer conversation." in text_of(response)


def test_a_record_without_a_state_cannot_be_restored(ops_client, environment):
    entry = AuditEntry.objects.create(
        source="admin", action="project_changed", environment=environment
    )

    response = ops_client.post(
        reverse("audit_restore", args=[entry.pk]), {"based_on": based_on({})}
    )

    assert response.status_code == 400
    assert "no conversation state to put back" in text_of(response)


def test_a_failed_restore_is_recorded_and_explained(
    ops_client, sandbox, clean_knobs, environment, ordering
):
    reset = reset_on_page(ops_client, environment, ordering)
    clean_knobs.knobs(
        failures={"mode": "5xx", "status": 503, "routes": ["state.put"]},
        api_key=environment.project.api_key,
    )

    response = restore(ops_client, reset, {})

    assert "Nothing was restored: Voiceflow failed (503)." in text_of(
        ops_client.get(response["Location"])
    )
    assert (
        AuditEntry.objects.get(action=AuditEntry.Action.RESTORE).outcome
        == AuditEntry.Outcome.FAILED
    )
    assert stored(sandbox, environment) is None


@pytest.mark.parametrize("persona", ["viewer_client", "support_client"])
def test_roles_below_ops_cannot_restore(
    request, ops_client, sandbox, environment, ordering, persona
):
    reset = reset_on_page(ops_client, environment, ordering)
    client = request.getfixturevalue(persona)

    assert client.get(reverse("audit_restore", args=[reset.pk])).status_code == 403
    assert restore(client, reset, {}).status_code == 403
    assert stored(sandbox, environment) is None
    assert "Restore this state" not in client.get(inspect_url(environment, USER)).content.decode()
