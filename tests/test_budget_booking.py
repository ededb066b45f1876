"""Booking a slot of the request budget stays light on PostgreSQL, where every read of a
conversation books one: a single statement, committed without waiting for the disk, and that
only for the booking's own transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from sessions_app.models import Project, RequestBudget
from sessions_app.voiceflow import budget

pytestmark = [
    pytest.mark.production_path,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SQLite books in an IMMEDIATE transaction"
    ),
]

PER_MINUTE = 60  # one slot a second: a second bulk booking is refused, a far slot too long a wait


def synchronous_commit(cursor) -> str:
    cursor.execute("SELECT current_setting('synchronous_commit')")
    return cursor.fetchone()[0]


@pytest.fixture
def project(db):
    project = Project.objects.create(name="Light", voiceflow_project_id="p", api_key="VF.DM.x")
    RequestBudget.objects.create(project=project)
    return project


def test_each_outcome_of_a_booking_is_one_statement(project):
    outcomes = []
    with CaptureQueriesContext(connection) as booked_in_bulk:
        outcomes.append(budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=5, bulk=True))
    with CaptureQueriesContext(connection) as bulk_asks_again_later:
        outcomes.append(budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=5, bulk=True))
    with CaptureQueriesContext(connection) as booked:
        outcomes.append(budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=5))
    with (
        CaptureQueriesContext(connection) as too_long_a_wait,
        pytest.raises(budget.BudgetWaitTooLong),
    ):
        budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=0.5)

    assert outcomes[:2] == [0.0, None]
    assert 0 < outcomes[2] <= budget.interval_s(PER_MINUTE)
    for captured in (booked_in_bulk, bulk_asks_again_later, booked, too_long_a_wait):
        assert len(captured) == 1, [query["sql"] for query in captured.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_a_booking_commits_without_waiting_for_the_disk_and_only_itself():
    project = Project.objects.create(name="Light", voiceflow_project_id="p", api_key="VF.DM.x")
    RequestBudget.objects.create(project=project)
    with connection.cursor() as cursor:
        before = synchronous_commit(cursor)
        # The booking is one statement in autocommit, its transaction ends with it; a BEGIN of
        # the test's own keeps that transaction open to look inside.
        cursor.execute("BEGIN")
        try:
            wait_s = budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=5)
            inside = synchronous_commit(cursor)
        finally:
            cursor.execute("COMMIT")
        after = synchronous_commit(cursor)

    assert wait_s == 0.0
    assert before != "off"  # the server's own setting waits for the disk
    assert inside == "off"
    assert after == before  # the next transaction on the connection waits for the disk again
    assert RequestBudget.objects.get(project=project).next_slot_at > 0


def test_inside_a_callers_transaction_a_booking_leaves_its_commit_alone(project):
    with transaction.atomic(), connection.cursor() as cursor:
        before = synchronous_commit(cursor)
        budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=5)
        assert synchronous_commit(cursor) == before


def test_the_first_booking_of_a_project_creates_its_row(db):
    project = Project.objects.create(name="New", voiceflow_project_id="p", api_key="VF.DM.x")

    assert budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=5) == 0.0
    assert RequestBudget.objects.get(project=project).next_slot_at > 0
