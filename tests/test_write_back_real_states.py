"""A state exactly as the real runtime answers it can be written back on every path.

The runtime's base frame reads as `nodeID: null` and its PUT refuses that null
("data.stack[0].nodeID should be string"); `actions.writable_state` leaves it out, once, for the
API, the whole-state editor, restore, undo and removing a variable alike.
"""

import json
from urllib.parse import quote

import pytest
from api_support import etag_of, token_client
from django.urls import reverse
from inspector_support import action_url, based_on
from real_runtime_states import BASE_FRAME, mid_flow_state, seed

from sessions_app import actions
from sessions_app.models import AuditEntry

pytestmark = pytest.mark.production_path

USER = "probe-30d4f1-mid"


def stored(sandbox, environment, user_id: str = USER) -> dict | None:
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


def without_null_node_ids(state: dict) -> dict:
    written = json.loads(json.dumps(state))
    for frame in written["stack"]:
        if frame.get("nodeID", "") is None:
            del frame["nodeID"]
    return written


@pytest.fixture
def mid_flow(sandbox, environment) -> dict:
    return seed(sandbox, environment, USER, mid_flow_state(USER))


def test_the_api_writes_back_a_state_exactly_as_it_read_it(sandbox, environment, mid_flow, ops):
    api = token_client(ops)
    url = f"/api/v1/environments/{environment.pk}/sessions/state?user={quote(USER)}"
    read = api.get(url)
    assert read.json()["state"]["stack"][0] == BASE_FRAME

    response = api.put(url, read.json()["state"], format="json", HTTP_IF_MATCH=read["ETag"])

    assert response.status_code == 200, response.json()
    assert stored(sandbox, environment) == without_null_node_ids(mid_flow)
    entry = AuditEntry.objects.get(pk=response.json()["audit_entry"])
    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert "nodeID" not in entry.request_sent["body"]["stack"][0]


def test_the_api_also_writes_back_a_state_under_the_wildcard(sandbox, environment, mid_flow, ops):
    url = f"/api/v1/environments/{environment.pk}/sessions/state?user={quote(USER)}"

    response = token_client(ops).put(url, mid_flow, format="json", HTTP_IF_MATCH="*")

    assert response.status_code == 200, response.json()
    assert response["ETag"] == etag_of(without_null_node_ids(mid_flow))


def test_the_whole_state_editor_sends_a_pasted_read_state(
    ops_client, sandbox, environment, mid_flow
):
    edited = json.loads(json.dumps(mid_flow))
    edited["variables"]["counter"] = 2

    response = ops_client.post(
        action_url("session_edit_state", environment),
        {
            "user": USER,
            "based_on": based_on(mid_flow),
            "state_json": json.dumps(edited),
            "step": "send",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert stored(sandbox, environment) == without_null_node_ids(edited)


def test_the_editor_shows_the_state_as_read(ops_client, environment, mid_flow):
    response = ops_client.get(action_url("session_edit_state", environment, USER))

    assert json.loads(response.context["form"]["state_json"].value()) == mid_flow


def test_the_preview_of_a_read_state_shows_no_change(ops_client, environment, mid_flow):
    ops_client.get(action_url("session_edit_state", environment, USER))

    response = ops_client.post(
        action_url("session_edit_state", environment),
        {
            "user": USER,
            "based_on": based_on(mid_flow),
            "state_json": json.dumps(mid_flow),
            "step": "preview",
        },
    )

    assert response.context["diff"].is_empty


def test_removing_a_variable_keeps_the_rest_of_a_real_state(
    support_client, sandbox, environment, mid_flow
):
    response = support_client.post(
        reverse("session_remove_variable", args=[environment.pk]),
        {"user": USER, "based_on": based_on(mid_flow), "name": "hold"},
    )

    assert response.status_code == 302
    expected = without_null_node_ids(mid_flow)
    del expected["variables"]["hold"]
    assert stored(sandbox, environment) == expected


def test_a_real_state_comes_back_after_a_reset(ops_client, ops, sandbox, environment, mid_flow):
    reset = actions.do_reset_session(
        environment, USER, context=actions.WriteContext(actor=ops, source="page")
    )

    response = ops_client.post(
        reverse("audit_restore", args=[reset.pk]), {"based_on": based_on({})}
    )

    assert response.status_code == 302
    assert stored(sandbox, environment) == without_null_node_ids(mid_flow)


def test_undo_puts_back_a_real_state(ops, sandbox, environment, mid_flow):
    actions.do_set_variables(
        environment, USER, {"hold": 0}, context=actions.WriteContext(actor=ops, source="bulk")
    )

    entry = actions.do_put_back(
        environment, USER, mid_flow, context=actions.WriteContext(actor=ops, source="bulk")
    )

    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert stored(sandbox, environment) == without_null_node_ids(mid_flow)
