"""Celery tasks of segments, schedules and campaigns. Tasks take ids, never objects."""

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from .. import bulk, schedules
from ..models import BulkJob, Segment
from ..notifications import notify_job  # noqa: F401 (registers the task with the worker)

logger = logging.getLogger(__name__)

# Background refreshes wait this long at most for a budget slot (as discovery does).
BACKGROUND_MAX_WAIT_S = 60.0


@shared_task(name="sessions_app.segments.tasks.refresh_segment")
def refresh_segment(segment_id: int) -> int:
    """Read a segment's candidates from Voiceflow into the index; returns how many were read."""
    from . import refresh_segment as refresh

    segment = Segment.objects.select_related("environment__project").filter(pk=segment_id).first()
    if segment is None:
        return 0
    report = refresh(segment, max_wait_s=BACKGROUND_MAX_WAIT_S)
    if report.stopped_by:
        logger.warning("Segment %s: the refresh stopped: %s", segment_id, report.stopped_by)
    return report.read


@shared_task(name="sessions_app.segments.tasks.run_schedule")
def run_schedule(schedule_id: int) -> int | None:
    """Beat (django-celery-beat's database scheduler) calls this at each time a schedule says."""
    return schedules.run_schedule(schedule_id)


@shared_task(name="sessions_app.segments.tasks.end_campaigns")
def end_campaigns() -> list[int]:
    """Start the end of every campaign whose end date has come (settings.CELERY_BEAT_SCHEDULE):
    a job that takes off the values each preload set, where they are still those values.
    Returns the ids of the jobs started."""
    started = []
    due = BulkJob.objects.filter(
        kind=BulkJob.Kind.PRELOAD,
        campaign_ends_at__lte=timezone.now(),
        campaign_end_job__isnull=True,
        status__in=[BulkJob.Status.COMPLETED, BulkJob.Status.CANCELLED, BulkJob.Status.PAUSED],
    ).select_related("environment", "created_by")
    for preload in due:
        with transaction.atomic():
            # The row lock makes two beats (or a slow run) end a campaign once.
            locked = (
                BulkJob.objects.select_for_update()
                .filter(pk=preload.pk, campaign_end_job__isnull=True)
                .first()
            )
            if locked is None:
                continue
            end = bulk.create_campaign_end_job(locked, None)
            if end.total_items == 0:
                BulkJob.objects.filter(pk=end.pk).complete_empty()
                continue
            # The operator confirmed the campaign, end date included, when starting it.
            bulk.start_job(end, locked.started_by or locked.created_by, confirmed_production=True)
            started.append(end.pk)
    return started
