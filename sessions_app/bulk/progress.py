"""The one progress contract the job page polls (and the REST API returns)."""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from ..models import BulkItem, BulkJob, WriteMode
from ..voiceflow.budget import SAFETY_FACTOR, bulk_share
from ..workers import stall_of
from .checking import checking_progress

RATE_WINDOW_S = 60
# Every kind reads the state (for the audit row and the undo), then writes: GET + PATCH for a
# preload, GET + DELETE for a reset, GET + PUT or DELETE for an undo. Without undo, the write only.
REQUESTS_PER_ITEM = {WriteMode.READ_FIRST: 2, WriteMode.SINGLE_REQUEST: 1}


def item_counts(job_id: int) -> dict[str, int]:
    """How many of the job's items are in each status, every status named."""
    counts = dict(
        BulkItem.objects.filter(job_id=job_id)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in BulkItem.Status.values}


def job_progress(job: BulkJob) -> dict:
    """done / failed / skipped / remaining / total, rate per minute, ETA, status.

    The counts are the job's counters (kept as items end, never a recount of the items), so
    this costs the same for ten items as for a million; a running job adds one indexed count.
    The rate counts the items finished in the last minute (or since the job started, when that
    is shorter), so it follows the budget and any 429 pause as they happen.
    """
    done = job.succeeded_count
    failed = job.failed_count
    skipped = job.skipped_count
    total = job.total_items
    remaining = max(total - done - failed - skipped, 0)
    now = timezone.now()
    rate_per_minute = None
    eta_seconds = None
    if job.status == BulkJob.Status.RUNNING and job.started_at:
        window_s = min(RATE_WINDOW_S, max((now - job.started_at).total_seconds(), 1.0))
        recent = job.items.filter(finished_at__gte=now - timedelta(seconds=window_s)).count()
        rate_per_minute = round(recent * 60 / window_s, 1)
        if rate_per_minute > 0:
            eta_seconds = round(remaining * 60 / rate_per_minute)
    finished = done + failed + skipped
    stall = stall_of(job)
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "status_label": job.get_status_display(),
        "total": total,
        "done": done,
        "failed": failed,
        "skipped": skipped,
        "remaining": remaining,
        # Rows of the input refused when it was checked: never items, kept with the job.
        "rejected": (job.validation_report or {}).get("bad_rows", 0),
        "percent": round(100 * finished / total, 1) if total else 100.0,
        "rate_per_minute": rate_per_minute,
        "eta_seconds": eta_seconds,
        "stop_reason": job.stop_reason,
        # Queued or running while no worker is alive: why, and what to do (sessions_app/workers.py).
        "stalled": stall,
        # While a worker checks the input: {ready, percent, rows_read, message}.
        "checking": checking_progress(job) if job.status == BulkJob.Status.VALIDATING else None,
        "is_finished": job.status in (BulkJob.Status.COMPLETED, BulkJob.Status.CANCELLED)
        and remaining == 0,
    }


def estimated_duration_s(job: BulkJob, *, write_mode: str | None = None) -> float:
    """How long the job needs at the share of its project's request budget a job may use."""
    requests = job.total_items * REQUESTS_PER_ITEM[write_mode or job.write_mode]
    per_minute = max(job.environment.project.budget_per_minute, 1) * SAFETY_FACTOR * bulk_share()
    return requests * 60 / per_minute
