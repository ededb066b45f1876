"""The inspector pages and a bulk job on a project that uses the Realtime state API: the same
flows as on a legacy project, and every request goes to the realtime routes."""

import pytest
from bulk_support import preload_for_users, reset_users, wait_until_finished
from django.urls import reverse
from inspector_support import ORDER_FLOW, based_on, inspect_url, ordering_state, text_of

from sessions_app import bulk
from sessions_app.models import AuditEntry

pytestmark = pytest.mark.production_path

USER = "customer-42"
LEGACY_ROUTES = {"state.get", "state.put", "state.patch", "state.delete", "state.interact"}


@pytest.fixture
def ordering(sandbox, realtime_environment):
    sandbox.set_state(realtime_environment.project.voiceflow_project_id, USER, ordering_state())
    return ordering_state()


def stored(sandbox, environment, user_id=USER):
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


def routes_used(sandbox, environment) -> set[str]:
    return set(sandbox.stats(environment.project.api_key)["by_route"])


def test_the_inspector_shows_a_realtime_conversation(
    viewer_client, sandbox, realtime_environment, ordering
):
    response = viewer_client.get(inspect_url(realtime_environment, USER))

    assert response.status_code == 200
    page = text_of(response)
    # No flow map is loaded here, so the current frame shows its diagramID (frames carry no name).
    assert "pizza_size" in page and ORDER_FLOW in page
    assert routes_used(sandbox, realtime_environment) == {"realtime.state.get"}


def test_a_variable_set_in_the_inspector_reaches_a_realtime_conversation(
    support_client, sandbox, realtime_environment, ordering
):
    response = support_client.post(
        reverse("session_set_variable", args=[realtime_environment.pk]),
        {
            "user": USER,
            "based_on": based_on(ordering),
            "name": "quantity",
            "kind": "number",
            "value": "7",
        },
    )

    assert response.status_code == 302
    assert stored(sandbox, realtime_environment)["variables"] == {
        **ordering["variables"],
        "quantity": 7,
    }
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SET_VARIABLES)
    assert (entry.outcome, entry.source) == (AuditEntry.Outcome.SUCCEEDED, "page")
    assert entry.state_after["variables"]["quantity"] == 7
    assert not routes_used(sandbox, realtime_environment) & LEGACY_ROUTES


def test_a_variable_removed_in_the_inspector_leaves_a_realtime_conversation(
    support_client, sandbox, realtime_environment, ordering
):
    response = support_client.post(
        reverse("session_remove_variable", args=[realtime_environment.pk]),
        {"user": USER, "based_on": based_on(ordering), "name": "coupon"},
    )

    assert response.status_code == 302
    assert "coupon" not in stored(sandbox, realtime_environment)["variables"]
    assert "realtime.state.replace" in routes_used(sandbox, realtime_environment)


def test_a_stale_inspector_edit_on_a_realtime_project_is_a_conflict_and_sends_nothing(
    support_client, sandbox, realtime_environment, ordering
):
    moved = {**ordering, "variables": {**ordering["variables"], "quantity": 6}}
    sandbox.set_state(realtime_environment.project.voiceflow_project_id, USER, moved)

    response = support_client.post(
        reverse("session_set_variable", args=[realtime_environment.pk]),
        {
            "user": USER,
            "based_on": based_on(ordering),
            "name": "quantity",
            "kind": "number",
            "value": "7",
        },
    )

    assert response.status_code == 409
    assert stored(sandbox, realtime_environment) == moved
    assert "realtime.variables.patch" not in routes_used(sandbox, realtime_environment)


@pytest.mark.worker
def test_a_bulk_preload_and_reset_run_on_a_realtime_project(
    celery_worker, sandbox, realtime_environment, ops
):
    users = [f"rt-user-{n}" for n in range(12)]
    sandbox.set_state(
        realtime_environment.project.voiceflow_project_id, users[0], {"variables": {"kept": 1}}
    )

    preload = preload_for_users(realtime_environment, ops, users, {"plan": "gold"})
    bulk.start_job(preload, ops)
    progress = wait_until_finished(preload)

    assert (progress["status"], progress["done"], progress["failed"]) == ("completed", 12, 0)
    assert stored(sandbox, realtime_environment, users[0]) == {
        "variables": {"kept": 1, "plan": "gold"}
    }
    for user_id in users[1:]:
        assert stored(sandbox, realtime_environment, user_id) == {"variables": {"plan": "gold"}}

    reset = reset_users(realtime_environment, ops, users[:3])
    bulk.start_job(reset, ops)
    assert wait_until_finished(reset)["done"] == 3

    assert [stored(sandbox, realtime_environment, user_id) for user_id in users[:3]] == [None] * 3
    assert not routes_used(sandbox, realtime_environment) & LEGACY_ROUTES
    assert set(
        AuditEntry.objects.filter(job__in=[preload, reset]).values_list("outcome", flat=True)
    ) == {AuditEntry.Outcome.SUCCEEDED}
