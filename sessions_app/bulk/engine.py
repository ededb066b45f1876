"""Running a bulk job: claim items, write each through `actions.py`, record every outcome.

The database is the whole truth of a job, so nothing depends on the broker redelivering a
message:

- An item is claimed with a conditional UPDATE (pending → claimed, with `claimed_by` and a lease)
  so two workers never hold the same item. The runner renews its leases while it is alive.
- Each write first records a pending audit row with the state before it (see `actions._write`).
  If the worker dies, the sweep releases the item when its lease expires and the next attempt
  *resumes* that row: it re-reads the state and, when the write already landed, completes the
  record without writing again.
- Workers read the job's status between items, so pause and cancel take effect at once for
  every item not yet started.
"""

import logging
import os
import random
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
    transaction,
)
from django.db.models import F
from django.utils import timezone

from .. import actions, notifications
from ..models import AuditEntry, BulkItem, BulkJob
from ..segments import mismatch, parse_conditions
from ..stored_json import storable_text
from ..voiceflow import (
    RateLimited,
    SessionClient,
    Unauthorized,
    UnknownEnvironment,
    VoiceflowError,
    budget,
    client_for,
)
from .changes import item_change
from .progress import item_counts

logger = logging.getLogger(__name__)

Status = BulkJob.Status
ItemStatus = BulkItem.Status

# A bulk worker waits for a budget slot as long as pacing needs: the budget is the job's pace.
BUDGET_MAX_WAIT_S = 24 * 3600.0
TRANSIENT_ATTEMPTS = 5  # time-outs, 5xx and dropped connections, with backoff and jitter
RATE_LIMITED_ATTEMPTS = 100  # a 429 says nothing about the item; the shared budget waits
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 15.0
STATUS_FRESH_S = 1.0
CLAIM_SIZE = 2
# Errors that are about the environment, not the item: every other item would fail the same way.
JOB_STOPPING_ERRORS = (Unauthorized, UnknownEnvironment)
# Why the items a cancelled job never ran are skipped.
CANCELLED_REASON = "Not run: the job was cancelled."


def lost_the_database(error: BaseException) -> bool:
    """Whether a database error says the database went away (a restart, a fail-over, a
    time-out), which waiting cures, rather than that it refused this item's data (DataError,
    IntegrityError…), which no wait changes."""
    return isinstance(error, OperationalError | InterfaceError) or type(error) is DatabaseError


def failure_reason(error: BaseException) -> str:
    """What went wrong with an item for its row: the kind of error and the first line of its
    message (database messages continue with the statement's data on later lines)."""
    first_line = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return (
        f"Could not be processed ({type(error).__name__}{': ' + first_line if first_line else ''})."
    )


def backoff_s(attempt: int) -> float:
    """Exponential backoff with jitter, so retrying workers do not all come back at once."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)


def lease_s() -> int:
    return settings.BULK_LEASE_SECONDS


class _StatusWatch:
    """The job's status, read again at most once a second by whichever thread asks."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.lock = threading.Lock()
        self.read_at = 0.0
        self.status = ""

    def current(self) -> str:
        with self.lock:
            if time.monotonic() - self.read_at > STATUS_FRESH_S:
                self.status = (
                    BulkJob.objects.filter(pk=self.job_id).values_list("status", flat=True).first()
                    or ""
                )
                self.read_at = time.monotonic()
            return self.status

    def forget(self) -> None:
        with self.lock:
            self.read_at = 0.0


class Runner:
    """One task's work on one job: BULK_CONCURRENCY threads sharing one paced client."""

    def __init__(self, job: BulkJob) -> None:
        self.job = job
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:10]}"
        self.status = _StatusWatch(job.pk)
        self.client: SessionClient = client_for(
            job.environment, max_wait_s=BUDGET_MAX_WAIT_S, bulk=True
        )
        self.actor = job.started_by or job.created_by

    # ---- the loop ----

    def run(self) -> None:
        threads = {
            holder: threading.Thread(
                target=self._thread_main,
                args=(holder,),
                name=f"bulk-{self.job.pk}-{n}",
                daemon=True,
            )
            for n, holder in enumerate(
                f"{self.token}/{n}" for n in range(max(settings.BULK_CONCURRENCY, 1))
            )
        }
        for thread in threads.values():
            thread.start()
        renew_every_s = max(lease_s() / 3, 0.5)
        while any(thread.is_alive() for thread in threads.values()):
            deadline = time.monotonic() + renew_every_s
            for thread in threads.values():
                thread.join(timeout=max(deadline - time.monotonic(), 0))
            self._renew_leases([h for h, thread in threads.items() if thread.is_alive()])
        finish_if_done(self.job.pk)

    def _renew_leases(self, live_holders: list[str]) -> None:
        """Extend the leases of items held by live threads only: an item whose thread died (a
        database error mid-write) must run out of lease so that the sweep hands it on."""
        now = timezone.now()
        try:
            BulkItem.objects.filter(
                job_id=self.job.pk, status=ItemStatus.CLAIMED, claimed_by__in=live_holders
            ).update(lease_until=now + timedelta(seconds=lease_s()))
            BulkJob.objects.filter(pk=self.job.pk).update(heartbeat_at=now)
        except DatabaseError:
            # The database is away for a moment. Leases run on meanwhile; if it stays away
            # longer than a lease, the sweep hands the items on and each resumes its audit row.
            logger.warning(
                "Bulk job %s: could not renew leases, the database is unavailable",
                self.job.pk,
                extra={"job_id": self.job.pk},
            )
            close_old_connections()

    def _thread_main(self, holder: str) -> None:
        try:
            while True:
                try:
                    if not self._claim_and_process(holder):
                        return
                except DatabaseError:
                    if not self._wait_for_the_database(holder):
                        return
        except Exception:
            # A programming error in one thread must not leave its items claimed for good:
            # the lease expires and the sweep hands them on.
            logger.exception("Bulk job %s: worker thread %s stopped", self.job.pk, holder)
        finally:
            connections.close_all()

    def _claim_and_process(self, holder: str) -> bool:
        """Claim a few items and work on them; False once there is nothing more to do."""
        status = self.status.current()
        if status not in (Status.RUNNING, Status.CANCELLED):
            return False
        items = claim(self.job.pk, holder, CLAIM_SIZE, settle_only=status == Status.CANCELLED)
        if not items:
            return False
        for position, item in enumerate(items):
            status = self.status.current()
            if status == Status.RUNNING or (status == Status.CANCELLED and item.attempts > 0):
                self.process(item, holder, settle_only=status == Status.CANCELLED)
            else:
                release(
                    [i.pk for i in items[position:]], holder, cancelled=status == Status.CANCELLED
                )
                break
        return True

    def _wait_for_the_database(self, holder: str) -> bool:
        """The database went away mid-item (a restart, a fail-over). Once it answers again, put
        back what this thread held, to be resumed from its audit row by whoever claims it, and
        go on; False if it stays away past two leases (the sweep takes over then)."""
        logger.warning(
            "Bulk job %s: worker thread %s lost the database; waiting for it",
            self.job.pk,
            holder,
            extra={"job_id": self.job.pk},
        )
        deadline = time.monotonic() + 2 * lease_s()
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            time.sleep(backoff_s(min(attempt, 4)))
            close_old_connections()
            try:
                BulkItem.objects.filter(
                    job_id=self.job.pk, status=ItemStatus.CLAIMED, claimed_by=holder
                ).update(status=ItemStatus.PENDING, claimed_by="", lease_until=None)
            except DatabaseError:
                continue
            self.status.forget()
            return True
        return False

    # ---- one item ----

    def process(self, item: BulkItem, holder: str, *, settle_only: bool = False) -> None:
        """Write one item, retrying what can be retried; its outcome is recorded before returning.

        `settle_only` (a cancelled job): only an item whose write may have started is finished.
        """
        transient_failures = 0
        rate_limited = 0
        broken = 0
        while True:
            # An audit row is opened only after `attempts` is raised: a first attempt has none.
            resume = resumable_entry(item) if item.attempts else None
            if resume is not None and resume.outcome == AuditEntry.Outcome.SUCCEEDED:
                # The write was recorded as applied before the worker could record the item.
                record(item, holder, ItemStatus.SUCCEEDED, entry=resume)
                return
            if settle_only and resume is None:
                record(item, holder, ItemStatus.SKIPPED, reason=CANCELLED_REASON)
                return
            item.attempts += 1
            BulkItem.objects.filter(pk=item.pk).update(attempts=item.attempts)
            try:
                entry = self.write(item, resume)
            except actions.NotApplicable as error:
                record(item, holder, ItemStatus.SKIPPED, reason=error.reason)
                return
            except actions.StateShapeError as error:
                record(item, holder, ItemStatus.FAILED, reason=str(error))
                return
            except JOB_STOPPING_ERRORS as error:
                stop_job(
                    self.job.pk,
                    f"Stopped: {error.message} Fix the project's settings, then resume.",
                )
                self.status.forget()
                release([item.pk], holder)
                return
            except RateLimited as error:
                rate_limited += 1
                if rate_limited >= RATE_LIMITED_ATTEMPTS:
                    record(
                        item,
                        holder,
                        ItemStatus.FAILED,
                        reason=error.message,
                        upstream_status=error.status,
                    )
                    return
                # The client already paused every caller until Retry-After; Voiceflow sends 0 in
                # the last second of its window, so back off a little more each time as well,
                # for every caller of the project.
                budget.defer(self.job.environment.project_id, backoff_s(min(rate_limited, 4)))
                continue
            except VoiceflowError as error:
                if not error.permanent:
                    transient_failures += 1
                    if transient_failures < TRANSIENT_ATTEMPTS:
                        time.sleep(backoff_s(transient_failures))
                        continue
                reason = error.message
                if error.upstream_message and error.upstream_message not in reason:
                    reason = f"{reason} (Voiceflow said: {error.upstream_message})"
                record(item, holder, ItemStatus.FAILED, reason=reason, upstream_status=error.status)
                return
            except Exception as error:
                if isinstance(error, DatabaseError) and lost_the_database(error):
                    raise  # _thread_main waits for the database and hands the item on
                # The database refused this item's data, or a bug: retried like a transient
                # failure, then the item fails with the reason instead of being handed on
                # for ever. Logged without the message, which may quote the data.
                broken += 1
                logger.warning(
                    "Bulk job %s: item %s could not be processed (%s), attempt %s",
                    item.job_id,
                    item.pk,
                    type(error).__name__,
                    broken,
                    extra={"job_id": item.job_id, "item_id": item.pk},
                )
                close_old_connections()
                if broken < TRANSIENT_ATTEMPTS:
                    time.sleep(backoff_s(broken))
                    continue
                record(item, holder, ItemStatus.FAILED, reason=failure_reason(error))
                return
            record(item, holder, ItemStatus.SUCCEEDED, entry=entry, reason=left_as_is(item, entry))
            return

    def write(self, item: BulkItem, resume: AuditEntry | None) -> AuditEntry:
        context = actions.WriteContext(
            actor=self.actor,
            source=AuditEntry.Source.BULK,
            job=self.job,
            client=self.client,
            resume=resume,
            write_mode=self.job.write_mode,
            precondition=segment_recheck(self.job, item),
        )
        return actions.do_write(
            self.job.environment, item.user_id, item_change(self.job, item), context=context
        )


MOVED = "Moved since the index was read: no longer {}."


def segment_recheck(job: BulkJob, item: BulkItem):
    """For a job built from a segment: the check of each member's live state against the
    segment's conditions (segments/conditions.py), made on the state read before the write."""
    if job.segment_conditions is None:
        return None
    conditions = parse_conditions(job.segment_conditions)

    def check(state_now: dict) -> str:
        reason = mismatch(conditions, item.user_id, state_now)
        return MOVED.format(reason) if reason else ""

    return check


def left_as_is(item: BulkItem, entry: AuditEntry) -> str:
    """A campaign's end: the variables the conversation changed since, reported on the item."""
    if not isinstance(item.variables, dict) or "set" not in item.variables:
        return ""
    kept = set(actions.still_set(entry.state_before or {}, item.variables["set"]))
    changed = [name for name in item.variables["set"] if name not in kept]
    if not changed:
        return ""
    return f"Left as the conversation changed them since: {', '.join(changed)}."


def resumable_entry(item: BulkItem) -> AuditEntry | None:
    """The item's earlier audited attempt that recorded a state before its write, if any.

    Such an attempt may have reached Voiceflow (a time-out, a killed worker), so the next attempt
    resumes it instead of writing on its own.
    """
    return (
        AuditEntry.objects.filter(
            job_id=item.job_id, user_id=item.user_id, state_before__isnull=False
        )
        .exclude(outcome=AuditEntry.Outcome.CONFLICT)
        .order_by("-pk")
        .first()
    )


# ---- item and job state, each one conditional UPDATE ----


def claim(job_id: int, holder: str, count: int, *, settle_only: bool = False) -> list[BulkItem]:
    """Take up to `count` pending items; another worker's claim on the same rows wins cleanly."""
    pending = BulkItem.objects.filter(job_id=job_id, status=ItemStatus.PENDING)
    if settle_only:
        pending = pending.filter(attempts__gt=0)
    while True:
        candidates = list(pending.order_by("line_number").values_list("pk", flat=True)[: count * 4])
        if not candidates:
            return []
        random.shuffle(candidates)
        chosen = candidates[:count]
        taken = BulkItem.objects.filter(pk__in=chosen, status=ItemStatus.PENDING).update(
            status=ItemStatus.CLAIMED,
            claimed_by=holder,
            lease_until=timezone.now() + timedelta(seconds=lease_s()),
        )
        if taken:
            return list(
                BulkItem.objects.filter(pk__in=chosen, status=ItemStatus.CLAIMED, claimed_by=holder)
                .select_related("restores_entry")
                .order_by("line_number")
            )


COUNTERS = {
    ItemStatus.SUCCEEDED: "succeeded_count",
    ItemStatus.FAILED: "failed_count",
    ItemStatus.SKIPPED: "skipped_count",
}


def count_ended(job_id: int, outcome: str, how_many: int) -> None:
    """Add to the job's counter of items that ended this way (in the caller's transaction)."""
    if how_many:
        counter = COUNTERS[outcome]
        BulkJob.objects.filter(pk=job_id).update(**{counter: F(counter) + how_many})


def release(item_ids: list[int], holder: str, *, cancelled: bool = False) -> None:
    claimed = BulkItem.objects.filter(pk__in=item_ids, status=ItemStatus.CLAIMED, claimed_by=holder)
    if cancelled:
        with transaction.atomic():
            skipped = claimed.filter(attempts=0).update(
                status=ItemStatus.SKIPPED,
                claimed_by="",
                lease_until=None,
                reason=CANCELLED_REASON,
                finished_at=timezone.now(),
            )
            if skipped:
                job_id = BulkItem.objects.filter(pk=item_ids[0]).values_list("job_id", flat=True)
                count_ended(job_id.get(), ItemStatus.SKIPPED, skipped)
    claimed.update(status=ItemStatus.PENDING, claimed_by="", lease_until=None)


def record(
    item: BulkItem,
    holder: str,
    outcome: str,
    *,
    entry: AuditEntry | None = None,
    reason: str = "",
    upstream_status: int | None = None,
) -> None:
    with transaction.atomic():
        updated = BulkItem.objects.filter(
            pk=item.pk, status=ItemStatus.CLAIMED, claimed_by=holder
        ).update(
            status=outcome,
            audit_entry=entry,
            reason=storable_text(reason),
            upstream_status=upstream_status if entry is None else 200,
            finished_at=timezone.now(),
            lease_until=None,
            # claimed_by stays: which worker (host, process) finished the item.
        )
        count_ended(item.job_id, outcome, updated)
    # Item outcomes are logged with ids and line numbers only: never the userID or any value.
    fields = {
        "job_id": item.job_id,
        "item_id": item.pk,
        "line": item.line_number,
        "outcome": outcome,
        "attempts": item.attempts,
        "upstream_status": upstream_status if entry is None else 200,
    }
    if not updated:
        # The lease ran out and the sweep handed the item on; the next holder resumes the same
        # audit row, so the outcome is recorded there without a second write.
        logger.warning(
            "Bulk item %s finished after its lease was taken over", item.pk, extra=fields
        )
        return
    logger.info("Bulk job %s: item %s %s", item.job_id, item.pk, outcome, extra=fields)


def stop_job(job_id: int, reason: str) -> None:
    if BulkJob.objects.filter(pk=job_id).pause(stop_reason=reason):
        notifications.announce(job_id, notifications.FAILED)


def finish_if_done(job_id: int) -> None:
    # A cancelled job runs nothing new: items put back after the cancel (a worker that lost the
    # database, a lease that ran out) and never attempted are skipped, so the job can finish.
    BulkItem.objects.filter(
        job_id=job_id, job__status=Status.CANCELLED, status=ItemStatus.PENDING, attempts=0
    ).update(status=ItemStatus.SKIPPED, reason=CANCELLED_REASON, finished_at=timezone.now())
    open_items = BulkItem.objects.filter(
        job_id=job_id, status__in=[ItemStatus.PENDING, ItemStatus.CLAIMED]
    )
    if open_items.exists():
        return
    if BulkJob.objects.filter(pk=job_id).complete():
        counts = item_counts(job_id)
        logger.info(
            "Bulk job %s completed",
            job_id,
            extra={"job_id": job_id, "outcome": "completed"} | counts,
        )
        notifications.announce(
            job_id, notifications.FAILED if counts.get("failed") else notifications.FINISHED
        )
    BulkJob.objects.filter(pk=job_id).end_cancelled()


def refresh_statistics() -> None:
    """Let the query planner see the item and audit tables as they are now.

    A job's items arrive in one go (an upload of up to a million rows). Until the planner's
    statistics know it, SQLite may answer the claim's "next pending items of this job" from the
    wrong index: 85 ms per claim at 1.1 million pending rows instead of 0.03 ms. PostgreSQL's
    autovacuum catches up by itself, but only after a while. Sampling keeps this cheap on both.
    """
    tables = [BulkItem._meta.db_table, AuditEntry._meta.db_table]
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("PRAGMA analysis_limit = 1000")
            for table in tables:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    except DatabaseError:
        logger.warning("Could not refresh the planner's statistics", exc_info=True)


def run_job(job_id: int) -> None:
    """The body of the Celery task: work on the job until no item is left to claim."""
    close_old_connections()
    refresh_statistics()
    BulkJob.objects.filter(pk=job_id).mark_running()
    BulkJob.objects.filter(pk=job_id, started_at__isnull=True).exclude(status=Status.DRAFT).update(
        started_at=timezone.now()
    )
    job = (
        BulkJob.objects.select_related("environment__project", "started_by", "created_by")
        .filter(pk=job_id, status__in=[Status.RUNNING, Status.CANCELLED])
        .first()
    )
    if job is None:
        return
    logger.info(
        "Bulk job %s: a worker task started on it",
        job_id,
        extra={"job_id": job_id, "kind": job.kind},
    )
    Runner(job).run()


def sweep() -> list[int]:
    """Hand on work whose worker vanished; returns the ids of the jobs to queue again.

    1. Claimed items whose lease expired go back to pending (their pending audit row is resumed
       by whoever claims them next).
    2. Jobs with work left and no sign of life for a lease are returned, for the sweep's task to
       queue again (tasks.sweep_stalled_jobs).
    """
    now = timezone.now()
    released = BulkItem.objects.filter(status=ItemStatus.CLAIMED, lease_until__lt=now).update(
        status=ItemStatus.PENDING, claimed_by="", lease_until=None
    )
    if released:
        logger.warning("Sweep: %s bulk items whose lease ran out are pending again", released)
    stale = now - timedelta(seconds=lease_s())
    requeued = []
    candidates = BulkJob.objects.filter(
        status__in=[Status.QUEUED, Status.RUNNING, Status.CANCELLED]
    ).exclude(heartbeat_at__gt=stale)
    for job in candidates:
        work_left = job.items.filter(status=ItemStatus.PENDING)
        if job.status == Status.CANCELLED:
            work_left = work_left.filter(attempts__gt=0)
        if not work_left.exists():
            finish_if_done(job.pk)
            continue
        if (
            BulkJob.objects.filter(pk=job.pk)
            .exclude(heartbeat_at__gt=stale)
            .update(heartbeat_at=now)
        ):
            logger.warning(
                "Sweep: bulk job %s had no sign of life for a lease; queued again",
                job.pk,
                extra={"job_id": job.pk},
            )
            notifications.announce(job.pk, notifications.STALLED)
            requeued.append(job.pk)
    return requeued
