"""REST API calls under upstream faults: every session endpoint, restore and test-connection
answers in the one error shape with the documented code and Voiceflow's failure in words, within
the client's time-out plus a margin, and changes nothing; after a burst, the call goes through
and writes once."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from api_support import error_of, etag_of, token_client
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
from inspector_support import ordering_state

from sessions_app import actions
from sessions_app.models import AuditEntry

USER = "api-fault-customer"
STATUS_AND_CODE = {
    "timeout": (504, "upstream_timeout"),
    "5xx": (502, "upstream_error"),
    "drop": (502, "upstream_error"),
}


@dataclass(frozen=True)
class ApiCall:
    name: str
    route: str  # the sandbox route whose failure this call meets
    writes: bool
    send: Callable  # (client, environment, sandbox) -> response

    def __str__(self) -> str:
        return self.name


def state_url(environment, suffix: str = "") -> str:
    return f"/api/v1/environments/{environment.pk}/sessions/state{suffix}?user={USER}"


def stored(sandbox, environment):
    return sandbox.state(environment.project.voiceflow_project_id, USER)


def read_state(client, environment, sandbox):
    return client.get(state_url(environment))


def merge_variables(client, environment, sandbox):
    return client.patch(state_url(environment, "/variables"), {"quantity": 7}, format="json")


def replace_state(client, environment, sandbox):
    state = actions.writable_state(stored(sandbox, environment))
    state["variables"]["quantity"] = 8
    return client.put(
        state_url(environment),
        state,
        format="json",
        HTTP_IF_MATCH=etag_of(stored(sandbox, environment)),
    )


def reset_session(client, environment, sandbox):
    return client.delete(state_url(environment))


def restore_entry(client, environment, sandbox):
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.SET_VARIABLES).earliest("pk")
    return client.post(f"/api/v1/audit/{entry.pk}/restore")


def press_test_connection(client, environment, sandbox):
    return client.post(f"/api/v1/environments/{environment.pk}/test-connection")


CALLS = [
    ApiCall("GET state", "state.get", False, read_state),
    ApiCall("PATCH variables", "state.patch", True, merge_variables),
    ApiCall("PUT state", "state.put", True, replace_state),
    ApiCall("DELETE state", "state.delete", True, reset_session),
    ApiCall("POST restore", "state.put", True, restore_entry),
]


@pytest.fixture(autouse=True)
def short_client_time_out(settings):
    settings.VOICEFLOW_TIMEOUT_S = CLIENT_TIMEOUT_S


@pytest.fixture
def api(admin_user):
    return token_client(admin_user)


@pytest.fixture
def conversation(sandbox, environment, admin_user):
    """A conversation with one earlier audited write (which `POST restore` puts back)."""
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    actions.do_set_variables(
        environment,
        USER,
        {"quantity": 9},
        context=actions.WriteContext(actor=admin_user, source=AuditEntry.Source.API),
    )
    return stored(sandbox, environment)


@pytest.mark.parametrize("fault", ["timeout", "5xx", "drop"])
@pytest.mark.parametrize("call", CALLS, ids=str)
def test_a_failing_call_answers_its_error_code_in_words_within_the_time_out(
    api, clean_knobs, environment, conversation, call, fault
):
    sandbox, api_key = clean_knobs, environment.project.api_key
    writes_before = writes(sandbox, api_key)
    inject(sandbox, api_key, fault, call.route)

    response, elapsed_s = timed(lambda: call.send(api, environment, sandbox))

    assert (response.status_code, error_of(response)["code"]) == STATUS_AND_CODE[fault]
    assert FAILURE_WORDS[fault] in error_of(response)["message"]
    assert elapsed_s < BOUND_S
    assert stored(sandbox, environment) == conversation
    assert writes(sandbox, api_key) == writes_before
    if call.writes:
        entry = AuditEntry.objects.latest("pk")
        assert (entry.outcome, entry.source) == (AuditEntry.Outcome.FAILED, AuditEntry.Source.API)


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_a_429_storm_is_passed_on_with_retry_after_and_not_fed(
    api, clean_knobs, environment, conversation, call
):
    sandbox, api_key = clean_knobs, environment.project.api_key
    writes_before = writes(sandbox, api_key)
    start_429_storm(sandbox, api_key)

    first, elapsed_s = timed(lambda: call.send(api, environment, sandbox))
    requests_so_far = sandbox.stats(api_key)["requests"]
    second = call.send(api, environment, sandbox)

    assert (first.status_code, error_of(first)["code"]) == (429, "upstream_rate_limited")
    assert RATE_LIMITED_WORDS in error_of(first)["message"]
    assert int(first["Retry-After"]) >= 1
    assert elapsed_s < BOUND_S
    assert (second.status_code, error_of(second)["code"]) == (429, "upstream_rate_limited")
    assert sandbox.stats(api_key)["requests"] == requests_so_far
    assert writes(sandbox, api_key) == writes_before


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_after_a_5xx_burst_the_same_call_goes_through_and_writes_once(
    api, clean_knobs, environment, conversation, call
):
    sandbox, api_key = clean_knobs, environment.project.api_key
    writes_before = writes(sandbox, api_key)
    inject(sandbox, api_key, "5xx", call.route, count=2)

    failures = [call.send(api, environment, sandbox).status_code for _ in range(2)]
    response = call.send(api, environment, sandbox)

    assert failures == [502, 502]
    assert response.status_code == 200, response.content
    change = writes(sandbox, api_key).get(USER, 0) - writes_before.get(USER, 0)
    assert change == (1 if call.writes else 0)


@pytest.mark.parametrize("fault", ["timeout", "5xx", "drop"])
def test_test_connection_reports_the_fault_in_words_within_the_time_out(
    api, clean_knobs, environment, fault
):
    inject(clean_knobs, environment.project.api_key, fault, "state.get")

    response, elapsed_s = timed(lambda: press_test_connection(api, environment, clean_knobs))

    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert FAILURE_WORDS[fault] in response.json()["message"]
    assert elapsed_s < BOUND_S
