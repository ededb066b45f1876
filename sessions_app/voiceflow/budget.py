"""One request budget per project, shared by every web process and worker through the database.

Pacing is a GCRA ("generic cell rate algorithm"): each request reserves the next free slot, one
every 60/budget seconds, so no window of a minute ever holds more than the budget. Voiceflow's
limiter is a fixed 60-second window per key (voiceflow-api.md §5, §9); pacing at a little under the
budget (SAFETY_FACTOR) keeps clock jitter between our slots and its window from costing a 429.
When Voiceflow answers 429 anyway, `defer` moves every caller's next slot past Retry-After.
"""

import time

from django.db import transaction

from ..models import RequestBudget

SAFETY_FACTOR = 0.97


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


def reserve_slot(project_id: int, budget_per_minute: int, *, max_wait_s: float) -> float:
    """Reserve the next request slot; return how long to wait before sending.

    Raises BudgetWaitTooLong (reserving nothing) when the slot is further away than max_wait_s.
    """
    interval_s = 60.0 / (max(budget_per_minute, 1) * SAFETY_FACTOR)
    with transaction.atomic():
        budget, _ = RequestBudget.objects.select_for_update().get_or_create(project_id=project_id)
        now = time.time()
        slot_at = max(budget.next_slot_at, budget.paused_until, now)
        wait_s = slot_at - now
        if wait_s > max_wait_s:
            raise BudgetWaitTooLong(
                wait_s, paused_by_voiceflow=budget.paused_until >= budget.next_slot_at
            )
        budget.next_slot_at = slot_at + interval_s
        budget.save(update_fields=["next_slot_at"])
    return wait_s


def pace(project_id: int, budget_per_minute: int, *, max_wait_s: float) -> None:
    wait_s = reserve_slot(project_id, budget_per_minute, max_wait_s=max_wait_s)
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
