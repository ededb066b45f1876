"""Removing a variable: Voiceflow has no delete for one variable, so the rest of the state is
written back whole (PUT) without it."""

import pytest
from django.urls import reverse
from inspector_support import based_on, ordering_state, text_of

from sessions_app.actions import writable_state
from sessions_app.models import AuditEntry

USER = "customer-42"


@pytest.fixture
def ordering(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    return ordering_state()


def remove(client, environment, name, *, state, user_id=USER):
    return client.post(
        reverse("session_remove_variable", args=[environment.pk]),
        {"user": user_id, "based_on": based_on(state), "name": name},
    )


def stored(sandbox, environment, user_id=USER):
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


def test_it_removes_the_variable_and_keeps_everything_else(
    support_client, sandbox, environment, ordering
):
    response = remove(support_client, environment, "coupon", state=ordering)

    assert response.status_code == 302
    expected = writable_state(ordering_state())
    del expected["variables"]["coupon"]
    assert stored(sandbox, environment) == expected


def test_the_removal_is_audited_as_a_full_state_write(support_client, environment, ordering):
    remove(support_client, environment, "coupon", state=ordering)

    entry = AuditEntry.objects.get()
    assert entry.action == AuditEntry.Action.REMOVE_VARIABLES
    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert entry.request_sent["method"] == "PUT"
    assert "coupon" in entry.state_before["variables"]
    assert "coupon" not in entry.state_after["variables"]


def test_it_removes_a_variable_whose_name_has_odd_characters(support_client, sandbox, environment):
    state = {"stack": [], "storage": {}, "variables": {" spaced name ": 1, "keep": 2}}
    sandbox.set_state(environment.project.voiceflow_project_id, USER, state)

    remove(support_client, environment, " spaced name ", state=state)

    assert stored(sandbox, environment)["variables"] == {"keep": 2}


def test_removing_a_variable_that_is_not_there_says_so_and_changes_nothing(
    support_client, sandbox, environment, ordering
):
    response = remove(support_client, environment, "no_such_variable", state=ordering)

    assert "No variable named no_such_variable in this session." in text_of(response)
    assert stored(sandbox, environment) == ordering_state()
    assert AuditEntry.objects.get().outcome == AuditEntry.Outcome.FAILED


def test_a_viewer_cannot_remove_a_variable(viewer_client, sandbox, environment, ordering):
    response = remove(viewer_client, environment, "coupon", state=ordering)

    assert response.status_code == 403
    assert stored(sandbox, environment) == ordering_state()


def test_it_removes_a_variable_when_a_frame_reads_back_with_a_null_node(
    support_client, sandbox, environment
):
    # GET returns `nodeID: null` for a frame at the start of its flow, but PUT refuses null:
    # the state written back leaves the key out, which the runtime reads the same way.
    state = ordering_state()
    state["stack"][0]["nodeID"] = None
    sandbox.set_state(environment.project.voiceflow_project_id, USER, state)

    response = remove(support_client, environment, "coupon", state=state)

    assert response.status_code == 302
    written = stored(sandbox, environment)
    assert "nodeID" not in written["stack"][0]
    assert written["stack"][1]["nodeID"] == state["stack"][1]["nodeID"]
    assert "coupon" not in written["variables"]
