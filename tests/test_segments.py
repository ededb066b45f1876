"""Segments: conditions counted and sampled over the known-sessions index (SQLite and
PostgreSQL), the same conditions judged against a live state, and a refresh that reads the
members' states from the sandbox first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sessions_app import segments
from sessions_app.known_sessions import note_session
from sessions_app.models import KnownSession
from sessions_app.segments.conditions import ConditionError, mismatch, parse_conditions

pytestmark = [pytest.mark.production_path]


def state_at(flow: str, node: str, **variables) -> dict:
    return {
        "stack": [{"diagramID": flow, "nodeID": node, "storage": {}, "variables": {}}],
        "storage": {},
        "variables": variables,
    }


@pytest.fixture
def indexed(environment):
    """Five indexed sessions with known positions, variables and activity."""
    now = timezone.now()
    rows = {
        "web-1": (state_at("checkout", "pay", plan="gold", credits=12, profile={"tier": 3}), 1),
        "web-2": (state_at("checkout", "address", plan="silver", credits=3), 40),
        "app-1": (state_at("support", "start", plan="gold", credits="12", note=None), 2),
        "app-2": (state_at("checkout", "pay", plan="Gold Plus", profile={"tier": 1}), 60),
        "web-3": ({}, 5),
    }
    for user_id, (state, days_idle) in rows.items():
        note_session(environment, user_id, state)
        KnownSession.objects.filter(environment=environment, user_id=user_id).update(
            last_activity_at=now - timedelta(days=days_idle)
        )
    # Imported, never read: no condition about the state may count it.
    KnownSession.objects.create(
        environment=environment, user_id="web-9", state_pending=True, has_state=False
    )
    return environment


def count(environment, *conditions) -> set[str]:
    preview = segments.preview(environment, list(conditions))
    users = {row.user_id for row in preview.sample}
    assert preview.count == len(users)
    return users


def test_variable_conditions_match_on_the_database(indexed):
    gold = {"field": "variable", "path": "plan", "op": "equals", "value": "gold"}
    assert count(indexed, gold) == {"web-1", "app-1"}
    assert count(
        indexed, {"field": "variable", "path": "plan", "op": "contains", "value": "GOLD"}
    ) == {"web-1", "app-1", "app-2"}
    assert count(indexed, {"field": "variable", "path": "profile", "op": "exists"}) == {
        "web-1",
        "app-2",
    }
    assert count(indexed, {"field": "variable", "path": "profile", "op": "missing"}) == {
        "web-2",
        "app-1",
        "web-3",
    }
    assert count(indexed, {"field": "variable", "path": "note", "op": "equals", "value": None}) == {
        "app-1"
    }


def test_nested_values_and_numbers_compare_by_type(indexed):
    tier = {"field": "variable", "path": "profile.tier", "op": "gt", "value": 2}
    assert count(indexed, tier) == {"web-1"}
    # "12" is text in app-1: a number comparison never counts it.
    assert count(indexed, {"field": "variable", "path": "credits", "op": "gt", "value": 5}) == {
        "web-1"
    }
    assert count(indexed, {"field": "variable", "path": "credits", "op": "lt", "value": 5}) == {
        "web-2"
    }
    assert count(
        indexed, {"field": "variable", "path": "profile.tier", "op": "equals", "value": 1}
    ) == {"app-2"}


def test_position_prefix_and_activity_conditions(indexed):
    at_pay = {"field": "position", "flow": "checkout", "block": "pay"}
    assert count(indexed, at_pay) == {"web-1", "app-2"}
    assert count(indexed, {"field": "position", "flow": "checkout"}) == {"web-1", "web-2", "app-2"}
    assert count(indexed, at_pay, {"field": "user_id", "op": "prefix", "value": "web-"}) == {
        "web-1"
    }
    idle = {"field": "last_active", "op": "before", "value": "30d"}
    assert count(indexed, idle) == {"web-2", "app-2"}
    recent = {"field": "last_active", "op": "after", "value": "3d"}
    assert count(indexed, recent) == {"web-1", "app-1"}


def test_the_environment_is_the_segments_own(indexed, production_environment):
    note_session(production_environment, "web-1", state_at("checkout", "pay", plan="gold"))
    gold = {"field": "variable", "path": "plan", "op": "equals", "value": "gold"}
    assert count(production_environment, gold) == {"web-1"}
    assert count(indexed, gold) == {"web-1", "app-1"}


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ("not json", "not valid JSON"),
        ({"field": "variable"}, "must be a list"),
        ([{"field": "colour"}], "Condition 1: field must be"),
        ([{"field": "variable", "path": "a", "op": "gt", "value": "5"}], "give a number"),
        ([{"field": "variable", "path": "a..b", "op": "exists"}], "the path must be"),
        ([{"field": "last_active", "op": "before", "value": "last tuesday"}], "an age such as"),
        ([{"field": "position", "flow_name": "Checkout"}], "flow map"),
        ([{"field": "position"}], "diagramID"),
    ],
)
def test_bad_conditions_are_refused_with_a_message_and_nothing_saved(
    environment, ops, conditions, message
):
    with pytest.raises(ConditionError, match=message):
        segments.save_segment(environment, ops, name="bad", conditions=conditions)
    assert not environment.segments.exists()


def test_a_live_state_is_judged_by_the_same_conditions():
    conditions = parse_conditions(
        [
            {"field": "position", "flow": "checkout", "block": "pay"},
            {"field": "variable", "path": "profile.tier", "op": "gt", "value": 2},
            {"field": "user_id", "op": "prefix", "value": "web-"},
        ]
    )
    live = state_at("checkout", "pay", profile={"tier": 3})
    assert mismatch(conditions, "web-1", live) == ""
    assert mismatch(conditions, "web-1", state_at("checkout", "done", profile={"tier": 3})) == (
        "at flow checkout, block pay"
    )
    assert mismatch(conditions, "web-1", state_at("checkout", "pay", profile={"tier": "9"})) == (
        "profile.tier is greater than 2"
    )
    assert mismatch(conditions, "app-1", live) == "userID starts with web-"
    assert "no state" in mismatch(conditions, "web-1", {})


def test_a_refresh_reads_the_members_from_voiceflow_first(indexed, sandbox, sandbox_project, ops):
    segment = segments.save_segment(
        indexed,
        ops,
        name="stuck at pay",
        conditions=[{"field": "position", "flow": "checkout", "block": "pay"}],
    )
    # In Voiceflow, web-1 moved on and web-2 reached the block since the index was read.
    project_id = sandbox_project["project_id"]
    sandbox.set_state(project_id, "web-1", state_at("checkout", "done", plan="gold"))
    sandbox.set_state(project_id, "web-2", state_at("checkout", "pay", plan="silver"))
    sandbox.set_state(project_id, "app-2", state_at("checkout", "pay", plan="Gold Plus"))
    assert count(indexed, *segment.conditions) == {"web-1", "app-2"}

    report = segments.refresh_segment(segment)

    assert report.stopped_by == ""
    assert count(indexed, *segment.conditions) == {"web-2", "app-2"}
    segment.refresh_from_db()
    assert segment.refreshed_at is not None


# ---- flows and blocks by name, through the project's flow map ----

PIZZA_FLOW = "64f1a2b3c4d5e6f708192b02"
ROOT_FLOW = "64f1a2b3c4d5e6f708192b01"
ASK_SIZE = ["6501bb0000000000000000b3", "6501cc0000000000000000c4", "6501cc0000000000000000c5"]
TAKE_ADDRESS_STEP = "6501cc0000000000000000c6"
AT_ASK_SIZE = {"field": "position", "flow_name": "Order pizza", "block_name": "Ask size"}


def load_flow_map(environment, document=None) -> None:
    from flow_support import fixture_document

    from sessions_app.flows.loading import store_project_file
    from sessions_app.flows.vf import parse_project_file
    from sessions_app.models import FlowMap

    store_project_file(
        environment.project_id,
        environment.version_id,
        parse_project_file(document or fixture_document()),
        source=FlowMap.Source.UPLOAD,
    )


@pytest.fixture
def pizza_sessions(environment):
    """Sessions at each step of the pizza agent's blocks (tests/fixtures/pizza-agent.vf)."""
    for user_id, flow, node in [
        ("buttons", PIZZA_FLOW, ASK_SIZE[2]),
        ("question", PIZZA_FLOW, ASK_SIZE[1]),
        ("address", PIZZA_FLOW, TAKE_ADDRESS_STEP),
        ("welcome", ROOT_FLOW, "6501cc0000000000000000c1"),
    ]:
        note_session(environment, user_id, state_at(flow, node))
    return environment


def test_a_flow_and_block_named_resolve_to_their_ids_through_the_flow_map(pizza_sessions, ops):
    load_flow_map(pizza_sessions)

    segment = segments.save_segment(pizza_sessions, ops, name="ask size", conditions=[AT_ASK_SIZE])

    # What the operator typed and what it resolved to: the block's node and its steps.
    assert segment.conditions == [
        {
            "field": "position",
            "flow_name": "Order pizza",
            "flow": PIZZA_FLOW,
            "block_name": "Ask size",
            "block_ids": ASK_SIZE,
        }
    ]
    preview = segments.preview(pizza_sessions, segment.conditions)
    assert {row.user_id for row in preview.sample} == {"buttons", "question"}
    assert preview.count == 2
    assert preview.as_dict()["conditions"] == segment.conditions
    (condition,) = parse_conditions(segment.conditions)
    assert condition.resolved_ids() == f"flow {PIZZA_FLOW}, block nodes {', '.join(ASK_SIZE)}"
    # The live re-check speaks of the names.
    assert mismatch([condition], "address", state_at(PIZZA_FLOW, TAKE_ADDRESS_STEP)) == (
        "at flow Order pizza, block Ask size"
    )


def test_a_block_named_alone_finds_its_flow_and_case_does_not_matter(pizza_sessions, ops):
    load_flow_map(pizza_sessions)

    segment = segments.save_segment(
        pizza_sessions,
        ops,
        name="address",
        conditions=[{"field": "position", "block_name": "take ADDRESS"}],
    )

    assert segment.conditions[0]["flow"] == PIZZA_FLOW
    assert count(pizza_sessions, *segment.conditions) == {"address"}
    # A flow named alone: everyone in it.
    in_pizza = [{"field": "position", "flow_name": "order pizza"}]
    saved = segments.save_segment(pizza_sessions, ops, name="pizza", conditions=in_pizza)
    assert count(pizza_sessions, *saved.conditions) == {"buttons", "question", "address"}


def test_an_id_typed_where_a_name_goes_is_taken_when_the_map_lists_it(pizza_sessions, ops):
    load_flow_map(pizza_sessions)

    segment = segments.save_segment(
        pizza_sessions,
        ops,
        name="by ids",
        conditions=[{"field": "position", "flow_name": PIZZA_FLOW, "block_name": ASK_SIZE[2]}],
    )

    assert segment.conditions[0]["block_ids"] == ASK_SIZE
    assert count(pizza_sessions, *segment.conditions) == {"buttons", "question"}


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (
            {"field": "position", "flow_name": "Order pasta"},
            'Condition 1: no flow is named "Order pasta" in the flow map of version '
            "64f1a2b3c4d5e6f708192a3c (flows: Order pizza, ROOT).",
        ),
        (
            {"field": "position", "flow_name": "Order pizza", "block_name": "Welcome"},
            'Condition 1: no block is named "Welcome" in flow Order pizza in the flow map',
        ),
        (
            # Each flow has a block named Start: which one is meant?
            {"field": "position", "block_name": "Start"},
            'Condition 1: 2 blocks are named "Start": Start in flow ROOT (flow '
            f"{ROOT_FLOW}, block start00000000000000000000); Start in flow Order pizza (flow "
            f"{PIZZA_FLOW}, block 6501dd00000000000000000d); name the flow too, or give the "
            "block's ID instead of its name.",
        ),
    ],
)
def test_an_unknown_or_ambiguous_name_is_refused_with_what_the_map_holds(
    pizza_sessions, ops, condition, message
):
    load_flow_map(pizza_sessions)

    with pytest.raises(ConditionError) as refused:
        segments.save_segment(pizza_sessions, ops, name="bad", conditions=[condition])

    assert str(refused.value).startswith(message)
    assert not pizza_sessions.segments.exists()


def test_two_blocks_of_one_name_in_a_flow_are_listed_with_their_ids(pizza_sessions, ops):
    from flow_support import fixture_document

    document = fixture_document()
    nodes = document["diagrams"][PIZZA_FLOW]["nodes"]
    nodes["6501bb0000000000000000b4"]["data"]["name"] = "Ask size"
    load_flow_map(pizza_sessions, document)

    with pytest.raises(ConditionError) as refused:
        segments.save_segment(pizza_sessions, ops, name="bad", conditions=[AT_ASK_SIZE])

    assert str(refused.value) == (
        'Condition 1: 2 blocks are named "Ask size": Ask size in flow Order pizza (flow '
        f"{PIZZA_FLOW}, block 6501bb0000000000000000b3); Ask size in flow Order pizza (flow "
        f"{PIZZA_FLOW}, block 6501bb0000000000000000b4); name the flow too, or give the "
        "block's ID instead of its name."
    )
    # The ID the message lists picks one.
    by_id = {**AT_ASK_SIZE, "block_name": "6501bb0000000000000000b4"}
    segment = segments.save_segment(pizza_sessions, ops, name="address", conditions=[by_id])
    assert count(pizza_sessions, *segment.conditions) == {"address"}


def test_without_a_flow_map_names_are_refused_and_ids_still_work(pizza_sessions, ops):
    with pytest.raises(ConditionError, match="no flow map is loaded for this project"):
        segments.save_segment(pizza_sessions, ops, name="named", conditions=[AT_ASK_SIZE])

    by_ids = [{"field": "position", "flow": PIZZA_FLOW, "block": ASK_SIZE[2]}]
    segment = segments.save_segment(pizza_sessions, ops, name="by ids", conditions=by_ids)
    assert count(pizza_sessions, *segment.conditions) == {"buttons"}


def test_a_segment_saved_by_name_keeps_counting_when_the_map_is_gone(pizza_sessions, ops):
    """The IDs a name resolved to are kept: counting, jobs and saving again need no map."""
    from sessions_app import bulk
    from sessions_app.models import FlowMap

    load_flow_map(pizza_sessions)
    segment = segments.save_segment(pizza_sessions, ops, name="ask size", conditions=[AT_ASK_SIZE])
    FlowMap.objects.all().delete()

    assert count(pizza_sessions, *segment.conditions) == {"buttons", "question"}
    segments.save_segment(
        pizza_sessions, ops, name="renamed", conditions=segment.conditions, segment=segment
    )
    job = bulk.create_job_from_segment(segment, ops, kind="reset")
    assert sorted(job.items.values_list("user_id", flat=True)) == ["buttons", "question"]
    assert job.segment_conditions == segment.conditions


def test_the_api_and_the_page_show_what_a_name_resolved_to(pizza_sessions, ops, client_for_user):
    load_flow_map(pizza_sessions)
    api = client_for_user(ops)

    created = api.post(
        "/api/v1/segments",
        {"name": "ask size", "environment": pizza_sessions.pk, "conditions": [AT_ASK_SIZE]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    segment_id = created.json()["id"]
    preview = api.get(f"/api/v1/segments/{segment_id}/preview").json()
    assert preview["count"] == 2
    assert preview["conditions"][0]["block_ids"] == ASK_SIZE
    page = api.get(f"/segments/{segment_id}/").content.decode()
    assert "at flow Order pizza, block Ask size" in page
    assert f"flow {PIZZA_FLOW}, block nodes {', '.join(ASK_SIZE)}" in page

    refused = api.post(
        "/api/v1/segments",
        {
            "name": "typo",
            "environment": pizza_sessions.pk,
            "conditions": [{"field": "position", "flow_name": "Order pasta"}],
        },
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert 'no flow is named "Order pasta"' in refused.json()["error"]["message"]


# ---- the page's form: rows of field, operator and value ----


def rows_post(environment, name: str, *rows: dict, **extra) -> dict:
    data = {
        "name": name,
        "environment": environment.pk,
        "rows-TOTAL_FORMS": len(rows),
        "rows-INITIAL_FORMS": 0,
        "rows-MAX_NUM_FORMS": 20,
        **extra,
    }
    for number, row in enumerate(rows):
        data |= {f"rows-{number}-{key}": value for key, value in row.items()}
    return data


def test_the_form_rows_become_conditions_typed_as_written(environment, ops_client):
    answer = ops_client.post(
        "/segments/",
        rows_post(
            environment,
            "typed",
            {"field": "flow", "op": "equals", "value": "checkout"},
            {"field": "variable", "path": "credits", "op": "gt", "value": "5"},
            {"field": "variable", "path": "code", "op": "equals", "value": '"12"'},
            {"field": "variable", "path": "vip", "op": "equals", "value": "true"},
            {"field": "variable", "path": "plan", "op": "equals", "value": "gold"},
            {"field": "variable", "path": "promo", "op": "missing", "value": ""},
            {"field": "last_active", "op": "before", "value": "30d"},
            {"field": "user_id", "op": "prefix", "value": "web-"},
            {"field": "", "op": "equals", "value": ""},  # a blank row is left out
        ),
    )

    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert environment.segments.get().conditions == [
        {"field": "position", "flow": "checkout"},
        {"field": "variable", "path": "credits", "op": "gt", "value": 5},
        {"field": "variable", "path": "code", "op": "equals", "value": "12"},
        {"field": "variable", "path": "vip", "op": "equals", "value": True},
        {"field": "variable", "path": "plan", "op": "equals", "value": "gold"},
        {"field": "variable", "path": "promo", "op": "missing"},
        {"field": "last_active", "op": "before", "value": "30d"},
        {"field": "user_id", "op": "prefix", "value": "web-"},
    ]
    # Shown as rows again on the segment's page, text that reads as a number quoted.
    page = ops_client.get(answer["Location"]).content.decode()
    assert 'value="&quot;12&quot;"' in page


def test_with_a_flow_map_the_form_rows_take_names(pizza_sessions, ops_client):
    load_flow_map(pizza_sessions)

    answer = ops_client.post(
        "/segments/",
        rows_post(
            pizza_sessions,
            "ask size",
            {"field": "flow", "op": "equals", "value": "Order pizza"},
            {"field": "block", "op": "equals", "value": "Ask size"},
        ),
    )

    assert answer.status_code == 302
    assert pizza_sessions.segments.get().conditions[0]["block_ids"] == ASK_SIZE
    refused = ops_client.post(
        "/segments/",
        rows_post(pizza_sessions, "typo", {"field": "block", "op": "equals", "value": "Ask sise"}),
    )
    assert refused.status_code == 400
    assert "no block is named &quot;Ask sise&quot;" in refused.content.decode()
    assert pizza_sessions.segments.count() == 1
