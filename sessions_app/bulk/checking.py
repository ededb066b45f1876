"""Checking a job's input: one streamed pass that turns rows into `BulkItem`s (in batches) and
every problem into a rejected row, and the rule for when a checked job may start.

The web process stores an input as it is (`store_input`) and a worker checks it
(`validate_upload`), with progress the page polls; a command checks it in its own process
(`create_job_from_upload`). Nothing here queues work: `tasks.py` does, once a check is done.
"""

import io
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F
from django.utils import timezone

from ..models import (
    USER_ID_MAX_LENGTH,
    BulkItem,
    BulkJob,
    BulkRejectedRow,
    BulkUploadChunk,
    Environment,
    WriteMode,
)
from ..stored_json import storable_text
from ..voiceflow import edge_space_warning, user_id_warning
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


def store_input(
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
    """Store an input as it is, for a check by `validate_upload`: the job shows "Checking the
    input" with its progress until the check has made it a draft (or refused it).

    `start` (confirm_production, skip_bad_rows) starts the job as soon as the check allows, for
    the API's `start`. An input whose first bytes show it has no usable row raises InputRefused
    and creates nothing. Call it in a transaction (jobs.create_job).
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
        "started_by": actor.pk if start and actor is not None and actor.is_authenticated else None,
    }
    job.save(update_fields=["validation_report"])
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


def validate_upload(job_id: int) -> bool:
    """The worker's part: check a stored input row by row, with progress the page polls, then
    make the job a draft (or refuse it when no row can run) and drop the stored input. When its
    creator asked to start it and the check allows, the job is queued: returns True, and the
    caller queues its work (tasks.validate_upload).

    Run again after a worker died, it starts over: what the first run stored is removed first.
    """
    job = BulkJob.objects.filter(pk=job_id, status=Status.VALIDATING).first()
    if job is None:
        return False
    # One check at a time: this one takes the job only if nobody touched it since it was read
    # (a check queued again by the sweep while the first still runs gives way, and vice versa).
    pending = dict(job.validation_report or {}) | {"checker": uuid.uuid4().hex}
    mine = BulkJob.objects.filter(
        pk=job.pk, status=Status.VALIDATING, heartbeat_at=job.heartbeat_at
    ).update(heartbeat_at=timezone.now(), validation_report=pending)
    if not mine:
        return False
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
        return False
    refused = job.total_items == 0
    BulkJob.objects.filter(pk=job.pk).finish_check(refused=refused)
    BulkUploadChunk.objects.filter(job=job).delete()
    job.refresh_from_db()
    start = pending.get("start")
    if not start or refused:
        return False
    actor = get_user_model().objects.filter(pk=pending.get("started_by")).first()
    refusal = start_refusal(
        job,
        confirmed_production=bool(start.get("confirm_production")),
        skip_bad_rows=bool(start.get("skip_bad_rows")),
    )
    if refusal is None and BulkJob.objects.filter(pk=job.pk).start(actor, WriteMode.READ_FIRST):
        return True
    report = job.validation_report | {"start_refused": refusal or ALREADY_STARTED}
    BulkJob.objects.filter(pk=job.pk).update(validation_report=report)
    return False


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
    spaced_user_ids = 0  # beginning or ending with a space: sent as written, with a warning

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
        spaced_user_ids += bool(edge_space_warning(entry.user_id))
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
    job.validation_report = report_of(
        job, fatal=fatal, long_user_ids=long_user_ids, spaced_user_ids=spaced_user_ids
    )
    job.save(update_fields=["total_items", "validation_report"])


def report_of(
    job: BulkJob, *, fatal: bool, long_user_ids: int = 0, spaced_user_ids: int = 0
) -> dict:
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
        "spaced_user_ids": spaced_user_ids,
    }


# ---- when a checked job may start ----

ALREADY_STARTED = "This job has already been started."


def _rows(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def needs_the_read(job: BulkJob) -> bool:
    """A job whose writes are re-checked on the state read before them (a segment's members
    that moved are skipped; a campaign's end takes off only the values still set)."""
    return job.segment_conditions is not None or job.kind == BulkJob.Kind.CAMPAIGN_END


def start_refusal(
    job: BulkJob,
    *,
    confirmed_production: bool = False,
    skip_bad_rows: bool = False,
    write_mode: str = WriteMode.READ_FIRST,
) -> str | None:
    """Why the job may not start as asked, for a person; None when it may. Production needs
    `confirmed_production`; a file with bad rows needs `skip_bad_rows` (the operator chose to
    run the valid rows only); `write_mode` SINGLE_REQUEST is "no undo for this job"."""
    if write_mode not in WriteMode.values:
        return "Choose how to write: read each state first, or no undo."
    if write_mode == WriteMode.SINGLE_REQUEST and needs_the_read(job):
        return (
            "This job checks each state before its write (a segment's members, a campaign's "
            "end): it reads each state first and cannot run without undo."
        )
    report = job.validation_report or {}
    if job.status == Status.VALIDATING:
        return "The input is still being checked; start the job once it is."
    if job.status == Status.REFUSED:
        return "This job has no rows that can run; upload a corrected file."
    if job.status != Status.DRAFT:
        return ALREADY_STARTED
    if report.get("fatal") or job.total_items == 0:
        return "This job has no rows that can run; upload a corrected file."
    if report.get("bad_rows") and not skip_bad_rows:
        bad_rows = report["bad_rows"]
        return (
            f"{bad_rows} {'row has' if bad_rows == 1 else 'rows have'} problems. Upload a "
            f"corrected file, or choose to run the {_rows(job.total_items, 'valid row')} only."
        )
    if job.environment.is_production and not confirmed_production:
        return (
            "This is a production environment: confirm that the job may change live conversations."
        )
    return None
