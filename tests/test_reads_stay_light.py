"""Reading a session stays light: few queries, and no write beyond the budget slot when nothing
changed (the known-sessions index and the operator's preference are written only on a change);
the login session never holds conversation state."""

import re

import pytest
from api_support import session_client
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sessions_app.actions import fingerprint
from sessions_app.inspector.seen import seen_state
from sessions_app.models import SeenState

pytestmark = pytest.mark.production_path

SECRET_VALUE = "a-value-only-the-state-holds"
# The budget slot's booking (sessions_app/voiceflow/budget.py): one statement on PostgreSQL;
# BEGIN IMMEDIATE, a read, a write and COMMIT on SQLite.
BOOKING_QUERIES = 1 if connection.vendor == "postgresql" else 4


def inspect_url(environment, user_id: str) -> str:
    return f"{reverse('session_inspect', args=[environment.pk])}?user={user_id}"


# A write starts with INSERT, UPDATE or DELETE, or holds one in a WITH clause (the budget slot's
# booking on PostgreSQL, sessions_app/voiceflow/budget.py).
WRITE = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE)\b|\bAS\s*\(\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE
)


def writes_in(queries) -> list[str]:
    return [q["sql"] for q in queries if WRITE.search(q["sql"])]


@pytest.fixture
def conversation(sandbox, sandbox_project):
    state = {
        "stack": [{"diagramID": "main", "nodeID": "start"}],
        "storage": {},
        "variables": {"note": SECRET_VALUE},
    }
    sandbox.set_state(sandbox_project["project_id"], "reader-1", state)
    return "reader-1"


def test_a_second_look_at_an_unchanged_session_writes_only_the_budget_slot(
    ops_client, environment, conversation, django_assert_max_num_queries
):
    ops_client.get(inspect_url(environment, conversation))

    with (
        django_assert_max_num_queries(9 + BOOKING_QUERIES),
        CaptureQueriesContext(connection) as captured,
    ):
        response = ops_client.get(inspect_url(environment, conversation))

    assert response.status_code == 200
    written = writes_in(captured.captured_queries)
    assert written, "the budget slot is reserved"
    assert all("sessions_app_requestbudget" in sql for sql in written), written


def test_the_api_session_read_writes_only_the_budget_slot(
    ops, environment, conversation, django_assert_max_num_queries
):
    client = session_client(ops)
    url = reverse("api-session-state", args=[environment.pk])
    client.get(url, {"user": conversation})

    with (
        django_assert_max_num_queries(5 + BOOKING_QUERIES),
        CaptureQueriesContext(connection) as captured,
    ):
        response = client.get(url, {"user": conversation})

    assert response.status_code == 200
    written = writes_in(captured.captured_queries)
    assert all("sessions_app_requestbudget" in sql for sql in written), written


def test_the_login_session_holds_no_conversation_state(
    ops_client, environment, conversation, sandbox, sandbox_project
):
    ops_client.get(inspect_url(environment, conversation))

    session = Session.objects.get(session_key=ops_client.session.session_key)
    assert SECRET_VALUE not in str(session.get_decoded())
    assert SECRET_VALUE not in session.session_data
    # The state shown is still kept for the conflict page, outside the login session.
    kept = SeenState.objects.get(session_key=session.session_key)
    assert kept.state["variables"]["note"] == SECRET_VALUE
    # Kept under the whole keyed fingerprint (the ETag), not a prefix the column cut it to.
    assert kept.fingerprint == fingerprint(kept.state)


def test_a_state_seen_is_found_again_by_its_fingerprint_in_the_same_login_only(
    ops_client, support_client, environment, conversation, rf
):
    ops_client.get(inspect_url(environment, conversation))
    kept = SeenState.objects.get()

    mine = rf.get("/")
    mine.session = ops_client.session
    theirs = rf.get("/")
    theirs.session = support_client.session

    assert seen_state(mine, environment, conversation, kept.fingerprint)["variables"] == {
        "note": SECRET_VALUE
    }
    assert seen_state(theirs, environment, conversation, kept.fingerprint) is None
