"""Creating and controlling bulk jobs: what pages, the REST API and commands call.

A job built from an input is created by `create_job`: the input is stored and checked row by row
(checking.py), and the job stays a draft until an operator starts it. Jobs built from records
already checked (a segment's members, an undo, a campaign's end) are drafts at once. Each status
change is one `BulkJob.objects` transition (a conditional UPDATE, models.py), so two operators
(or an operator and a worker) never undo each other's change; work is queued only after the
transaction commits (tasks.py).
"""

import itertools
from collections.abc import Iterable
from typing import IO

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..audit import record_job_control
from ..models import AuditEntry, BulkItem, BulkJob, Environment, WriteMode
from ..notifications import check_notify_targets
from ..segments import members, parse_conditions
from .checking import ALREADY_STARTED, BATCH_SIZE, start_refusal, store_input
from .engine import CANCELLED_REASON
from .tasks import enqueue, enqueue_validation, validate_upload

Status = BulkJob.Status
ItemStatus = BulkItem.Status


class JobStateError(Exception):
    """The job cannot do that in its current state; the message says why, for a person."""


SEGMENT_KINDS = (BulkJob.Kind.PRELOAD, BulkJob.Kind.RESET, BulkJob.Kind.REMOVE_VARIABLES)


def store_items(job: BulkJob, items: Iterable[BulkItem]) -> None:
    """Store the items of a job made from records already checked (a segment, an undo, a
    campaign's end, a schedule's copy), BATCH_SIZE at a time, with a report of no problems."""
    items = iter(items)
    while batch := list(itertools.islice(items, BATCH_SIZE)):
        BulkItem.objects.bulk_create(batch)
    job.total_items = job.items.count()
    job.validation_report = {
        "valid_rows": job.total_items,
        "bad_rows": 0,
        "problem_count": 0,
        "problems": [],
        "fatal": False,
    }
    job.save(update_fields=["total_items", "validation_report"])


def create_job_from_segment(
    segment,
    actor: AbstractBaseUser | None,
    *,
    kind: str,
    variables: dict | None = None,
    variable_names: list[str] | None = None,
    schedule=None,
    campaign_ends_at=None,
    notify_emails: str = "",
    notify_webhook_url: str = "",
) -> BulkJob:
    """A draft job over the segment's indexed members: set `variables` (preload), reset, or
    remove `variable_names`. The conditions are kept on the job; at run time each member's live
    state is checked against them again, and one that moved is skipped and reported. What the
    page, the API, the command and a schedule's run all call; a refusal (`ValueError`) names the
    problem and creates nothing."""
    if kind not in SEGMENT_KINDS:
        raise ValueError("A segment job sets variables, resets sessions or removes variables.")
    if kind == BulkJob.Kind.PRELOAD and (not isinstance(variables, dict) or not variables):
        raise ValueError("Give the variables to set, as a JSON object.")
    names = [name.strip() for name in (variable_names or []) if isinstance(name, str)]
    names = [name for name in names if name]
    if kind == BulkJob.Kind.REMOVE_VARIABLES and not names:
        raise ValueError("Name at least one variable to remove.")
    if campaign_ends_at is not None and kind != BulkJob.Kind.PRELOAD:
        raise ValueError("Only a job that sets variables (a preload) can carry a campaign end.")
    if campaign_ends_at is not None and campaign_ends_at <= timezone.now():
        raise ValueError("The campaign's end is in the past.")
    check_notify_targets(notify_emails, notify_webhook_url)
    conditions = parse_conditions(segment.conditions)
    with transaction.atomic():
        return _store_segment_job(
            segment,
            actor,
            conditions,
            kind=kind,
            variables=variables,
            variable_names=names,
            schedule=schedule,
            campaign_ends_at=campaign_ends_at,
            notify_emails=notify_emails,
            notify_webhook_url=notify_webhook_url,
        )


def _store_segment_job(
    segment, actor, conditions, *, kind, variables, variable_names, **fields
) -> BulkJob:
    job = BulkJob.objects.create(
        kind=kind,
        environment=segment.environment,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        source_name=f"segment {segment.name}"[:255],
        source_format="segment",
        segment=segment,
        segment_conditions=[condition.as_dict() for condition in conditions],
        variable_names=variable_names if kind == BulkJob.Kind.REMOVE_VARIABLES else [],
        **fields,
    )
    rows = members(segment.environment, conditions).values_list("user_id", flat=True)
    store_items(
        job,
        (
            BulkItem(
                job=job,
                line_number=line,
                user_id=user_id,
                variables=variables if kind == BulkJob.Kind.PRELOAD else None,
            )
            for line, user_id in enumerate(rows.iterator(chunk_size=BATCH_SIZE), start=1)
        ),
    )
    return job


def create_campaign_end_job(job: BulkJob, actor: AbstractBaseUser | None = None) -> BulkJob:
    """A draft that takes off the values a preload set, where they are still the values it set;
    each variable gets back its value from before the preload (or goes, if it had none)."""
    if job.kind != BulkJob.Kind.PRELOAD:
        raise JobStateError("Only a preload's values can be taken off.")
    applied = (
        job.items.filter(status=ItemStatus.SUCCEEDED, audit_entry__isnull=False)
        .select_related("audit_entry")
        .order_by("line_number")
    )
    end = BulkJob.objects.create(
        kind=BulkJob.Kind.CAMPAIGN_END,
        environment=job.environment,
        created_by=actor if actor is not None and actor.is_authenticated else job.created_by,
        undo_of=job,
        source_name=f"end of campaign {job}"[:255],
        notify_emails=job.notify_emails,
        notify_webhook_url=job.notify_webhook_url,
    )

    def item_ending(item: BulkItem) -> BulkItem:
        values_set = item.variables or {}
        before = (item.audit_entry.state_before or {}).get("variables") or {}
        return BulkItem(
            job=end,
            line_number=item.line_number,
            user_id=item.user_id,
            variables={
                "set": values_set,
                "before": {name: before[name] for name in values_set if name in before},
            },
            restores_entry=item.audit_entry,
        )

    store_items(end, (item_ending(item) for item in applied.iterator(chunk_size=BATCH_SIZE)))
    BulkJob.objects.filter(pk=job.pk).update(campaign_end_job=end)
    return end


def create_undo_job(job: BulkJob, actor: AbstractBaseUser | None) -> BulkJob:
    """A draft job that puts back the state before each write the job applied."""
    if job.status not in (Status.COMPLETED, Status.CANCELLED, Status.PAUSED):
        raise JobStateError("Only a finished, cancelled or paused job can be undone.")
    if job.write_mode == WriteMode.SINGLE_REQUEST:
        raise JobStateError(
            "This job ran without undo (one request per user): no state before was read."
        )
    applied = (
        job.items.filter(status=ItemStatus.SUCCEEDED, audit_entry__isnull=False)
        .exclude(audit_entry__state_before__isnull=True)
        .select_related("audit_entry")
        .order_by("line_number")
    )
    undo = BulkJob.objects.create(
        kind=BulkJob.Kind.UNDO,
        environment=job.environment,
        created_by=actor,
        undo_of=job,
        source_name=f"undo of {job}",
    )
    store_items(
        undo,
        (
            BulkItem(
                job=undo,
                line_number=item.line_number,
                user_id=item.user_id,
                state_to_restore=item.audit_entry.state_before,
                restores_entry=item.audit_entry,
            )
            for item in applied.iterator(chunk_size=BATCH_SIZE)
        ),
    )
    return undo


# ---- creating a job from an input ----


def create_job(
    environment: Environment,
    actor: AbstractBaseUser | None,
    *,
    kind: str,
    source_format: str,
    binary: IO[bytes] | Iterable[bytes],
    source_name: str = "",
    variables: dict | None = None,
    start: dict | None = None,
    check_here: bool = False,
) -> BulkJob:
    """The one way a page, the REST API or a command creates a job from an input: a file, or a
    list of userIDs that all get `variables` (a preload) or are reset.

    The job and its stored input are created in one transaction, and the check is queued only
    once it commits: a worker checks every row while the caller answers at once (the job page
    shows the check's progress). `check_here` checks the rows in this process before returning,
    for a command that reports them. `start` (confirm_production, skip_bad_rows) starts the job
    as soon as the check allows. Raises InputRefused when the first bytes show that no row can
    run, ValueError when the kind, format or variables do not fit; nothing is created then.
    """
    with transaction.atomic():
        job = store_input(
            environment,
            actor,
            kind=kind,
            source_format=source_format,
            binary=binary,
            source_name=source_name,
            variables=variables,
            start=start,
        )
        if not check_here:
            enqueue_validation(job.pk)
    if check_here:
        validate_upload(job.pk)
        job.refresh_from_db()
    return job


# ---- control ----


def start_job(
    job: BulkJob,
    actor: AbstractBaseUser | None,
    *,
    confirmed_production: bool = False,
    skip_bad_rows: bool = False,
    write_mode: str = WriteMode.READ_FIRST,
) -> BulkJob:
    """Queue a draft, if `checking.start_refusal` allows (production needs
    `confirmed_production`, a file with bad rows `skip_bad_rows`). `write_mode` SINGLE_REQUEST
    is the operator's "no undo for this job": one request per user."""
    refusal = start_refusal(
        job,
        confirmed_production=confirmed_production,
        skip_bad_rows=skip_bad_rows,
        write_mode=write_mode,
    )
    if refusal is not None:
        raise JobStateError(refusal)
    with transaction.atomic():
        if not BulkJob.objects.filter(pk=job.pk).start(actor, write_mode):
            raise JobStateError(ALREADY_STARTED)
        enqueue(job.pk)
    job.refresh_from_db()
    return job


def pause_job(job: BulkJob, actor: AbstractBaseUser | None, *, source: str) -> BulkJob:
    """Workers finish the item in hand and start no other."""
    with transaction.atomic():
        paused = BulkJob.objects.filter(pk=job.pk).pause()
        job.refresh_from_db()
        if not paused:
            raise JobStateError("Only a queued or running job can be paused.")
        record_job_control(job, AuditEntry.Action.JOB_PAUSED, actor=actor, source=source)
    return job


def resume_job(job: BulkJob, actor: AbstractBaseUser | None, *, source: str) -> BulkJob:
    with transaction.atomic():
        if not BulkJob.objects.filter(pk=job.pk).resume():
            job.refresh_from_db()
            raise JobStateError("Only a paused job can be resumed.")
        record_job_control(job, AuditEntry.Action.JOB_RESUMED, actor=actor, source=source)
        enqueue(job.pk)
    job.refresh_from_db()
    return job


def cancel_job(job: BulkJob, actor: AbstractBaseUser | None, *, source: str) -> BulkJob:
    """No item starts any more. An item whose write had started is finished (never left half
    known); every item not started is recorded as skipped."""
    with transaction.atomic():
        if not BulkJob.objects.filter(pk=job.pk).cancel():
            job.refresh_from_db()
            raise JobStateError("Only a queued, running or paused job can be cancelled.")
        record_job_control(job, AuditEntry.Action.JOB_CANCELLED, actor=actor, source=source)
        skipped = job.items.filter(status=ItemStatus.PENDING, attempts=0).update(
            status=ItemStatus.SKIPPED,
            reason=CANCELLED_REASON,
            finished_at=timezone.now(),
        )
        BulkJob.objects.filter(pk=job.pk).update(skipped_count=F("skipped_count") + skipped)
        if job.items.filter(status=ItemStatus.PENDING).exists():
            enqueue(job.pk)
        elif not job.items.filter(status=ItemStatus.CLAIMED).exists():
            BulkJob.objects.filter(pk=job.pk).end_cancelled()
    job.refresh_from_db()
    return job


def retry_failed(job: BulkJob, actor: AbstractBaseUser | None = None) -> int:
    """Run the failed items of a finished job again; returns how many."""
    with transaction.atomic():
        if not BulkJob.objects.filter(pk=job.pk).reopen():
            job.refresh_from_db()
            raise JobStateError("Failed items can be retried once the job has finished.")
        count = job.items.filter(status=ItemStatus.FAILED).update(
            status=ItemStatus.PENDING, reason="", upstream_status=None, finished_at=None
        )
        if count == 0:
            raise JobStateError("This job has no failed items.")  # the reopening rolls back
        BulkJob.objects.filter(pk=job.pk).update(failed_count=F("failed_count") - count)
        if actor is not None and actor.is_authenticated:
            BulkJob.objects.filter(pk=job.pk).update(started_by=actor)
        enqueue(job.pk)
    job.refresh_from_db()
    return count


def discard_draft(job: BulkJob) -> None:
    if job.status not in (Status.DRAFT, Status.REFUSED):
        raise JobStateError("Only a draft can be discarded; a started job stays on record.")
    job.delete()
