"""One request budget per project, shared by every web process and worker through the database.

Pacing is a GCRA ("generic cell rate algorithm"): each request reserves the next free slot, one
every 60/budget seconds, so no window of a minute ever holds more than the budget. Voiceflow's
limiter is a fixed 60-second window per key (voiceflow-api.md §5, §9); pacing at a hair under the
budget (SAFETY_FACTOR) keeps clock jitter between our slots and its window from costing a 429.
When Voiceflow answers 429 anyway, `defer` moves every caller's next slot past Retry-After.

Bulk work comes after people. A bulk caller (`bulk=True`) keeps a lane of its own on top of the
shared one: its slots are spaced for the budget less BULK_BUDGET_RESERVE_PERCENT, so that share
is always free for interactive calls (pages, the API, the console), and it books a slot only when
that slot is at most BULK_LOOKAHEAD_S away. So the shared lane never holds bulk reservations far
into the future, and an interactive call waits at most about that long behind a running job.
The threads of one process take turns at booking (`_bulk_turn`), so they do not all poll the
database for the same next slot.

A slot nobody took in time is not lost at once: a caller may still take it up to `catch_up_s`
later. Several processes share one schedule, and on a busy host the one whose turn it is may
get no CPU for a moment; without catching up, each such moment was budget gone for good even
when the workers could have made up for it. How far back is bounded by what
SAFETY_FACTOR leaves spare in Voiceflow's window: half of it, the other half stays for the
spread of the requests' arrival times, so no 60-second window ever receives more than the
budget. At small budgets there is no spare request and nothing is caught up.
"""

import threading
import time

from django.conf import settings
from django.db import transaction

from ..models import RequestBudget

SAFETY_FACTOR = 0.995
BULK_LOOKAHEAD_S = 0.1

_bulk_turns: dict[int, threading.Lock] = {}
_bulk_turns_lock = threading.Lock()


class BudgetWaitTooLong(Exception):
    """The next slot is too far away. `paused_by_voiceflow` tells the two causes apart: Voiceflow
    itself answered 429 and every caller waits out its Retry-After, or this product's own pacing
    has handed out the slots up to then (bulk jobs, imports, other operators)."""

    def __init__(self, wait_s: float, *, paused_by_voiceflow: bool = False) -> None:
        super().__init__(
            f"The project's request budget is in use; next free slot in {wait_s:.0f} s."
        )
        self.wait_s = wait_s
        self.paused_by_voiceflow = paused_by_voiceflow


def interval_s(budget_per_minute: int) -> float:
    """Seconds between two requests of the project, any caller."""
    return 60.0 / (max(budget_per_minute, 1) * SAFETY_FACTOR)


def catch_up_s(budget_per_minute: int) -> float:
    """How long after its time a slot nobody took may still be taken."""
    spare_requests = budget_per_minute * (1 - SAFETY_FACTOR) - 1  # per window, beyond the pace
    return max(int(spare_requests // 2), 0) * interval_s(budget_per_minute)


def bulk_share() -> float:
    """The share of the budget bulk work may use: what BULK_BUDGET_RESERVE_PERCENT leaves."""
    return (100 - settings.BULK_BUDGET_RESERVE_PERCENT) / 100


def reserve_slot(
    project_id: int, budget_per_minute: int, *, max_wait_s: float, bulk: bool = False
) -> float | None:
    """Reserve the next request slot; return how long to wait before sending.

    Raises BudgetWaitTooLong (reserving nothing) when the slot is further away than max_wait_s.
    A bulk caller gets None (nothing reserved) when its next slot is more than BULK_LOOKAHEAD_S
    away; it asks again later (see `pace`).
    """
    step_s = interval_s(budget_per_minute)
    with transaction.atomic():
        budget, _ = RequestBudget.objects.select_for_update().get_or_create(project_id=project_id)
        now = time.time()
        slot_at = max(budget.next_slot_at, budget.paused_until, now - catch_up_s(budget_per_minute))
        if bulk:
            slot_at = max(slot_at, budget.bulk_next_slot_at)
        wait_s = slot_at - now
        if wait_s > max_wait_s:
            raise BudgetWaitTooLong(
                wait_s, paused_by_voiceflow=budget.paused_until >= budget.next_slot_at
            )
        if bulk and wait_s > BULK_LOOKAHEAD_S:
            return None
        budget.next_slot_at = slot_at + step_s
        fields = ["next_slot_at"]
        if bulk:
            budget.bulk_next_slot_at = slot_at + step_s / max(bulk_share(), 0.01)
            fields.append("bulk_next_slot_at")
        budget.save(update_fields=fields)
    return max(wait_s, 0.0)


def _bulk_turn(project_id: int) -> threading.Lock:
    with _bulk_turns_lock:
        return _bulk_turns.setdefault(project_id, threading.Lock())


def pace(project_id: int, budget_per_minute: int, *, max_wait_s: float, bulk: bool = False) -> None:
    if not bulk:
        wait_s = reserve_slot(project_id, budget_per_minute, max_wait_s=max_wait_s)
    else:
        with _bulk_turn(project_id):
            while True:
                wait_s = reserve_slot(
                    project_id, budget_per_minute, max_wait_s=max_wait_s, bulk=True
                )
                if wait_s is not None:
                    break
                time.sleep(BULK_LOOKAHEAD_S / 2)
    if wait_s > 0:
        time.sleep(wait_s)


def defer(project_id: int, retry_after_s: float) -> None:
    """Voiceflow said 429: nobody sends for this project before Retry-After has passed."""
    until = time.time() + max(retry_after_s, 0.0)
    with transaction.atomic():
        budget, _ = RequestBudget.objects.select_for_update().get_or_create(project_id=project_id)
        if until > budget.paused_until:
            budget.paused_until = until
            budget.save(update_fields=["paused_until"])
