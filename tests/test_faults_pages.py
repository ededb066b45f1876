"""Page actions under upstream faults: inspect, set a variable, reset, restore and Test connection
each answer a page (never an error page) that says in words what happened, within the client's
time-out plus a margin, and change nothing in Voiceflow; once the fault passes, the same action
goes through and writes exactly once."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse
from fault_support import (
    BOUND_S,
    CLIENT_TIMEOUT_S,
    FAILURE_WORDS,
    RATE_LIMITED_WORDS,
    inject,
    start_429_storm,
    timed,
    writes,
)
from inspector_support import based_on, inspect_url, ordering_state, text_of

from sessions_app import actions
from sessions_app.models import AuditEntry

USER = "fault-customer"


@dataclass(frozen=True)
class PageAction:
    name: str
    route: str  # the sandbox route whose failure this action meets
    writes: bool
    perform: Callable  # (client, environment, sandbox) -> the final page, redirects followed
    success_words: str

    def __str__(self) -> str:
        return self.name


def stored(sandbox, environment):
    return sandbox.state(environment.project.voiceflow_project_id, USER)


def inspect(client, environment, sandbox):
    return client.get(inspect_url(environment, USER), follow=True)


def set_variable(client, environment, sandbox):
    return client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(stored(sandbox, environment)),
            "name": "quantity",
            "kind": "number",
            "value": "7",
        },
        follow=True,
    )


def reset(client, environment, sandbox):
    return client.post(
        reverse("session_reset", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(stored(sandbox, environment)),
            "confirm_user_id": USER,
        },
        follow=True,
    )


def restore(client, environment, sandbox):
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.SET_VARIABLES).earliest("pk")
    return client.post(
        reverse("audit_restore", args=[entry.pk]),
        {"based_on": based_on(stored(sandbox, environment))},
        follow=True,
    )


def press_test_connection(client, environment, sandbox):
    return client.post(reverse("environment_test_connection", args=[environment.pk]), follow=True)


ACTIONS = [
    PageAction("inspect", "state.get", False, inspect, "Fetched"),
    PageAction("set variable", "state.patch", True, set_variable, "Set quantity to the number 7."),
    PageAction("reset", "state.delete", True, reset, "The session was reset."),
    PageAction("restore", "state.put", True, restore, "Restored the state recorded before"),
    PageAction(
        "test connection", "state.get", False, press_test_connection, "Connected: Voiceflow"
    ),
]


@pytest.fixture(autouse=True)
def short_client_time_out(settings):
    settings.VOICEFLOW_TIMEOUT_S = CLIENT_TIMEOUT_S


@pytest.fixture
def conversation(sandbox, environment, admin_user):
    """A conversation with one earlier audited write (which `restore` puts back)."""
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    actions.do_set_variables(
        environment,
        USER,
        {"quantity": 9},
        context=actions.WriteContext(actor=admin_user, source=AuditEntry.Source.PAGE),
    )
    return stored(sandbox, environment)


def assert_nothing_changed(sandbox, environment, state_before, writes_before):
    assert stored(sandbox, environment) == state_before
    assert writes(sandbox, environment.project.api_key) == writes_before


def assert_failure_recorded(action, status):
    if action.writes:
        entry = AuditEntry.objects.latest("pk")
        assert entry.outcome == AuditEntry.Outcome.FAILED
        assert entry.upstream_status == status


@pytest.mark.parametrize("fault", ["timeout", "5xx", "drop"])
@pytest.mark.parametrize("action", ACTIONS, ids=str)
def test_a_failing_call_is_explained_within_the_time_out_and_changes_nothing(
    admin_client_, clean_knobs, environment, conversation, action, fault
):
    sandbox, api_key = clean_knobs, environment.project.api_key
    writes_before = writes(sandbox, api_key)
    inject(sandbox, api_key, fault, action.route)

    page, elapsed_s = timed(lambda: action.perform(admin_client_, environment, sandbox))

    assert page.status_code == 200
    assert FAILURE_WORDS[fault] in text_of(page)
    assert action.success_words not in text_of(page)
    assert elapsed_s < BOUND_S
    assert_nothing_changed(sandbox, environment, conversation, writes_before)
    assert_failure_recorded(action, 503 if fault == "5xx" else None)


@pytest.mark.parametrize("action", ACTIONS, ids=str)
def test_after_a_5xx_burst_the_same_action_goes_through_once(
    admin_client_, clean_knobs, environment, conversation, action
):
    sandbox, api_key = clean_knobs, environment.project.api_key
    writes_before = writes(sandbox, api_key)
    inject(sandbox, api_key, "5xx", action.route, count=1)

    failed = action.perform(admin_client_, environment, sandbox)
    assert FAILURE_WORDS["5xx"] in text_of(failed)
    succeeded, elapsed_s = timed(lambda: action.perform(admin_client_, environment, sandbox))

    assert succeeded.status_code == 200
    assert action.success_words in text_of(succeeded)
    assert elapsed_s < BOUND_S
    written = writes(sandbox, api_key)
    assert written.get(USER, 0) - writes_before.get(USER, 0) == (1 if action.writes else 0)


@pytest.mark.parametrize("action", ACTIONS, ids=str)
def test_a_429_storm_says_when_to_retry_and_a_second_try_is_held_back_without_calling_voiceflow(
    admin_client_, clean_knobs, environment, conversation, action
):
    sandbox, api_key = clean_knobs, environment.project.api_key
    writes_before = writes(sandbox, api_key)
    start_429_storm(sandbox, api_key)

    page, elapsed_s = timed(lambda: action.perform(admin_client_, environment, sandbox))

    assert page.status_code == 200
    assert RATE_LIMITED_WORDS in text_of(page)
    assert elapsed_s < BOUND_S
    requests_so_far = sandbox.stats(api_key)["requests"]
    again, elapsed_s = timed(lambda: action.perform(admin_client_, environment, sandbox))
    assert "retry in" in text_of(again)
    assert elapsed_s < BOUND_S
    assert sandbox.stats(api_key)["requests"] == requests_so_far  # the storm is not fed
    assert_nothing_changed(sandbox, environment, conversation, writes_before)


@pytest.mark.parametrize("action", ACTIONS, ids=str)
def test_slow_answers_inside_the_time_out_still_succeed(
    admin_client_, clean_knobs, settings, environment, conversation, action
):
    settings.VOICEFLOW_TIMEOUT_S = 2.0
    sandbox, api_key = clean_knobs, environment.project.api_key
    writes_before = writes(sandbox, api_key)
    sandbox.knobs(api_key=api_key, latency_ms=400)

    page, elapsed_s = timed(lambda: action.perform(admin_client_, environment, sandbox))

    assert page.status_code == 200
    assert action.success_words in text_of(page)
    assert elapsed_s < settings.VOICEFLOW_TIMEOUT_S + BOUND_S
    written = writes(sandbox, api_key)
    assert written.get(USER, 0) - writes_before.get(USER, 0) == (1 if action.writes else 0)
