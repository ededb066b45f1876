"""Celery tasks of bulk jobs, and queueing them. Tasks take ids only; they are queued with
Celery's `delay_on_commit`, so only once the transaction that asked for them commits (a job
whose start rolls back is never queued)."""

import logging
from datetime import timedelta

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from ..models import BulkJob
from . import checking, engine

logger = logging.getLogger(__name__)


class HeldByTheDatabase(DjangoTask):
    """A task whose work the database holds (a job's items, a stored input). A broker that
    cannot be reached is not the caller's failure: queueing is logged and given up, and the
    sweep queues the work again once the broker is back (within a lease)."""

    def apply_async(self, args=None, kwargs=None, **options):
        try:
            return super().apply_async(args, kwargs, **options)
        except OperationalError:
            job_id = args[0] if args else None
            logger.warning(
                "Job %s (%s): the broker is unavailable; the sweep will queue it again",
                job_id,
                self.name,
                extra={"job_id": job_id},
            )
            return None


@shared_task(base=HeldByTheDatabase)
def run_job(job_id: int) -> None:
    engine.run_job(job_id)


@shared_task(base=HeldByTheDatabase)
def validate_upload(job_id: int) -> None:
    """Check a stored input; queue the job's work when the check started it (the API's
    `start`)."""
    if checking.validate_upload(job_id):
        enqueue(job_id)


@shared_task
def sweep_stalled_jobs() -> list[int]:
    """Scheduled by beat (settings CELERY_BEAT_SCHEDULE, every BULK_SWEEP_INTERVAL_S)."""
    stalled = engine.sweep()
    for job_id in stalled:
        enqueue(job_id)
    return stalled + sweep_stalled_checks()


def sweep_stalled_checks() -> list[int]:
    """Queue again the check of every input whose worker showed no sign of life for a lease
    (it died mid-check); the check starts over."""
    stale = timezone.now() - timedelta(seconds=settings.BULK_LEASE_SECONDS)
    job_ids = list(
        BulkJob.objects.filter(
            status=BulkJob.Status.VALIDATING, heartbeat_at__lt=stale
        ).values_list("pk", flat=True)
    )
    for job_id in job_ids:
        BulkJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now())
        logger.warning(
            "Input check of job %s stalled; queued again", job_id, extra={"job_id": job_id}
        )
        enqueue_validation(job_id)
    return job_ids


def enqueue_validation(job_id: int) -> None:
    """Queue the check of a stored input once the transaction commits."""
    validate_upload.delay_on_commit(job_id)


def enqueue(job_id: int) -> None:
    """Queue a job's work once the transaction commits, as BULK_TASKS_PER_JOB tasks so that as
    many worker processes share it. The job's sign of life is renewed now, so the sweep gives
    the new tasks a lease to start before it queues the job again."""
    BulkJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now())
    for _ in range(settings.BULK_TASKS_PER_JOB):
        run_job.delay_on_commit(job_id)
