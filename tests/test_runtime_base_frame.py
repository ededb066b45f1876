"""The runtime's base frame is shown as the runtime's, never as the user's first flow; frames
without a `name` (as the open-source runtime answers) keep every page readable."""

import pytest
from api_support import token_client
from django.urls import reverse
from inspector_support import action_url, inspect_url, text_of
from real_runtime_states import (
    ROOT_DIAGRAM_ID,
    VERSION_ID,
    base_only_state,
    mid_flow_state,
    seed,
)

from sessions_app import actions
from sessions_app.inspector.diff import entry_diff
from sessions_app.models import KnownSession

USER = "probe-30d4f1-mid"


@pytest.fixture
def mid_flow(sandbox, environment) -> dict:
    return seed(sandbox, environment, USER, mid_flow_state(USER))


def test_the_inspector_shows_the_base_frame_as_the_runtimes(viewer_client, environment, mid_flow):
    response = viewer_client.get(inspect_url(environment, USER))

    stack = response.context["stack"]
    base, flow = stack.frames
    assert base.is_base and not base.is_current and base.flow_number == 0
    assert flow.flow_number == 1 and flow.is_current and flow.title == ROOT_DIAGRAM_ID
    page = text_of(response)
    assert f"· Runtime base runtime Version {VERSION_ID}" in page
    assert f"1 {ROOT_DIAGRAM_ID} current Node wait" in page
    assert "at the start of the flow" not in page


def test_a_stack_holding_only_the_base_frame_is_in_no_flow(viewer_client, sandbox, environment):
    seed(sandbox, environment, "ended", base_only_state("ended"))

    response = viewer_client.get(inspect_url(environment, "ended"))

    assert response.context["stack"].flows == []
    page = text_of(response)
    assert "In no flow: only the runtime's base frame is left" in page
    stack_card = page.split("root → current", 1)[1].split("Variables", 1)[0]
    assert "current" not in stack_card and "at the start of the flow" not in stack_card


def test_the_known_sessions_index_counts_flows_only(viewer, sandbox, environment, mid_flow):
    token_client(viewer).get(f"/api/v1/environments/{environment.pk}/sessions/state?user={USER}")

    known = KnownSession.objects.get(user_id=USER)
    assert (known.stack_depth, known.current_flow) == (1, ROOT_DIAGRAM_ID)
    listed = token_client(viewer).get(f"/api/v1/environments/{environment.pk}/known-sessions")
    assert listed.status_code == 200, listed.content
    row = next(item for item in listed.json()["results"] if item["user_id"] == USER)
    assert (row["stack_depth"], row["current_flow"]) == (1, ROOT_DIAGRAM_ID)


def test_the_reset_page_says_where_the_user_is_without_the_base(ops_client, environment, mid_flow):
    response = ops_client.get(action_url("session_reset", environment, USER))

    page = text_of(response)
    assert f"Currently at {ROOT_DIAGRAM_ID}, node wait" in page
    assert "Flows on the stack 1" in page


def test_writing_back_the_base_frame_is_no_change_in_the_audit(ops, environment, mid_flow):
    entry = actions.do_replace_state(
        environment, USER, mid_flow, context=actions.WriteContext(actor=ops, source="api")
    )

    assert entry.state_before["stack"][0]["nodeID"] is None
    assert "nodeID" not in entry.state_after["stack"][0]
    assert entry_diff(entry).is_empty


def test_the_audit_page_of_a_real_state_write_reads_without_names(
    ops_client, ops, environment, mid_flow
):
    entry = actions.do_set_variables(
        environment, USER, {"hold": 0}, context=actions.WriteContext(actor=ops, source="api")
    )

    response = ops_client.get(reverse("audit_detail", args=[entry.pk]))

    assert response.status_code == 200
    assert "variables.hold" in text_of(response)


def test_watch_mode_says_where_a_nameless_flow_was(viewer_client, sandbox, environment, mid_flow):
    viewer_client.get(inspect_url(environment, USER))
    moved = mid_flow_state(USER)
    moved["stack"][1]["nodeID"] = "next"
    seed(sandbox, environment, USER, moved)
    first = viewer_client.get(reverse("session_watch", args=[environment.pk]), {"user": USER})
    shown = first.context["based_on"]

    response = viewer_client.get(
        reverse("session_watch", args=[environment.pk]),
        {"user": USER, "shown": shown, "since": actions.fingerprint(mid_flow)},
    )

    assert response.context["stack"].moved
    assert f"it was at {ROOT_DIAGRAM_ID} at node wait (depth 1)" in text_of(response)
