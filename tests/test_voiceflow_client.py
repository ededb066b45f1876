"""The Voiceflow client against the sandbox over HTTP: every endpoint, every error class, odd
userIDs, and the shared request budget. The truth is read back through the sandbox's control API.
"""

import re
import threading
import time

import pytest
from django.db import connection

from sessions_app.models import Environment, Project, RequestBudget
from sessions_app.voiceflow import (
    InvalidUserID,
    RateLimited,
    Unauthorized,
    UnknownEnvironment,
    UpstreamFailure,
    UpstreamTimeout,
    ValidationFailed,
    budget,
    client_for,
)

pytestmark = pytest.mark.production_path

EMPTY_STATE = {"stack": [], "storage": {}, "variables": {}}


@pytest.fixture
def client(environment):
    return client_for(environment)


def requests_seen(sandbox, project: Project) -> int:
    return sandbox.stats(project.api_key)["requests"]


# ---- conversation state (legacy API) ----


def test_get_state_of_an_unknown_user_is_empty(client):
    assert client.get_state("nobody-has-talked-yet") == {}


def test_update_variables_creates_a_state_holding_only_those_variables(
    client, sandbox, sandbox_project
):
    after = client.update_variables("u1", {"a": 1, "o": {"x": 1}})

    assert after == {"variables": {"a": 1, "o": {"x": 1}}}
    assert sandbox.state(sandbox_project["project_id"], "u1") == after


def test_update_variables_replaces_each_named_key_whole_and_keeps_the_others(
    client, sandbox, sandbox_project
):
    client.update_variables("u1", {"a": 1, "o": {"x": 1}})

    after = client.update_variables("u1", {"o": {"y": 2}})

    assert after["variables"] == {"a": 1, "o": {"y": 2}}
    assert sandbox.state(sandbox_project["project_id"], "u1")["variables"] == {
        "a": 1,
        "o": {"y": 2},
    }


def test_replace_state_stores_exactly_the_state_sent(client, sandbox, sandbox_project):
    sandbox.set_state(sandbox_project["project_id"], "u2", {**EMPTY_STATE, "variables": {"old": 1}})
    state = {"stack": [{"diagramID": "d1", "nodeID": "n1"}], "storage": {}, "variables": {"b": 2}}

    answer = client.replace_state("u2", state)

    assert answer == state
    assert sandbox.state(sandbox_project["project_id"], "u2") == state
    assert client.get_state("u2") == state


def test_delete_state_removes_the_state_and_is_idempotent(client, sandbox, sandbox_project):
    sandbox.set_state(sandbox_project["project_id"], "u3", EMPTY_STATE)

    assert client.delete_state("u3") is None
    assert client.delete_state("u3") is None
    assert sandbox.state(sandbox_project["project_id"], "u3") is None
    assert client.get_state("u3") == {}


def test_legacy_interact_runs_a_turn_and_returns_the_traces(client, sandbox, sandbox_project):
    answer = client.interact("talker", {"type": "launch"})

    assert answer.traces and all("type" in trace for trace in answer.traces)
    assert answer.state is None
    stored = sandbox.state(sandbox_project["project_id"], "talker")
    assert stored["stack"], "a turn leaves the conversation somewhere in the flow"


def test_legacy_interact_verbose_returns_the_traces_and_the_state_after_the_turn(
    client, sandbox, sandbox_project
):
    client.update_variables("verbose-talker", {"campaign": "spring"})

    answer = client.interact("verbose-talker", {"type": "launch"}, verbose=True)

    assert answer.traces and all("type" in trace for trace in answer.traces)
    assert answer.state == sandbox.state(sandbox_project["project_id"], "verbose-talker")
    assert answer.state["stack"] and answer.state["variables"]["campaign"] == "spring"


# ---- v4 sessions ----


def test_v4_stream_yields_each_trace_then_end(client, environment):
    session_key = client.start_session("v4-stream", environment.alias)

    events = list(client.stream_v4(session_key, {"type": "launch"}))

    assert isinstance(session_key, str) and session_key
    assert events[-1] == ("end", {})
    assert [event.name for event in events[:-1]] == ["trace"] * (len(events) - 1)
    assert len(events) > 1 and all("type" in event.data for event in events[:-1])


def test_a_new_v4_session_ends_the_previous_key(client, environment):
    old_key = client.start_session("v4-twice", environment.alias)
    client.start_session("v4-twice", environment.alias)

    with pytest.raises(Unauthorized):
        next(client.stream_v4(old_key, {"type": "launch"}))


def test_emit_event_is_accepted(client, sandbox, environment):
    before = sandbox.stats(environment.project.api_key)["by_route"].get("v2.event", 0)

    assert (
        client.emit_event("some-session", {"type": "event", "payload": {"event": {"name": "ping"}}})
        is None
    )

    assert sandbox.stats(environment.project.api_key)["by_route"]["v2.event"] == before + 1


def test_probe_reads_a_user_nobody_has(client):
    assert client.probe() == {}


# ---- odd userIDs address exactly that user ----

ODD_USER_IDS = [
    "a/b",
    "../etc",
    ".",
    "..",
    "what?x=1",
    "#fragment",
    "100%",
    "%2F",
    "with space",
    "plus+sign",
    "ünïcødé 🍕 用户",
    "x" * 128,
]


@pytest.mark.parametrize("user_id", ODD_USER_IDS)
def test_an_odd_user_id_round_trips_to_exactly_that_user(client, sandbox, sandbox_project, user_id):
    client.update_variables(user_id, {"marker": user_id})

    assert sandbox.state(sandbox_project["project_id"], user_id) == {
        "variables": {"marker": user_id}
    }
    assert client.get_state(user_id) == {"variables": {"marker": user_id}}
    client.delete_state(user_id)
    assert sandbox.state(sandbox_project["project_id"], user_id) is None


@pytest.mark.parametrize(
    ("user_id", "message"),
    [
        ("", "A userID is required."),
        ("x" * 14_337, "it takes 14,337 bytes"),
        ("é" * 1_301, "it takes 2,602 bytes"),
        ("line\nbreak", "control characters"),
        ("tab\there", "control characters"),
        (None, "A userID is required."),
    ],
)
def test_an_unusable_user_id_is_refused_before_anything_is_sent(
    client, sandbox, environment, user_id, message
):
    with pytest.raises(InvalidUserID, match=message):
        client.update_variables(user_id, {"a": 1})

    assert requests_seen(sandbox, environment.project) == 0


# ---- typed errors ----


def test_a_key_voiceflow_does_not_know_is_unauthorized(environment):
    Project.objects.filter(pk=environment.project_id).update(
        api_key="VF.DM.000000000000000000000000.unknownToTheRuntime"
    )
    environment.refresh_from_db()

    with pytest.raises(Unauthorized) as raised:
        client_for(environment).get_state("u")

    assert raised.value.status == 401
    assert raised.value.permanent
    assert "Voiceflow refused the credentials" in raised.value.message


def test_an_unpublished_production_environment_is_unknown(db, sandbox):
    registration = sandbox.register_project(production_published=False)
    project = Project.objects.create(
        name="Unpublished",
        voiceflow_project_id=registration["project_id"],
        api_key=registration["api_key"],
        runtime_url=sandbox.url,
        budget_per_minute=100_000,
    )
    production = Environment.objects.create(
        project=project, label="Production", version_id="production"
    )

    with pytest.raises(UnknownEnvironment, match="not published to production") as raised:
        client_for(production).get_state("u")

    assert raised.value.permanent


def test_an_unknown_literal_version_is_unknown(project):
    pinned = Environment.objects.create(
        project=project, label="Pinned", version_id="0123456789abcdef0123beef"
    )

    with pytest.raises(UnknownEnvironment, match="0123456789abcdef0123beef"):
        client_for(pinned).get_state("u")


def test_a_state_the_runtime_refuses_is_a_validation_error_with_its_message(
    client, sandbox, sandbox_project
):
    with pytest.raises(ValidationFailed) as raised:
        client.replace_state("u4", {"stack": [{}], "storage": {}, "variables": {}})

    assert "diagramID" in raised.value.upstream_message
    assert "diagramID" in raised.value.message
    assert raised.value.status == 400
    assert sandbox.state(sandbox_project["project_id"], "u4") is None


def test_over_the_runtime_budget_is_rate_limited_with_retry_after(client, clean_knobs, environment):
    clean_knobs.knobs(api_key=environment.project.api_key, budget_per_minute=2)
    client.get_state("u")
    client.get_state("u")

    with pytest.raises(RateLimited) as raised:
        client.get_state("u")

    assert raised.value.status == 429
    assert 0 < raised.value.retry_after_s <= 60
    assert not raised.value.permanent


def test_a_429_pauses_every_caller_of_the_project_until_retry_after(
    clean_knobs, sandbox, environment
):
    clean_knobs.knobs(api_key=environment.project.api_key, budget_per_minute=1)
    client_for(environment).get_state("u")
    with pytest.raises(RateLimited):
        client_for(environment).get_state("u")
    sent = requests_seen(sandbox, environment.project)

    # Another caller (a new client, as another request or worker would make) waits too, told
    # that Voiceflow's own limit is the cause, not this product's budget.
    with pytest.raises(RateLimited, match="Voiceflow's own rate limit") as raised:
        client_for(environment).get_state("u")
    assert raised.value.limited_by == "voiceflow"
    assert "budget" not in raised.value.message and "jobs" not in raised.value.message

    assert requests_seen(sandbox, environment.project) == sent
    assert RequestBudget.objects.get(project=environment.project).paused_until > time.time() + 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_an_upstream_failure(client, clean_knobs, environment, status):
    clean_knobs.knobs(
        api_key=environment.project.api_key, failures={"mode": "5xx", "status": status}
    )

    with pytest.raises(UpstreamFailure) as raised:
        client.get_state("u")

    assert raised.value.status == status
    assert f"Voiceflow failed ({status})" in raised.value.message
    assert not raised.value.permanent


def test_a_dropped_connection_is_an_upstream_failure(client, clean_knobs, environment):
    clean_knobs.knobs(api_key=environment.project.api_key, failures={"mode": "drop"})

    with pytest.raises(UpstreamFailure, match="Could not reach Voiceflow"):
        client.get_state("u")


def test_a_runtime_nobody_listens_on_is_an_upstream_failure(environment, settings):
    settings.VOICEFLOW_ALLOW_PRIVATE_URLS = [
        *settings.VOICEFLOW_ALLOW_PRIVATE_URLS,
        "http://127.0.0.1:9",
    ]
    Project.objects.filter(pk=environment.project_id).update(runtime_url="http://127.0.0.1:9")
    environment.refresh_from_db()

    with pytest.raises(
        UpstreamFailure, match=re.escape("Could not reach Voiceflow at http://127.0.0.1:9")
    ):
        client_for(environment).get_state("u")


def test_a_slow_runtime_is_a_time_out(clean_knobs, environment, settings):
    settings.VOICEFLOW_TIMEOUT_S = 0.3
    clean_knobs.knobs(api_key=environment.project.api_key, latency_ms=1500)

    with pytest.raises(UpstreamTimeout, match=re.escape("did not answer within 0.3 s")) as raised:
        client_for(environment).get_state("u")

    assert not raised.value.permanent


def test_a_request_held_open_is_a_time_out(clean_knobs, environment, settings):
    settings.VOICEFLOW_TIMEOUT_S = 0.3
    clean_knobs.knobs(
        api_key=environment.project.api_key, failures={"mode": "timeout", "hold_seconds": 2}
    )

    with pytest.raises(UpstreamTimeout):
        client_for(environment).update_variables("u", {"a": 1})


def test_a_failing_stream_raises_the_typed_error(client, clean_knobs, environment):
    session_key = client.start_session("v4-broken-stream", environment.alias)
    clean_knobs.knobs(failures={"mode": "5xx", "status": 502, "routes": ["v4.stream"]})

    with pytest.raises(UpstreamFailure):
        list(client.stream_v4(session_key, {"type": "launch"}))


# ---- connections and the shared budget ----


def test_clients_of_one_runtime_share_one_connection_pool(environment, production_environment):
    first = client_for(environment)
    second = client_for(production_environment)

    assert first.transport.http_for(first.runtime) is second.transport.http_for(second.runtime)


def test_the_client_never_shows_the_key_in_its_repr(client, environment):
    assert environment.project.api_key not in repr(client.target)


@pytest.mark.django_db(transaction=True)
def test_the_budget_gives_concurrent_callers_of_one_project_distinct_evenly_spaced_slots():
    project = Project.objects.create(name="Paced", voiceflow_project_id="p", api_key="VF.DM.x")
    per_minute = 60
    interval_s = 60 / (per_minute * budget.SAFETY_FACTOR)
    assert budget.reserve_slot(project.pk, per_minute, max_wait_s=600) == 0.0
    first_slot_at = RequestBudget.objects.get(project=project).next_slot_at
    waits: list[float] = []
    lock = threading.Lock()

    def reserve() -> None:
        try:
            wait_s = budget.reserve_slot(project.pk, per_minute, max_wait_s=600)
            with lock:
                waits.append(wait_s)
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Eight slots after the first, none shared: the schedule moved on by exactly eight intervals.
    assert RequestBudget.objects.get(project=project).next_slot_at == pytest.approx(
        first_slot_at + 8 * interval_s, abs=1e-6
    )
    gaps = [
        later - earlier for earlier, later in zip(sorted(waits), sorted(waits)[1:], strict=False)
    ]
    assert len(waits) == 8
    assert all(gap == pytest.approx(interval_s, abs=0.25) for gap in gaps), gaps


@pytest.mark.django_db
def test_pace_holds_a_caller_until_its_reserved_slot():
    project = Project.objects.create(name="Held", voiceflow_project_id="p", api_key="VF.DM.x")
    budget.pace(project.pk, 120, max_wait_s=60)
    second_slot_at = RequestBudget.objects.get(project=project).next_slot_at

    budget.pace(project.pk, 120, max_wait_s=60)

    # Only a lower bound: the second request never leaves before its slot, however slow the host.
    assert time.time() >= second_slot_at


@pytest.mark.django_db
def test_a_caller_that_would_wait_too_long_reserves_nothing():
    project = Project.objects.create(name="Busy", voiceflow_project_id="p", api_key="VF.DM.x")
    for _ in range(3):
        budget.reserve_slot(project.pk, 6, max_wait_s=600)
    schedule = RequestBudget.objects.get(project=project).next_slot_at

    with pytest.raises(budget.BudgetWaitTooLong) as raised:
        budget.reserve_slot(project.pk, 6, max_wait_s=5)

    assert raised.value.wait_s > 5
    assert RequestBudget.objects.get(project=project).next_slot_at == schedule


@pytest.mark.django_db
def test_defer_pauses_every_caller_of_the_project_until_retry_after():
    paused = Project.objects.create(name="Paused", voiceflow_project_id="p", api_key="VF.DM.x")
    other = Project.objects.create(name="Other", voiceflow_project_id="q", api_key="VF.DM.y")

    budget.defer(paused.pk, 30)
    budget.defer(paused.pk, 5)  # a shorter Retry-After never shortens the pause

    with pytest.raises(budget.BudgetWaitTooLong) as raised:
        budget.reserve_slot(paused.pk, 500, max_wait_s=5)
    assert 29 < raised.value.wait_s <= 30
    assert budget.reserve_slot(other.pk, 500, max_wait_s=5) == 0.0
