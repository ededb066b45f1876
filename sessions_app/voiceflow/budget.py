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
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

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
    request = _SlotRequest(
        step_s=interval_s(budget_per_minute),
        catch_up_s=catch_up_s(budget_per_minute),
        bulk=bulk,
        book_within_s=min(max_wait_s, BULK_LOOKAHEAD_S) if bulk else max_wait_s,
    )
    book = _book_in_one_statement if connection.vendor == "postgresql" else _book_in_a_transaction
    booking = book(project_id, request)
    if booking.wait_s > max_wait_s:
        raise BudgetWaitTooLong(booking.wait_s, paused_by_voiceflow=booking.paused_by_voiceflow)
    if not booking.booked:  # a bulk caller's slot is more than BULK_LOOKAHEAD_S away
        return None
    return max(booking.wait_s, 0.0)


@dataclass(frozen=True)
class _SlotRequest:
    """What one booking asks for: the spacing of the shared lane, how far back an untaken slot
    may be taken, the bulk lane or not, and how near the slot must be to be booked."""

    step_s: float
    catch_up_s: float
    bulk: bool
    book_within_s: float

    @property
    def bulk_step_s(self) -> float:
        return self.step_s / max(bulk_share(), 0.01)


@dataclass(frozen=True)
class _Booking:
    wait_s: float  # from now to the slot (negative: a slot nobody took, caught up)
    booked: bool
    # When refused: the project's slots are held back by a 429's Retry-After, not by our pacing.
    paused_by_voiceflow: bool


def _book_in_a_transaction(project_id: int, request: _SlotRequest) -> _Booking:
    """SQLite: read and move the row in one IMMEDIATE transaction (the write lock is taken at
    BEGIN, so no other process books in between). SQLite's RETURNING gives only the values
    after an UPDATE, and a refused booking needs the ones before, hence the read first."""
    with transaction.atomic():
        budget, _ = RequestBudget.objects.select_for_update().get_or_create(project_id=project_id)
        now = time.time()
        slot_at = max(budget.next_slot_at, budget.paused_until, now - request.catch_up_s)
        if request.bulk:
            slot_at = max(slot_at, budget.bulk_next_slot_at)
        booking = _Booking(
            wait_s=slot_at - now,
            booked=slot_at - now <= request.book_within_s,
            paused_by_voiceflow=budget.paused_until >= budget.next_slot_at,
        )
        if booking.booked:
            budget.next_slot_at = slot_at + request.step_s
            fields = ["next_slot_at"]
            if request.bulk:
                budget.bulk_next_slot_at = slot_at + request.bulk_step_s
                fields.append("bulk_next_slot_at")
            budget.save(update_fields=fields)
    return booking


# The same booking as `_book_in_a_transaction`, as one PostgreSQL statement: `slot` locks the
# project's row (FOR UPDATE: a concurrent booking waits, then sees this one's result) and
# computes the slot from it; `booked` moves the lanes on when the slot is near enough; the
# answer holds the slot, the cause of a refusal (from the values before) and whether it booked.
# One round trip instead of BEGIN, SELECT … FOR UPDATE, UPDATE and COMMIT, so the row is locked
# for the time of one statement, not of four round trips.
_BOOK_SLOT_SQL = """
WITH slot AS (
    SELECT id, next_slot_at, paused_until,
        GREATEST(
            next_slot_at,
            paused_until,
            %(earliest)s,
            CASE WHEN %(bulk)s THEN bulk_next_slot_at ELSE next_slot_at END
        ) AS slot_at
    FROM sessions_app_requestbudget
    WHERE project_id = %(project_id)s
    FOR UPDATE
), booked AS (
    UPDATE sessions_app_requestbudget AS budget
    SET next_slot_at = slot.slot_at + %(step_s)s,
        bulk_next_slot_at = CASE
            WHEN %(bulk)s THEN slot.slot_at + %(bulk_step_s)s ELSE budget.bulk_next_slot_at
        END
    FROM slot
    WHERE budget.id = slot.id AND slot.slot_at - %(now)s <= %(book_within_s)s
    RETURNING budget.id
)
SELECT slot_at, EXISTS (SELECT FROM booked), paused_until >= next_slot_at,
    CASE WHEN %(no_flush_wait)s THEN set_config('synchronous_commit', 'off', true) END
FROM slot
"""


def _book_in_one_statement(project_id: int, request: _SlotRequest) -> _Booking:
    """PostgreSQL: one statement (_BOOK_SLOT_SQL), its own transaction in autocommit.

    That transaction commits without waiting for the WAL to reach the disk: synchronous_commit
    off, for it alone (set_config(..., true) is SET LOCAL). A crash of the database server may
    lose the bookings of its last moment (up to three wal_writer_delay, 0.6 s by default), and
    their slots be handed out again: that only loosens the pacing for a moment, a few requests
    too many in one of Voiceflow's windows at worst, whose 429 pauses every caller (`defer`).
    Inside a caller's own transaction the setting is left alone: it would decide the durability
    of the caller's writes too.

    `now` is read when the statement is sent, before any wait for the row's lock (another
    booking holds it for one statement): the caller then waits that much longer, never less, and
    a slot nobody took may be caught up that much older. That is slack of the kind and size of a
    transaction's UPDATE and COMMIT between reading `now` and sending, which catch_up_s leaves
    to the spread of the requests' arrival times.
    """
    with connection.cursor() as cursor:
        now = time.time()
        cursor.execute(
            _BOOK_SLOT_SQL,
            {
                "project_id": project_id,
                "now": now,
                "earliest": now - request.catch_up_s,
                "bulk": request.bulk,
                "step_s": request.step_s,
                "bulk_step_s": request.bulk_step_s,
                "book_within_s": request.book_within_s,
                "no_flush_wait": not connection.in_atomic_block,
            },
        )
        row = cursor.fetchone()
    if row is None:  # the project's first request: its row does not exist yet
        RequestBudget.objects.get_or_create(project_id=project_id)
        return _book_in_one_statement(project_id, request)
    slot_at, booked, paused_by_voiceflow, _ = row
    return _Booking(wait_s=slot_at - now, booked=booked, paused_by_voiceflow=paused_by_voiceflow)


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
