"""Edits on live sessions: when the conversation moves between the operator's read and the write,
nothing is sent, the conflict page shows what moved, and the change can be re-applied on the new
state."""

import copy
import re

import pytest
from django.urls import reverse
from inspector_support import action_url, based_on, inspect_url, ordering_state, text_of

from sessions_app.models import AuditEntry

USER = "customer-42"


@pytest.fixture
def loaded(sandbox, environment, ops_client):
    """The operator has the session open; then the end user takes a turn."""
    project_id = environment.project.voiceflow_project_id
    sandbox.set_state(project_id, USER, ordering_state())
    ops_client.get(inspect_url(environment, USER))
    moved = copy.deepcopy(ordering_state())
    moved["variables"]["pizza_size"] = "medium"
    moved["variables"]["last_utterance"] = "make it medium"
    moved["stack"][-1]["nodeID"] = "66b0c2aa0123456789abc999"
    sandbox.set_state(project_id, USER, moved)
    return moved


def stored(sandbox, environment):
    return sandbox.state(environment.project.voiceflow_project_id, USER)


def reapply_form(response) -> tuple[str, dict]:
    page = response.content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)" class="actions" id="reapply-form">(.*?)</form>',
        page,
        re.S,
    )
    fields = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))
    )
    import html

    return html.unescape(form.group(1)), {
        name: html.unescape(value) for name, value in fields.items()
    }


def test_setting_a_variable_on_a_moved_conversation_is_refused_with_the_difference(
    ops_client, sandbox, environment, loaded
):
    response = ops_client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(ordering_state()),
            "name": "coupon",
            "kind": "string",
            "value": "HALFOFF",
        },
    )

    assert response.status_code == 409
    text = text_of(response)
    assert "The conversation moved; nothing was sent" in text
    assert "You asked: Set coupon to the text “HALFOFF” for customer-42" in text
    assert "variables.pizza_size changed string large string medium" in text
    assert "variables.last_utterance added string make it medium" in text
    assert "stack[2].nodeID changed" in text
    assert stored(sandbox, environment) == loaded
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.CONFLICT
    assert entry.state_before == loaded


def test_re_applying_the_change_writes_it_on_the_new_state(
    ops_client, sandbox, environment, loaded
):
    conflict = ops_client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(ordering_state()),
            "name": "coupon",
            "kind": "string",
            "value": "HALFOFF",
        },
    )
    url, fields = reapply_form(conflict)
    assert fields["based_on"] == based_on(loaded)

    response = ops_client.post(url, fields)

    assert response.status_code == 302
    expected = copy.deepcopy(loaded)
    expected["variables"]["coupon"] = "HALFOFF"
    assert stored(sandbox, environment) == expected


def test_a_whole_state_edit_conflict_goes_back_to_the_preview_on_re_apply(
    ops_client, sandbox, environment, loaded
):
    import json

    from sessions_app.actions import writable_state

    mine = writable_state(ordering_state())
    mine["variables"]["vip"] = False
    conflict = ops_client.post(
        reverse("session_edit_state", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(ordering_state()),
            "state_json": json.dumps(mine),
            "step": "send",
        },
    )
    assert conflict.status_code == 409
    url, fields = reapply_form(conflict)
    assert fields["step"] == "preview"

    preview = ops_client.post(url, fields)

    assert preview.status_code == 200
    text = text_of(preview)
    assert "variables.pizza_size changed string medium string large" in text
    assert "variables.vip changed boolean true boolean false" in text
    assert stored(sandbox, environment) == loaded


def test_a_reset_of_a_moved_conversation_is_refused(ops_client, sandbox, environment, loaded):
    response = ops_client.post(
        reverse("session_reset", args=[environment.pk]),
        {"user": USER, "based_on": based_on(ordering_state()), "confirm_user_id": USER},
    )

    assert response.status_code == 409
    assert stored(sandbox, environment) == loaded


def test_removing_a_variable_of_a_moved_conversation_is_refused(
    ops_client, sandbox, environment, loaded
):
    response = ops_client.post(
        reverse("session_remove_variable", args=[environment.pk]),
        {"user": USER, "based_on": based_on(ordering_state()), "name": "coupon"},
    )

    assert response.status_code == 409
    assert stored(sandbox, environment) == loaded


def test_a_restore_onto_a_moved_conversation_is_refused(ops_client, sandbox, environment, loaded):
    ops_client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(loaded),
            "name": "vip",
            "kind": "boolean",
            "value": "false",
        },
    )
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SET_VARIABLES)
    turned = stored(sandbox, environment)
    turned["variables"]["sessions"] = 4
    sandbox.set_state(environment.project.voiceflow_project_id, USER, turned)

    response = ops_client.post(
        reverse("audit_restore", args=[entry.pk]), {"based_on": based_on(entry.state_after)}
    )

    assert response.status_code == 409
    assert stored(sandbox, environment) == turned


def test_without_the_loaded_state_the_conflict_page_still_shows_the_state_now(
    support_client, sandbox, environment, loaded
):
    response = support_client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {"user": USER, "based_on": "0" * 20, "name": "coupon", "kind": "string", "value": "X"},
    )

    assert response.status_code == 409
    assert "no longer kept for comparison" in text_of(response)
    assert "make it medium" in text_of(response)


def test_the_conflict_page_links_back_to_the_session(ops_client, environment, loaded):
    response = ops_client.post(
        reverse("session_reset", args=[environment.pk]),
        {"user": USER, "based_on": based_on(ordering_state()), "confirm_user_id": USER},
    )

    assert (
        action_url("session_inspect", environment, USER).replace("&", "&amp;")
        in response.content.decode()
    )
