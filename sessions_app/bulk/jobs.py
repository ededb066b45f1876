"""Creating and controlling bulk jobs: what pages, the REST API and commands call.

A job is built from its input in one streamed pass (rows become `BulkItem`s in batches; problems
go to the validation report) and stays a draft until an operator starts it. Control functions
change the job's status with conditional updates, so two operators (or an operator and a worker)
never undo each other's change, and enqueue work only after the transaction commits.
"""

import io
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..audit import record_job_control
from ..models import (
    USER_ID_MAX_LENGTH,
    AuditEntry,
    BulkItem,
    BulkJob,
    BulkRejectedRow,
    BulkUploadChunk,
    Environment,
    WriteMode,
)
from ..stored_json import storable_text
from ..voiceflow import user_id_warning
from .parsing import Problem, Row, read_csv, read_jsonl, read_user_ids, text_lines_as_binary

BATCH_SIZE = 1000
# A stored input is kept and read back in pieces of this size.
UPLOAD_CHUNK_BYTES = 1024 * 1024
# The web process looks at this much of an input before it stores it (to refuse a PNG, an empty
# file or a header alone on the form); the rows are checked by a worker.
HEAD_BYTES = 64 * 1024
# The report lists at most this many problems (the counts stay exact); the operator fixes the
# file and uploads it again anyway.
PROBLEMS_KEPT = 1000
# How many later lines a duplicated userID's first line names.
LATER_LINES_NAMED = 20
# Marks, while a file is read, the first line of a userID that appears again.
DUPLICATE_MARK = "duplicate userID"

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
    stream = _reader(kind, source_format, variables)(binary)
    job = BulkJob.objects.create(
        kind=kind,
        environment=environment,
        created_by=actor,
        source_name=source_name[:255],
        source_format=source_format,
    )
    _fill(job, stream)
    return job


def _reader(
    kind: str, source_format: str, variables: dict | None
) -> Callable[[IO[bytes] | Iterable[bytes]], Iterator[Row | Problem]]:
    """The reader an input of this kind and format is checked with; ValueError says why none."""
    if kind == BulkJob.Kind.RESET:
        if source_format != Format.USER_LIST:
            raise ValueError("A reset reads a list of userIDs.")
        return read_user_ids
    if kind == BulkJob.Kind.PRELOAD:
        if source_format == Format.CSV:
            return read_csv
        if source_format == Format.JSONL:
            return read_jsonl
        if source_format == Format.USER_LIST:
            if not variables:
                raise ValueError("A preload for a list of userIDs needs the variables to set.")
            return lambda binary: read_user_ids(binary, variables)
        raise ValueError(f"Unknown input format {source_format!r}.")
    raise ValueError(f"Jobs built from an input are preloads or resets, not {kind!r}.")


# ---- validation as a job: the web process stores the input, a worker checks it ----


class InputRefused(ValueError):
    """The input has no row that can run, as its first bytes already show (a PNG, an empty
    file, a header and nothing else): refused on the form, no job is created."""

    def __init__(self, message: str, problems: list[dict]) -> None:
        super().__init__(message)
        self.problems = problems


def _pieces(binary: IO[bytes] | Iterable[bytes]) -> Iterator[bytes]:
    """The input in pieces of about UPLOAD_CHUNK_BYTES (an uploaded file, a file, or lines)."""
    if hasattr(binary, "chunks"):  # Django's UploadedFile: from memory or its temporary file
        source: Iterable[bytes] = binary.chunks(UPLOAD_CHUNK_BYTES)
    elif hasattr(binary, "read"):
        source = iter(lambda: binary.read(UPLOAD_CHUNK_BYTES), b"")
    else:
        source = binary
    pending = bytearray()
    for piece in source:
        pending += piece
        if len(pending) >= UPLOAD_CHUNK_BYTES:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


def _head_refusal(reader, head: bytes, complete: bool, name: str) -> InputRefused | None:
    """Whether the first bytes alone show that no row can run. Reads at most HEAD_BYTES, stops
    at the first usable row, and when the head is not the whole file, trusts only problems of
    the first lines (what the file is, its header, its type row)."""
    problems: list[Problem] = []
    for entry in reader(io.BytesIO(head)):
        if isinstance(entry, Row):
            return None
        problems.append(entry)
        if entry.fatal:
            if complete or (entry.line or 1) <= 2:
                break
            return None
    if not problems or not (complete or problems[-1].fatal):
        return None
    fatal = next((problem for problem in problems if problem.fatal), None)
    if fatal is not None:
        message = fatal.message
    else:
        bad = len({problem.line for problem in problems})
        message = (
            f"No row of {name or 'this input'} can run: "
            f"{_rows(bad, 'row')} {'has' if bad == 1 else 'have'} problems."
        )
    return InputRefused(message, [problem.as_dict() for problem in problems[:PROBLEMS_KEPT]])


def receive_upload(
    environment: Environment,
    actor: AbstractBaseUser | None,
    *,
    kind: str,
    source_format: str,
    binary: IO[bytes] | Iterable[bytes],
    source_name: str = "",
    variables: dict | None = None,
    start: dict | None = None,
) -> BulkJob:
    """Store an input and queue its check by a worker; the caller answers at once.

    The job shows "Checking the input" with its progress until the worker has made it a draft
    (or refused it). `start` (confirm_production, skip_bad_rows) starts the job as soon as the
    check allows, for the API's `start`. An input whose first bytes show it has no usable row
    raises InputRefused and creates nothing.
    """
    reader = _reader(kind, source_format, variables)
    pieces = _pieces(binary)
    first = next(pieces, b"")
    refusal = _head_refusal(
        reader,
        first[:HEAD_BYTES],
        complete=len(first) <= HEAD_BYTES,
        name=source_name,
    )
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        job = BulkJob.objects.create(
            kind=kind,
            status=Status.VALIDATING,
            environment=environment,
            created_by=actor if actor is not None and actor.is_authenticated else None,
            source_name=source_name[:255],
            source_format=source_format,
            heartbeat_at=timezone.now(),
        )
        size = 0
        for index, piece in enumerate(itertools.chain([first], pieces)):
            BulkUploadChunk.objects.create(job=job, index=index, data=piece)
            size += len(piece)
        job.validation_report = {
            "checking": True,
            "bytes_total": size,
            "bytes_read": 0,
            "rows_read": 0,
            "variables": variables,
            "start": start,
            "started_by": actor.pk
            if start and actor is not None and actor.is_authenticated
            else None,
        }
        job.save(update_fields=["validation_report"])
        from .tasks import enqueue_validation

        enqueue_validation(job.pk)
    return job


class _StoredUpload:
    """The stored pieces of a job's input as lines of bytes, one piece in memory at a time."""

    def __init__(self, job: BulkJob) -> None:
        self.job = job
        self.bytes_read = 0

    def __iter__(self) -> Iterator[bytes]:
        rest = b""
        # One query a piece, each finished at once: a read left open across the check's writes
        # would hold an old snapshot, and SQLite refuses to write from one (SQLITE_BUSY).
        for index in itertools.count():
            data = (
                BulkUploadChunk.objects.filter(job=self.job, index=index)
                .values_list("data", flat=True)
                .first()
            )
            if data is None:
                break
            data = bytes(data)
            self.bytes_read += len(data)
            lines = (rest + data).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line + b"\n"
        if rest:
            yield rest


class _CheckTakenOver(Exception):
    """Another check of the same input took the job over (this one was presumed dead)."""


def validate_upload(job_id: int) -> None:
    """The worker's part: check a stored input row by row, with progress the page polls, then
    make the job a draft (or refuse it when no row can run) and drop the stored input.

    Run again after a worker died, it starts over: what the first run stored is removed first.
    """
    job = BulkJob.objects.filter(pk=job_id, status=Status.VALIDATING).first()
    if job is None:
        return
    # One check at a time: this one takes the job only if nobody touched it since it was read
    # (a check queued again by the sweep while the first still runs gives way, and vice versa).
    pending = dict(job.validation_report or {}) | {"checker": uuid.uuid4().hex}
    mine = BulkJob.objects.filter(
        pk=job.pk, status=Status.VALIDATING, heartbeat_at=job.heartbeat_at
    ).update(heartbeat_at=timezone.now(), validation_report=pending)
    if not mine:
        return
    job.items.all().delete()
    job.rejected_rows.all().delete()
    upload = _StoredUpload(job)
    rows_read = 0

    def progress(rows: int) -> None:
        nonlocal rows_read
        rows_read += rows
        still_mine = BulkJob.objects.filter(
            pk=job.pk, status=Status.VALIDATING, validation_report__checker=pending["checker"]
        ).update(
            heartbeat_at=timezone.now(),
            validation_report={**pending, "bytes_read": upload.bytes_read, "rows_read": rows_read},
        )
        if not still_mine:
            raise _CheckTakenOver

    stream = _reader(job.kind, job.source_format, pending.get("variables"))(upload)
    try:
        _fill(job, stream, progress=progress)
    except _CheckTakenOver:
        return
    refused = job.total_items == 0
    BulkJob.objects.filter(pk=job.pk, status=Status.VALIDATING).update(
        status=Status.REFUSED if refused else Status.DRAFT, heartbeat_at=None
    )
    BulkUploadChunk.objects.filter(job=job).delete()
    job.refresh_from_db()
    start = pending.get("start")
    if start and not refused:
        actor = get_user_model().objects.filter(pk=pending.get("started_by")).first()
        try:
            start_job(
                job,
                actor,
                confirmed_production=bool(start.get("confirm_production")),
                skip_bad_rows=bool(start.get("skip_bad_rows")),
            )
        except JobStateError as error:
            report = job.validation_report | {"start_refused": str(error)}
            BulkJob.objects.filter(pk=job.pk).update(validation_report=report)


def checking_progress(job: BulkJob) -> dict:
    """The small progress contract of a job whose input is being checked (pretix's pattern)."""
    report = job.validation_report or {}
    total = report.get("bytes_total") or 0
    read = min(report.get("bytes_read") or 0, total)
    percent = round(100 * read / total, 1) if total else 0.0
    rows = report.get("rows_read") or 0
    return {
        "ready": job.status != Status.VALIDATING,
        "percent": 100.0 if job.status != Status.VALIDATING else percent,
        "rows_read": rows,
        "message": f"Checked {rows:,} rows ({percent:g}% of the file)."
        if job.status == Status.VALIDATING
        else "Checked.",
    }


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


def _fill(
    job: BulkJob,
    stream: Iterator[Row | Problem],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Store the valid rows as items and every problem as a rejected row, in batches.

    Memory stays flat whatever the file's size: duplicates are found by the database's
    unique (job, userID) constraint, one query a batch, not by a set of every userID seen.
    """
    rejected: list[BulkRejectedRow] = []
    batch: list[Row] = []
    fatal = False
    long_user_ids = 0  # longer than hosted Voiceflow documents: sent, with a warning

    def note(problem: Problem) -> None:
        nonlocal fatal
        fatal = fatal or problem.fatal
        rejected.append(
            BulkRejectedRow(
                job=job,
                line=problem.line,
                # Plain text columns: a NUL or a lone surrogate in a rejected cell is shown as U+FFFD.
                user_id=storable_text(problem.user_id[:USER_ID_MAX_LENGTH]),
                column=storable_text(problem.column[:300]),
                value=storable_text(problem.value),
                reason=storable_text(problem.message),
                fatal=problem.fatal,
            )
        )
        if len(rejected) >= BATCH_SIZE:
            flush_rejected()

    def flush_rejected() -> None:
        BulkRejectedRow.objects.bulk_create(rejected)
        rejected.clear()

    def flush_rows() -> None:
        first_line_in_batch: dict[str, int] = {}
        fresh: list[BulkItem] = []
        for row in batch:
            if row.user_id in first_line_in_batch:
                continue
            first_line_in_batch[row.user_id] = row.line
            fresh.append(
                BulkItem(
                    job=job, line_number=row.line, user_id=row.user_id, variables=row.variables
                )
            )
        BulkItem.objects.bulk_create(fresh, ignore_conflicts=True)
        stored = dict(
            BulkItem.objects.filter(job=job, user_id__in=list(first_line_in_batch)).values_list(
                "user_id", "line_number"
            )
        )
        duplicated: set[str] = set()
        for row in batch:
            first = stored[row.user_id]
            if first != row.line:
                duplicated.add(row.user_id)
                note(
                    Problem(
                        row.line,
                        f"Duplicate userID: it is already on line {first}. Neither line runs "
                        "until the file names each userID once.",
                        column="userID",
                        value=row.user_id,
                        user_id=row.user_id,
                    )
                )
        if duplicated:
            # The first line of a duplicated userID is marked now and reported at the end.
            BulkItem.objects.filter(job=job, user_id__in=duplicated).update(
                status=ItemStatus.SKIPPED, reason=DUPLICATE_MARK
            )
        batch.clear()

    for seen, entry in enumerate(stream, start=1):
        if progress is not None and seen % BATCH_SIZE == 0:
            progress(BATCH_SIZE)
        if isinstance(entry, Problem):
            note(entry)
            continue
        long_user_ids += bool(user_id_warning(entry.user_id))
        batch.append(entry)
        if len(batch) >= BATCH_SIZE:
            flush_rows()
    if batch:
        flush_rows()
    flush_rejected()

    duplicated_items = job.items.filter(status=ItemStatus.SKIPPED, reason=DUPLICATE_MARK)
    for item in duplicated_items.iterator(chunk_size=BATCH_SIZE):
        later = list(
            job.rejected_rows.filter(user_id=item.user_id, column="userID")
            .exclude(line=item.line_number)
            .values_list("line", flat=True)[:LATER_LINES_NAMED]
        )
        note(
            Problem(
                item.line_number,
                f"This userID appears again on line {', '.join(map(str, later))}; neither line runs.",
                column="userID",
                value=item.user_id,
                user_id=item.user_id,
            )
        )
    flush_rejected()
    duplicated_items.delete()
    if fatal:
        job.items.all().delete()
    job.total_items = job.items.count()
    job.validation_report = report_of(job, fatal=fatal, long_user_ids=long_user_ids)
    job.save(update_fields=["total_items", "validation_report"])


def report_of(job: BulkJob, *, fatal: bool, long_user_ids: int = 0) -> dict:
    """The validation report: exact counts and the first PROBLEMS_KEPT problems (the job's
    rejected rows hold them all)."""
    rows = job.rejected_rows.all()
    first = rows.order_by(F("line").asc(nulls_first=True), "pk")[:PROBLEMS_KEPT]
    return {
        "valid_rows": job.total_items,
        "bad_rows": rows.values("line").distinct().count(),
        "problem_count": rows.count(),
        "problems": [
            {
                "line": row.line,
                "column": row.column,
                "value": row.value,
                "message": row.reason,
                "fatal": row.fatal,
            }
            for row in first
        ],
        "fatal": fatal,
        "long_user_ids": long_user_ids,
    }


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


def _rows(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def needs_the_read(job: BulkJob) -> bool:
    """A job whose writes are re-checked on the state read before them (a segment's members
    that moved are skipped; a campaign's end takes off only the values still set)."""
    return job.segment_conditions is not None or job.kind == BulkJob.Kind.CAMPAIGN_END


def start_job(
    job: BulkJob,
    actor: AbstractBaseUser | None,
    *,
    confirmed_production: bool = False,
    skip_bad_rows: bool = False,
    write_mode: str = WriteMode.READ_FIRST,
) -> BulkJob:
    """Queue a draft. Production needs `confirmed_production`; a file with bad rows needs
    `skip_bad_rows` (the operator chose to run the valid rows only). `write_mode`
    SINGLE_REQUEST is the operator's "no undo for this job": one request per user."""
    if write_mode not in WriteMode.values:
        raise JobStateError("Choose how to write: read each state first, or no undo.")
    if write_mode == WriteMode.SINGLE_REQUEST and needs_the_read(job):
        raise JobStateError(
            "This job checks each state before its write (a segment's members, a campaign's "
            "end): it reads each state first and cannot run without undo."
        )
    report = job.validation_report or {}
    if job.status == Status.VALIDATING:
        raise JobStateError("The input is still being checked; start the job once it is.")
    if job.status == Status.REFUSED:
        raise JobStateError("This job has no rows that can run; upload a corrected file.")
    if job.status != Status.DRAFT:
        raise JobStateError("This job has already been started.")
    if report.get("fatal") or job.total_items == 0:
        raise JobStateError("This job has no rows that can run; upload a corrected file.")
    if report.get("bad_rows") and not skip_bad_rows:
        bad_rows = report["bad_rows"]
        raise JobStateError(
            f"{bad_rows} {'row has' if bad_rows == 1 else 'rows have'} problems. Upload a "
            f"corrected file, or choose to run the {_rows(job.total_items, 'valid row')} only."
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
            write_mode=write_mode,
        ):
            raise JobStateError("This job has already been started.")
        _enqueue(job)
    return job


def pause_job(job: BulkJob, actor: AbstractBaseUser | None, *, source: str) -> BulkJob:
    """Workers finish the item in hand and start no other."""
    with transaction.atomic():
        if not _change_status(job, [Status.QUEUED, Status.RUNNING], Status.PAUSED):
            raise JobStateError("Only a queued or running job can be paused.")
        record_job_control(job, AuditEntry.Action.JOB_PAUSED, actor=actor, source=source)
    return job


def resume_job(job: BulkJob, actor: AbstractBaseUser | None, *, source: str) -> BulkJob:
    with transaction.atomic():
        if not _change_status(job, [Status.PAUSED], Status.QUEUED, stop_reason=""):
            raise JobStateError("Only a paused job can be resumed.")
        record_job_control(job, AuditEntry.Action.JOB_RESUMED, actor=actor, source=source)
        _enqueue(job)
    return job


def cancel_job(job: BulkJob, actor: AbstractBaseUser | None, *, source: str) -> BulkJob:
    """No item starts any more. An item whose write had started is finished (never left half
    known); every item not started is recorded as skipped."""
    with transaction.atomic():
        if not _change_status(
            job, [Status.QUEUED, Status.RUNNING, Status.PAUSED], Status.CANCELLED
        ):
            raise JobStateError("Only a queued, running or paused job can be cancelled.")
        record_job_control(job, AuditEntry.Action.JOB_CANCELLED, actor=actor, source=source)
        skipped = job.items.filter(status=ItemStatus.PENDING, attempts=0).update(
            status=ItemStatus.SKIPPED,
            reason=CANCELLED_REASON,
            finished_at=timezone.now(),
        )
        BulkJob.objects.filter(pk=job.pk).update(skipped_count=F("skipped_count") + skipped)
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
        BulkJob.objects.filter(pk=job.pk).update(failed_count=F("failed_count") - count)
        if count == 0:
            _change_status(job, [Status.QUEUED], Status.COMPLETED, finished_at=timezone.now())
            raise JobStateError("This job has no failed items.")
        if actor is not None and actor.is_authenticated:
            BulkJob.objects.filter(pk=job.pk).update(started_by=actor)
        _enqueue(job)
    return count


def discard_draft(job: BulkJob) -> None:
    if job.status not in (Status.DRAFT, Status.REFUSED):
        raise JobStateError("Only a draft can be discarded; a started job stays on record.")
    job.delete()
