"""Creating and controlling bulk jobs: what pages, the REST API and commands call.

A job is built from its input in one streamed pass (rows become `BulkItem`s in batches; problems
go to the validation report) and stays a draft until an operator starts it. Control functions
change the job's status with conditional updates, so two operators (or an operator and a worker)
never undo each other's change, and enqueue work only after the transaction commits.
"""

from collections.abc import Iterable, Iterator
from typing import IO

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from ..models import BulkItem, BulkJob, Environment
from ..voiceflow import user_id_warning
from .parsing import Problem, Row, read_csv, read_jsonl, read_user_ids, text_lines_as_binary

BATCH_SIZE = 1000
# The report lists at most this many problems (the counts stay exact); the operator fixes the
# file and uploads it again anyway.
PROBLEMS_KEPT = 1000

Status = BulkJob.Status
ItemStatus = BulkItem.Status


class JobStateError(Exception):
    """The job cannot do that in its current state; the message says why, for a person."""


# Why the items a cancelled job never ran are skipped.
CANCELLED_REASON = "Not run: the job was cancelled."


class Format:
    CSV = "csv"
    JSONL = "jsonl"
    USER_LIST = "list"


def format_for(filename: str, kind: str) -> str:
    """The format an upload is read in when none is named: a reset reads userIDs, otherwise
    the file's extension decides (CSV by default)."""
    lowered = filename.lower()
    if kind == BulkJob.Kind.RESET or lowered.endswith(".txt"):
        return Format.USER_LIST
    if lowered.endswith((".jsonl", ".ndjson")):
        return Format.JSONL
    return Format.CSV


def create_job_from_upload(
    environment: Environment,
    actor: AbstractBaseUser | None,
    *,
    kind: str,
    source_format: str,
    binary: IO[bytes] | Iterable[bytes],
    source_name: str = "",
    variables: dict | None = None,
) -> BulkJob:
    """Validate an input row by row and create a draft job holding its valid rows.

    `kind` is preload or reset. Preloads read a CSV, JSON Lines, or a list of userIDs that all get
    `variables`; resets read a list of userIDs. Nothing is sent to Voiceflow.
    """
    if kind == BulkJob.Kind.RESET:
        if source_format != Format.USER_LIST:
            raise ValueError("A reset reads a list of userIDs.")
        stream = read_user_ids(binary)
    elif kind == BulkJob.Kind.PRELOAD:
        if source_format == Format.CSV:
            stream = read_csv(binary)
        elif source_format == Format.JSONL:
            stream = read_jsonl(binary)
        elif source_format == Format.USER_LIST:
            if not variables:
                raise ValueError("A preload for a list of userIDs needs the variables to set.")
            stream = read_user_ids(binary, variables)
        else:
            raise ValueError(f"Unknown input format {source_format!r}.")
    else:
        raise ValueError(f"Jobs built from an input are preloads or resets, not {kind!r}.")
    job = BulkJob.objects.create(
        kind=kind,
        environment=environment,
        created_by=actor,
        source_name=source_name[:255],
        source_format=source_format,
    )
    _fill(job, stream)
    return job


def create_job_from_text(
    environment: Environment,
    actor: AbstractBaseUser | None,
    *,
    kind: str,
    text: str,
    variables: dict | None = None,
) -> BulkJob:
    """The same for a pasted list of userIDs."""
    return create_job_from_upload(
        environment,
        actor,
        kind=kind,
        source_format=Format.USER_LIST,
        binary=text_lines_as_binary(text),
        source_name="pasted list",
        variables=variables,
    )


def _fill(job: BulkJob, stream: Iterator[Row | Problem]) -> None:
    first_line_of: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    problems: list[dict] = []
    problem_count = 0
    bad_lines = 0
    last_bad_line: int | None = None
    fatal = False
    long_user_ids = 0  # longer than hosted Voiceflow documents: sent, with a warning
    batch: list[BulkItem] = []

    def note(problem: Problem) -> None:
        nonlocal problem_count, bad_lines, last_bad_line, fatal
        problem_count += 1
        fatal = fatal or problem.fatal
        if problem.line is None or problem.line != last_bad_line:
            bad_lines += 1
            last_bad_line = problem.line
        if len(problems) < PROBLEMS_KEPT:
            problems.append(problem.as_dict())

    for entry in stream:
        if isinstance(entry, Problem):
            note(entry)
            continue
        first = first_line_of.get(entry.user_id)
        if first is not None:
            duplicates.setdefault(entry.user_id, [first]).append(entry.line)
            note(
                Problem(
                    entry.line,
                    f"Duplicate userID: it is already on line {first}. Neither line runs until the "
                    "file names each userID once.",
                    column="userID",
                    value=entry.user_id,
                )
            )
            continue
        first_line_of[entry.user_id] = entry.line
        long_user_ids += bool(user_id_warning(entry.user_id))
        batch.append(
            BulkItem(
                job=job, line_number=entry.line, user_id=entry.user_id, variables=entry.variables
            )
        )
        if len(batch) >= BATCH_SIZE:
            BulkItem.objects.bulk_create(batch)
            batch = []
    if batch:
        BulkItem.objects.bulk_create(batch)

    for user_id, lines in duplicates.items():
        note(
            Problem(
                lines[0],
                f"This userID appears again on line {', '.join(map(str, lines[1:]))}; neither line runs.",
                column="userID",
                value=user_id,
            )
        )
    if duplicates:
        names = list(duplicates)
        for start in range(0, len(names), BATCH_SIZE):
            job.items.filter(user_id__in=names[start : start + BATCH_SIZE]).delete()
    if fatal:
        job.items.all().delete()
    problems.sort(key=lambda p: (p["line"] is not None, p["line"] or 0))
    job.total_items = job.items.count()
    job.validation_report = {
        "valid_rows": job.total_items,
        "bad_rows": bad_lines,
        "problem_count": problem_count,
        "problems": problems,
        "fatal": fatal,
        "long_user_ids": long_user_ids,
    }
    job.save(update_fields=["total_items", "validation_report"])


SEGMENT_KINDS = (BulkJob.Kind.PRELOAD, BulkJob.Kind.RESET, BulkJob.Kind.REMOVE_VARIABLES)


def create_job_from_segment(
    segment,
    actor: AbstractBaseUser | None,
    *,
    kind: str,
    variables: dict | None = None,
    variable_names: list[str] | None = None,
    schedule=None,
) -> BulkJob:
    """A draft job over the segment's indexed members: set `variables` (preload), reset, or
    remove `variable_names`. The conditions are kept on the job; at run time each member's live
    state is checked against them again, and one that moved is skipped and reported."""
    from ..segments import members, parse_conditions

    if kind not in SEGMENT_KINDS:
        raise ValueError("A segment job sets variables, resets sessions or removes variables.")
    if kind == BulkJob.Kind.PRELOAD and (not isinstance(variables, dict) or not variables):
        raise ValueError("Give the variables to set, as a JSON object.")
    names = [name.strip() for name in (variable_names or []) if isinstance(name, str)]
    names = [name for name in names if name]
    if kind == BulkJob.Kind.REMOVE_VARIABLES and not names:
        raise ValueError("Name at least one variable to remove.")
    conditions = parse_conditions(segment.conditions)
    job = BulkJob.objects.create(
        kind=kind,
        environment=segment.environment,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        source_name=f"segment {segment.name}"[:255],
        source_format="segment",
        segment=segment,
        segment_conditions=[condition.as_dict() for condition in conditions],
        variable_names=names if kind == BulkJob.Kind.REMOVE_VARIABLES else [],
        schedule=schedule,
    )
    rows = members(segment.environment, conditions).values_list("user_id", flat=True)
    batch: list[BulkItem] = []
    for line, user_id in enumerate(rows.iterator(chunk_size=BATCH_SIZE), start=1):
        batch.append(
            BulkItem(
                job=job,
                line_number=line,
                user_id=user_id,
                variables=variables if kind == BulkJob.Kind.PRELOAD else None,
            )
        )
        if len(batch) >= BATCH_SIZE:
            BulkItem.objects.bulk_create(batch)
            batch = []
    if batch:
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
    batch: list[BulkItem] = []
    for item in applied.iterator(chunk_size=BATCH_SIZE):
        values_set = item.variables or {}
        before = (item.audit_entry.state_before or {}).get("variables") or {}
        batch.append(
            BulkItem(
                job=end,
                line_number=item.line_number,
                user_id=item.user_id,
                variables={
                    "set": values_set,
                    "before": {name: before[name] for name in values_set if name in before},
                },
                restores_entry=item.audit_entry,
            )
        )
        if len(batch) >= BATCH_SIZE:
            BulkItem.objects.bulk_create(batch)
            batch = []
    if batch:
        BulkItem.objects.bulk_create(batch)
    end.total_items = end.items.count()
    end.validation_report = {
        "valid_rows": end.total_items,
        "bad_rows": 0,
        "problem_count": 0,
        "problems": [],
        "fatal": False,
    }
    end.save(update_fields=["total_items", "validation_report"])
    BulkJob.objects.filter(pk=job.pk).update(campaign_end_job=end)
    return end


def create_undo_job(job: BulkJob, actor: AbstractBaseUser | None) -> BulkJob:
    """A draft job that puts back the state before each write the job applied."""
    if job.status not in (Status.COMPLETED, Status.CANCELLED, Status.PAUSED):
        raise JobStateError("Only a finished, cancelled or paused job can be undone.")
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
    batch: list[BulkItem] = []
    for item in applied.iterator(chunk_size=BATCH_SIZE):
        batch.append(
            BulkItem(
                job=undo,
                line_number=item.line_number,
                user_id=item.user_id,
                state_to_restore=item.audit_entry.state_before,
                restores_entry=item.audit_entry,
            )
        )
        if len(batch) >= BATCH_SIZE:
            BulkItem.objects.bulk_create(batch)
            batch = []
    if batch:
        BulkItem.objects.bulk_create(batch)
    undo.total_items = undo.items.count()
    undo.validation_report = {
        "valid_rows": undo.total_items,
        "bad_rows": 0,
        "problem_count": 0,
        "problems": [],
        "fatal": False,
    }
    undo.save(update_fields=["total_items", "validation_report"])
    return undo


# ---- control ----


def _enqueue(job: BulkJob) -> None:
    from .tasks import enqueue

    BulkJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    enqueue(job.pk)


def _change_status(job: BulkJob, from_statuses: Iterable[str], to_status: str, **fields) -> bool:
    changed = BulkJob.objects.filter(pk=job.pk, status__in=list(from_statuses)).update(
        status=to_status, **fields
    )
    job.refresh_from_db()
    return bool(changed)


def start_job(
    job: BulkJob,
    actor: AbstractBaseUser | None,
    *,
    confirmed_production: bool = False,
    skip_bad_rows: bool = False,
) -> BulkJob:
    """Queue a draft. Production needs `confirmed_production`; a file with bad rows needs
    `skip_bad_rows` (the operator chose to run the valid rows only)."""
    report = job.validation_report or {}
    if job.status != Status.DRAFT:
        raise JobStateError("This job has already been started.")
    if report.get("fatal") or job.total_items == 0:
        raise JobStateError("This job has no rows that can run; upload a corrected file.")
    if report.get("bad_rows") and not skip_bad_rows:
        raise JobStateError(
            f"{report['bad_rows']} rows have problems. Upload a corrected file, or choose to run "
            f"the {job.total_items} valid rows only."
        )
    if job.environment.is_production and not confirmed_production:
        raise JobStateError(
            "This is a production environment: confirm that the job may change live conversations."
        )
    with transaction.atomic():
        if not _change_status(
            job,
            [Status.DRAFT],
            Status.QUEUED,
            started_by=actor if actor and actor.is_authenticated else None,
        ):
            raise JobStateError("This job has already been started.")
        _enqueue(job)
    return job


def pause_job(job: BulkJob, actor: AbstractBaseUser | None = None) -> BulkJob:
    """Workers finish the item in hand and start no other."""
    if not _change_status(job, [Status.QUEUED, Status.RUNNING], Status.PAUSED):
        raise JobStateError("Only a queued or running job can be paused.")
    return job


def resume_job(job: BulkJob, actor: AbstractBaseUser | None = None) -> BulkJob:
    with transaction.atomic():
        if not _change_status(job, [Status.PAUSED], Status.QUEUED, stop_reason=""):
            raise JobStateError("Only a paused job can be resumed.")
        _enqueue(job)
    return job


def cancel_job(job: BulkJob, actor: AbstractBaseUser | None = None) -> BulkJob:
    """No item starts any more. An item whose write had started is finished (never left half
    known); every item not started is recorded as skipped."""
    with transaction.atomic():
        if not _change_status(
            job, [Status.QUEUED, Status.RUNNING, Status.PAUSED], Status.CANCELLED
        ):
            raise JobStateError("Only a queued, running or paused job can be cancelled.")
        job.items.filter(status=ItemStatus.PENDING, attempts=0).update(
            status=ItemStatus.SKIPPED,
            reason=CANCELLED_REASON,
            finished_at=timezone.now(),
        )
        if job.items.filter(status=ItemStatus.PENDING).exists():
            _enqueue(job)
        elif not job.items.filter(status=ItemStatus.CLAIMED).exists():
            BulkJob.objects.filter(pk=job.pk, finished_at__isnull=True).update(
                finished_at=timezone.now()
            )
    job.refresh_from_db()
    return job


def retry_failed(job: BulkJob, actor: AbstractBaseUser | None = None) -> int:
    """Run the failed items of a finished job again; returns how many."""
    with transaction.atomic():
        if not _change_status(job, [Status.COMPLETED], Status.QUEUED, finished_at=None):
            raise JobStateError("Failed items can be retried once the job has finished.")
        count = job.items.filter(status=ItemStatus.FAILED).update(
            status=ItemStatus.PENDING, reason="", upstream_status=None, finished_at=None
        )
        if count == 0:
            _change_status(job, [Status.QUEUED], Status.COMPLETED, finished_at=timezone.now())
            raise JobStateError("This job has no failed items.")
        if actor is not None and actor.is_authenticated:
            BulkJob.objects.filter(pk=job.pk).update(started_by=actor)
        _enqueue(job)
    return count


def discard_draft(job: BulkJob) -> None:
    if job.status != Status.DRAFT:
        raise JobStateError("Only a draft can be discarded; a started job stays on record.")
    job.delete()
