"""Editing the whole state as JSON: the shape is checked before anything is sent, a preview shows
what changes, and only the confirmed state reaches the sandbox."""

import json

import pytest
from django.urls import reverse
from inspector_support import action_url, based_on, inspect_url, ordering_state, text_of

from sessions_app.actions import state_parts, writable_state
from sessions_app.models import AuditEntry

USER = "customer-42"


@pytest.fixture
def ordering(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    return ordering_state()


def edited_state() -> dict:
    state = writable_state(ordering_state())
    state["variables"]["pizza_size"] = "medium"
    state["stack"] = state["stack"][:1]
    state["storage"]["noMatchesCounter"] = 2
    return state


def post_state(client, environment, state_json: str, step: str, *, state=None):
    return client.post(
        reverse("session_edit_state", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(state or ordering_state()),
            "state_json": state_json,
            "step": step,
        },
    )


def stored(sandbox, environment):
    return sandbox.state(environment.project.voiceflow_project_id, USER)


def test_the_editor_opens_with_the_writable_state_as_pretty_json(ops_client, environment, ordering):
    response = ops_client.get(action_url("session_edit_state", environment, USER))

    assert response.status_code == 200
    textarea = response.context["form"]["state_json"].value()
    # As read: the base frame's null nodeID stays in view, and the write leaves it out.
    assert json.loads(textarea) == state_parts(ordering_state())
    assert '\n  "stack": [' in textarea
    assert response.context["form"]["based_on"].value() == based_on(ordering_state())


def test_the_editor_starts_from_an_empty_state_for_a_user_without_one(ops_client, environment):
    response = ops_client.get(action_url("session_edit_state", environment, "nobody"))

    assert json.loads(response.context["form"]["state_json"].value()) == {
        "stack": [],
        "storage": {},
        "variables": {},
    }


def test_the_preview_shows_what_changes_and_sends_nothing(
    ops_client, sandbox, environment, ordering
):
    ops_client.get(action_url("session_edit_state", environment, USER))

    response = post_state(ops_client, environment, json.dumps(edited_state()), "preview")

    assert response.status_code == 200
    text = text_of(response)
    assert "variables.pizza_size changed string large string medium" in text
    assert "stack[1] removed" in text
    assert "storage.noMatchesCounter changed number 0 number 2" in text
    assert "Send this state" in text
    assert stored(sandbox, environment) == ordering_state()
    assert not AuditEntry.objects.exists()


def test_sending_the_previewed_state_replaces_it_exactly(
    ops_client, sandbox, environment, ordering
):
    response = post_state(ops_client, environment, json.dumps(edited_state()), "send")

    assert response.status_code == 302
    assert response["Location"] == inspect_url(environment, USER)
    assert stored(sandbox, environment) == edited_state()
    entry = AuditEntry.objects.get()
    assert entry.action == AuditEntry.Action.REPLACE_STATE
    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert entry.state_before == ordering_state() and entry.state_after == edited_state()


def test_types_survive_a_whole_state_replace(ops_client, sandbox, environment, ordering):
    state = {
        "stack": [{"diagramID": "d1", "nodeID": "n1", "variables": {"n": 5, "s": "5"}}],
        "storage": {"flag": False},
        "variables": {
            "n": 5,
            "s": "5",
            "f": 2.5,
            "t": True,
            "z": None,
            "o": {"deep": [{"x": "ü"}]},
            "long": "y" * 20000,
        },
    }

    post_state(ops_client, environment, json.dumps(state), "send")

    assert json.dumps(stored(sandbox, environment), sort_keys=True) == json.dumps(
        state, sort_keys=True
    )


def test_back_to_editing_keeps_the_edited_text(ops_client, environment, ordering):
    text = json.dumps(edited_state(), indent=4)

    response = post_state(ops_client, environment, text, "edit")

    assert response.context["form"]["state_json"].value() == text


def test_the_preview_of_an_unchanged_state_offers_nothing_to_send(
    ops_client, environment, ordering
):
    ops_client.get(action_url("session_edit_state", environment, USER))

    response = post_state(
        ops_client, environment, json.dumps(writable_state(ordering_state())), "preview"
    )

    assert "the state you edited is the same as the one you loaded" in text_of(response)
    assert "Send this state" not in text_of(response)


@pytest.mark.parametrize(
    ("state_json", "message"),
    [
        (
            '{\n  "stack": [],\n  "storage": {},\n  "variables": {"a": 1,}\n}',
            "Not valid JSON. Line 4, column 24: Expecting property name enclosed in double quotes.",
        ),
        ('{"stack": [], "storage": {}}', "The state is missing variables."),
        (
            '{"stack": [], "storage": {}, "variables": {}, "turn": {}}',
            "Voiceflow accepts only stack, storage and variables; remove turn.",
        ),
        (
            '{"stack": [{"nodeID": "n"}], "storage": {}, "variables": {}}',
            "stack[0] needs a diagramID (a string).",
        ),
        (
            '{"stack": [{"diagramID": "d", "nodeID": 5}], "storage": {}, "variables": {}}',
            "stack[0].nodeID must be a string, null or left out.",
        ),
        ('{"stack": {}, "storage": {}, "variables": {}}', "stack must be a list of frames."),
        ('{"stack": [], "storage": [], "variables": {}}', "storage must be an object."),
        ("[]", "The state must be a JSON object"),
        ("", "The state cannot be empty"),
    ],
)
def test_it_refuses_a_state_voiceflow_would_refuse_before_sending_anything(
    ops_client, sandbox, environment, ordering, state_json, message
):
    response = post_state(ops_client, environment, state_json, "send")

    assert response.status_code == 400
    assert message in text_of(response)
    assert stored(sandbox, environment) == ordering_state()
    assert not AuditEntry.objects.exists()


def test_a_json_error_is_pointed_at_for_the_editor(ops_client, environment, ordering):
    response = post_state(ops_client, environment, '{\n  "stack": [,\n}', "preview")

    page = response.content.decode()
    assert 'data-error-line="2"' in page and 'data-error-column="13"' in page


def test_a_failure_upstream_is_a_message_and_a_failed_audit_row(
    ops_client, sandbox, clean_knobs, environment, ordering
):
    clean_knobs.knobs(
        failures={"mode": "5xx", "status": 502, "routes": ["state.put"]},
        api_key=environment.project.api_key,
    )

    response = post_state(ops_client, environment, json.dumps(edited_state()), "send")

    assert response.status_code == 200
    assert "The state was not replaced. Voiceflow failed (502)." in text_of(response)
    assert AuditEntry.objects.get().outcome == AuditEntry.Outcome.FAILED
    assert stored(sandbox, environment) == ordering_state()


def test_the_production_environment_says_so_plainly(ops_client, sandbox, production_environment):
    sandbox.set_state(production_environment.project.voiceflow_project_id, USER, ordering_state())

    response = ops_client.get(action_url("session_edit_state", production_environment, USER))

    assert "Production. What you send replaces a live customer conversation." in text_of(response)


@pytest.mark.parametrize("persona", ["viewer_client", "support_client"])
def test_roles_below_ops_cannot_replace_the_state(request, sandbox, environment, ordering, persona):
    client = request.getfixturevalue(persona)

    assert client.get(action_url("session_edit_state", environment, USER)).status_code == 403
    assert post_state(client, environment, json.dumps(edited_state()), "send").status_code == 403
    assert stored(sandbox, environment) == ordering_state()
