"""People before bulk work in a project's shared request budget: a job leaves
BULK_BUDGET_RESERVE_PERCENT of the budget free, books its slots at most a moment ahead, and so
never makes an interactive call queue behind its backlog."""

import math
import threading
import time

import pytest
from django.db import connection

from sessions_app.models import Project, RequestBudget
from sessions_app.voiceflow import budget

# PostgreSQL books in one statement, SQLite in a transaction: both keep these rules.
pytestmark = pytest.mark.production_path

PER_MINUTE = 60  # one slot a second: long enough to tell a wait from none


@pytest.fixture
def project(db):
    return Project.objects.create(name="Shared", voiceflow_project_id="p", api_key="VF.DM.x")


def test_a_job_spaces_its_slots_for_the_budget_less_the_reserved_share(project, settings):
    settings.BULK_BUDGET_RESERVE_PERCENT = 20
    assert budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=600, bulk=True) == 0.0

    row = RequestBudget.objects.get(project=project)
    interval_s = budget.interval_s(PER_MINUTE)
    # The job's next slot is 1/0.8 intervals on: a fifth of the budget stays free for people.
    assert row.bulk_next_slot_at - (row.next_slot_at - interval_s) == pytest.approx(
        interval_s / 0.8, abs=1e-6
    )


def test_with_no_reserve_a_job_may_use_the_whole_budget(project, settings):
    settings.BULK_BUDGET_RESERVE_PERCENT = 0
    budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=600, bulk=True)

    row = RequestBudget.objects.get(project=project)
    assert row.bulk_next_slot_at == pytest.approx(row.next_slot_at, abs=1e-6)


def test_a_job_books_no_slot_further_ahead_than_a_moment(project):
    assert budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=600, bulk=True) == 0.0
    schedule = RequestBudget.objects.get(project=project).next_slot_at

    # Its next slot is a second away: nothing is booked, the caller asks again later.
    assert budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=600, bulk=True) is None
    assert RequestBudget.objects.get(project=project).next_slot_at == schedule


def test_an_interactive_call_goes_before_the_jobs_waiting_callers(project):
    budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=600, bulk=True)
    for _ in range(5):  # five bulk callers waiting: none of them books ahead
        assert budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=600, bulk=True) is None

    interactive_wait_s = budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=5)

    # Behind the one request already on its way, not behind the job's backlog.
    assert interactive_wait_s <= budget.interval_s(PER_MINUTE)
    # And the job's next request comes after the person's.
    row = RequestBudget.objects.get(project=project)
    assert row.next_slot_at == pytest.approx(
        time.time() + interactive_wait_s + budget.interval_s(PER_MINUTE), abs=0.5
    )
    assert budget.reserve_slot(project.pk, PER_MINUTE, max_wait_s=600, bulk=True) is None


@pytest.mark.django_db(transaction=True)
def test_threads_of_a_job_get_distinct_slots_spaced_for_their_share(settings):
    settings.BULK_BUDGET_RESERVE_PERCENT = 50
    project = Project.objects.create(name="Lanes", voiceflow_project_id="p", api_key="VF.DM.x")
    per_minute = 1200  # 20 a second; the job's share: 10 a second
    sent_at: list[float] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            budget.pace(project.pk, per_minute, max_wait_s=600, bulk=True)
            with lock:
                sent_at.append(time.time())
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    began = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    row = RequestBudget.objects.get(project=project)
    step = budget.interval_s(per_minute)
    assert len(sent_at) == 6
    # Bounds that hold however slow the host is (a late thread only moves its slot later):
    # the last booking moved both lanes from the same slot, the bulk lane by 1/0.5 steps.
    assert row.bulk_next_slot_at - row.next_slot_at == pytest.approx(step / 0.5 - step)
    # Six distinct slots, each at least 1/0.5 steps after the one before (the first may be a
    # slot nobody took, up to catch_up_s old).
    first_slot_at = began - budget.catch_up_s(per_minute)
    assert row.bulk_next_slot_at >= first_slot_at + 6 * step / 0.5 - 0.001
    # Nobody sent before its slot: the sixth no earlier than five such steps after the first.
    assert min(sent_at) >= began
    assert max(sent_at) >= first_slot_at + 5 * step / 0.5 - 0.001


@pytest.mark.parametrize("per_minute", [60, 500, 600, 1200, 3000, 10_000, 100_000])
def test_catching_up_on_untaken_slots_never_overfills_voiceflows_window(per_minute):
    step = budget.interval_s(per_minute)
    caught_up = round(budget.catch_up_s(per_minute) / step)
    # The most a 60-second window can receive: the paced requests, one at its edge, the ones
    # caught up at once, and as many again for the spread of their arrival times.
    assert math.floor(60 / step) + 1 + 2 * caught_up <= per_minute
    if per_minute <= 500:
        assert caught_up == 0  # no spare request at small budgets


def test_a_slot_nobody_took_is_taken_late_but_one_older_than_catch_up_is_gone(project):
    per_minute = 3000
    step = budget.interval_s(per_minute)
    behind = budget.catch_up_s(per_minute)
    assert behind > 0
    RequestBudget.objects.create(project=project, next_slot_at=time.time() - 60)

    for _ in range(round(behind / step)):  # the untaken slots of the last moment: no wait
        assert budget.reserve_slot(project.pk, per_minute, max_wait_s=5) == 0.0
    row = RequestBudget.objects.get(project=project)
    # Caught up to now, no further back than catch_up_s: the minute before was not handed out.
    assert time.time() - behind - 0.5 <= row.next_slot_at - round(behind / step) * step
    assert row.next_slot_at <= time.time() + step
