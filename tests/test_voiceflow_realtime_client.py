"""The client over the Realtime state API (voiceflow-api.md §1.C) against the sandbox over HTTP:
every method answers as it does over the legacy API, the requests really go to the realtime
routes, errors are typed, and the write actions work on a realtime project. The truth is read
back through the sandbox's control API."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from sessions_app import actions
from sessions_app.models import AuditEntry, Environment, Project, RequestBudget
from sessions_app.voiceflow import RateLimited, Unauthorized, UnknownEnvironment, client_for

pytestmark = pytest.mark.production_path

STATE = {
    "stack": [{"diagramID": "d1", "nodeID": "n1", "storage": {}, "variables": {}}],
    "storage": {"locale": "en-US"},
    "variables": {"plan": "gold", "credits": 3},
}


@pytest.fixture
def client(realtime_environment):
    return client_for(realtime_environment)


def routes(sandbox, project: Project) -> dict[str, int]:
    return sandbox.stats(project.api_key)["by_route"]


def stored(sandbox, environment: Environment, user_id: str) -> dict | None:
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


# ---- every method, over the realtime routes ----


def test_get_state_unwraps_the_state_from_the_realtime_route(client, sandbox, realtime_environment):
    sandbox.set_state(realtime_environment.project.voiceflow_project_id, "u1", STATE)

    assert client.get_state("u1") == STATE
    assert routes(sandbox, realtime_environment.project) == {"realtime.state.get": 1}


def test_get_state_of_a_user_the_realtime_api_does_not_know_is_empty(
    client, sandbox, realtime_environment
):
    assert client.get_state("nobody-here") == {}
    assert sandbox.stats(realtime_environment.project.api_key)["by_status"] == {"404": 1}


def test_update_variables_wraps_the_body_and_reads_the_merged_state_back(
    client, sandbox, realtime_environment
):
    sandbox.set_state(realtime_environment.project.voiceflow_project_id, "u2", STATE)

    after = client.update_variables("u2", {"credits": 4, "vip": True})

    expected = {**STATE, "variables": {"plan": "gold", "credits": 4, "vip": True}}
    assert after == expected
    assert stored(sandbox, realtime_environment, "u2") == expected
    # One PATCH for the write, one GET to read what it left: the realtime write answers only
    # a message.
    assert routes(sandbox, realtime_environment.project) == {
        "realtime.variables.patch": 1,
        "realtime.state.get": 1,
    }


def test_update_variables_of_an_unknown_user_creates_a_state_of_only_those_variables(
    client, sandbox, realtime_environment
):
    assert client.update_variables("fresh", {"a": 1}) == {"variables": {"a": 1}}
    assert stored(sandbox, realtime_environment, "fresh") == {"variables": {"a": 1}}


def test_replace_state_stores_exactly_the_state_sent_and_returns_it_read_back(
    client, sandbox, realtime_environment
):
    sandbox.set_state(
        realtime_environment.project.voiceflow_project_id, "u3", {"variables": {"old": 1}}
    )

    assert client.replace_state("u3", STATE) == STATE
    assert stored(sandbox, realtime_environment, "u3") == STATE
    assert routes(sandbox, realtime_environment.project) == {
        "realtime.state.replace": 1,
        "realtime.state.get": 1,
    }


def test_delete_state_removes_the_state_and_is_idempotent(client, sandbox, realtime_environment):
    sandbox.set_state(realtime_environment.project.voiceflow_project_id, "u4", STATE)

    assert client.delete_state("u4") is None
    assert client.delete_state("u4") is None
    assert stored(sandbox, realtime_environment, "u4") is None
    assert routes(sandbox, realtime_environment.project) == {"realtime.state.delete": 2}


def test_interact_sends_a_turn_and_returns_its_traces(client, sandbox, realtime_environment):
    answer = client.interact("talker", {"type": "launch"})

    assert [trace["type"] for trace in answer.traces][-2:] == ["choice", "no-reply"]
    assert answer.state is None
    assert stored(sandbox, realtime_environment, "talker")["stack"]
    assert routes(sandbox, realtime_environment.project) == {"realtime.send": 1}


def test_interact_verbose_returns_the_traces_and_the_state_after_the_turn(
    client, sandbox, realtime_environment
):
    client.update_variables("verbose-talker", {"campaign": "spring"})

    answer = client.interact("verbose-talker", {"type": "launch"}, verbose=True)

    assert answer.traces and all("type" in trace for trace in answer.traces)
    assert answer.state == stored(sandbox, realtime_environment, "verbose-talker")
    assert answer.state["variables"]["campaign"] == "spring"


def test_probe_reads_a_user_nobody_has(client):
    assert client.probe() == {}


def test_the_environment_alias_and_version_are_sent(sandbox, db):
    registration = sandbox.register_project(production_published=False)
    project = Project.objects.create(
        name="Never published",
        voiceflow_project_id=registration["project_id"],
        api_key=registration["api_key"],
        access_token=registration["access_token"],
        runtime_url=sandbox.url,
        realtime_url=sandbox.url,
        state_api=Project.StateApi.REALTIME,
        budget_per_minute=100_000,
    )
    draft = Environment.objects.create(project=project, label="Draft", alias="main")
    published = Environment.objects.create(
        project=project, label="Published", alias="main", realtime_version="published"
    )

    assert client_for(draft).get_state("u") == {}
    with pytest.raises(UnknownEnvironment, match="'main', published") as raised:
        client_for(published).get_state("u")
    assert raised.value.permanent


# ---- errors ----


def test_an_unknown_environment_alias_is_an_unknown_environment(realtime_environment):
    realtime_environment.alias = "nowhere"
    realtime_environment.save()

    with pytest.raises(UnknownEnvironment) as raised:
        client_for(realtime_environment).update_variables("u", {"a": 1})

    assert raised.value.status == 400
    assert raised.value.upstream_message == "invalid environment tag"
    assert "environment alias 'nowhere'" in raised.value.message


def test_a_wrong_access_token_is_unauthorized(sandbox, realtime_environment):
    project = realtime_environment.project
    project.access_token = "vfp_not_the_right_one"
    project.save()

    with pytest.raises(Unauthorized) as raised:
        client_for(realtime_environment).get_state("u")

    assert raised.value.status == 401
    assert "personal access token" in raised.value.message
    assert raised.value.permanent


def test_a_project_without_an_access_token_is_unauthorized_before_anything_is_sent(
    sandbox, realtime_environment
):
    project = realtime_environment.project
    project.access_token = ""
    project.save()

    with pytest.raises(Unauthorized, match="no personal access token"):
        client_for(realtime_environment).get_state("u")

    assert sandbox.stats(project.api_key)["requests"] == 0


def test_a_429_on_the_realtime_api_pauses_every_caller_of_the_project(
    clean_knobs, sandbox, realtime_environment
):
    clean_knobs.knobs(api_key=realtime_environment.project.api_key, budget_per_minute=1)
    client_for(realtime_environment).get_state("u")
    with pytest.raises(RateLimited):
        client_for(realtime_environment).get_state("u")

    # The next caller waits for Voiceflow's own limit (it answered 429), not this product's budget.
    with pytest.raises(RateLimited, match="Voiceflow's own rate limit") as raised:
        client_for(realtime_environment).get_state("u")
    assert raised.value.limited_by == "voiceflow"

    budget = RequestBudget.objects.get(project=realtime_environment.project)
    assert budget.paused_until > time.time() + 1


# ---- transcript searches ----


def plant(sandbox, environment: Environment, user_id: str, at: datetime, **fields) -> None:
    sandbox.control.post(
        "/_sandbox/transcripts",
        json={
            "project_id": environment.project.voiceflow_project_id,
            "user_id": user_id,
            "created_at": at.isoformat(),
            **fields,
        },
    ).raise_for_status()


def test_the_realtime_search_pages_newest_first_with_user_ids(
    client, sandbox, realtime_environment
):
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    for n in range(5):
        plant(sandbox, realtime_environment, f"user-{n}", start + timedelta(minutes=n))

    pages = list(client.transcript_pages(client.search_transcripts, max_pages=10, page_size=2))

    assert [[t["userID"] for t in page] for page in pages] == [
        ["user-4", "user-3"],
        ["user-2", "user-1"],
        ["user-0"],
    ]
    assert routes(sandbox, realtime_environment.project) == {"realtime.transcripts.search": 3}


def test_the_realtime_search_takes_a_date_range_and_this_environment(
    client, sandbox, realtime_environment
):
    day = datetime(2024, 5, 1, tzinfo=UTC)
    plant(sandbox, realtime_environment, "early", day)
    plant(sandbox, realtime_environment, "draft-talker", day + timedelta(hours=2))
    plant(
        sandbox, realtime_environment, "live-talker", day + timedelta(hours=3), version="production"
    )

    in_range = client.search_transcripts(
        start=day + timedelta(hours=1), end=day + timedelta(hours=4)
    )
    mine = client.search_transcripts(this_environment_only=True)

    assert [t["userID"] for t in in_range] == ["live-talker", "draft-talker"]
    assert [t["userID"] for t in mine] == ["draft-talker", "early"]


def test_the_analytics_search_uses_the_project_key_and_has_no_user_ids(sandbox, environment):
    client = client_for(environment)
    day = datetime(2024, 5, 1, tzinfo=UTC)
    plant(sandbox, environment, "draft-talker", day)
    plant(sandbox, environment, "live-talker", day + timedelta(hours=1), version="production")

    everything = client.search_analytics_transcripts()
    mine = client.search_analytics_transcripts(this_environment_only=True)
    later = client.search_analytics_transcripts(start=day + timedelta(minutes=30))

    assert [t["sessionID"] for t in everything] == ["live-talker", "draft-talker"]
    assert all("userID" not in t for t in everything)
    assert [t["sessionID"] for t in mine] == ["draft-talker"]
    assert [t["sessionID"] for t in later] == ["live-talker"]
    assert routes(sandbox, environment.project) == {"analytics.transcripts.search": 3}


# ---- the write actions on a realtime project ----


@pytest.fixture
def conversation(sandbox, realtime_environment):
    sandbox.set_state(realtime_environment.project.voiceflow_project_id, "customer", STATE)
    return STATE


def test_setting_variables_on_a_realtime_project_is_audited_with_the_state_after(
    sandbox, realtime_environment, conversation, support
):
    entry = actions.do_set_variables(
        realtime_environment,
        "customer",
        {"credits": 10},
        context=actions.WriteContext(
            actor=support, source="page", based_on=actions.fingerprint(conversation)
        ),
    )

    expected = {**STATE, "variables": {"plan": "gold", "credits": 10}}
    assert stored(sandbox, realtime_environment, "customer") == expected
    assert (entry.outcome, entry.state_before, entry.state_after) == (
        AuditEntry.Outcome.SUCCEEDED,
        STATE,
        expected,
    )


def test_removing_a_variable_on_a_realtime_project_replaces_the_state_without_it(
    sandbox, realtime_environment, conversation, support
):
    entry = actions.do_remove_variables(
        realtime_environment,
        "customer",
        ["credits"],
        context=actions.WriteContext(actor=support, source="page"),
    )

    assert stored(sandbox, realtime_environment, "customer") == {
        **STATE,
        "variables": {"plan": "gold"},
    }
    assert entry.state_after == stored(sandbox, realtime_environment, "customer")


def test_replacing_the_state_on_a_realtime_project_stores_exactly_it(
    sandbox, realtime_environment, conversation, ops
):
    replacement = {"stack": [], "storage": {}, "variables": {"fresh": True}}

    entry = actions.do_replace_state(
        realtime_environment,
        "customer",
        replacement,
        context=actions.WriteContext(actor=ops, source="page"),
    )

    assert stored(sandbox, realtime_environment, "customer") == replacement
    assert entry.state_after == replacement


def test_a_conflicting_edit_on_a_realtime_project_sends_nothing(
    sandbox, realtime_environment, conversation, support
):
    with pytest.raises(actions.Conflict):
        actions.do_set_variables(
            realtime_environment,
            "customer",
            {"credits": 10},
            context=actions.WriteContext(
                actor=support,
                source="page",
                based_on=actions.fingerprint({"variables": {"something": "else"}}),
            ),
        )

    assert stored(sandbox, realtime_environment, "customer") == STATE
    assert "realtime.variables.patch" not in routes(sandbox, realtime_environment.project)


def test_reset_then_restore_on_a_realtime_project_brings_the_state_back(
    sandbox, realtime_environment, conversation, ops
):
    reset = actions.do_reset_session(
        realtime_environment, "customer", context=actions.WriteContext(actor=ops, source="page")
    )
    assert stored(sandbox, realtime_environment, "customer") is None

    restored = actions.do_restore(reset, context=actions.WriteContext(actor=ops, source="page"))

    assert stored(sandbox, realtime_environment, "customer") == STATE
    assert (restored.outcome, restored.restored_from_id) == (AuditEntry.Outcome.SUCCEEDED, reset.pk)
    assert set(routes(sandbox, realtime_environment.project)) == {
        "realtime.state.get",
        "realtime.state.delete",
        "realtime.state.replace",
    }


def test_a_turn_on_a_realtime_project_is_audited_with_its_traces(
    sandbox, realtime_environment, support
):
    entry, traces = actions.do_interact(
        realtime_environment,
        "caller",
        {"type": "launch"},
        context=actions.WriteContext(actor=support, source="page"),
    )

    assert traces and traces[-1]["type"] == "no-reply"
    assert entry.state_after == stored(sandbox, realtime_environment, "caller")
    assert entry.state_before == {}
