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
