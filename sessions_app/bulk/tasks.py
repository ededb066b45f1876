"""Celery tasks of bulk jobs. They take ids only and are enqueued after the transaction commits."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from ..models import BulkJob
from . import engine, jobs

logger = logging.getLogger(__name__)


@shared_task
def run_job(job_id: int) -> None:
    engine.run_job(job_id)


@shared_task
def validate_upload(job_id: int) -> None:
    jobs.validate_upload(job_id)


@shared_task
def sweep_stalled_jobs() -> list[int]:
    """Scheduled by beat (settings CELERY_BEAT_SCHEDULE, every BULK_SWEEP_INTERVAL_S)."""
    return engine.sweep() + sweep_stalled_checks()


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

    def publish() -> None:
        try:
            validate_upload.delay(job_id)
        except OperationalError:
            logger.warning(
                "Input check of job %s: the broker is unavailable; the sweep will queue it again",
                job_id,
                extra={"job_id": job_id},
            )

    transaction.on_commit(publish)


def enqueue(job_id: int) -> None:
    """Queue a job's work once the transaction commits, as BULK_TASKS_PER_JOB tasks so that as
    many worker processes share it.

    A broker that cannot be reached is not the caller's failure: the job is already queued in
    the database, and the sweep enqueues it again once the broker is back (within a lease).
    """

    def publish() -> None:
        try:
            for _ in range(settings.BULK_TASKS_PER_JOB):
                run_job.delay(job_id)
        except OperationalError:
            logger.warning(
                "Bulk job %s: the broker is unavailable; the sweep will queue the job again",
                job_id,
                extra={"job_id": job_id},
            )

    transaction.on_commit(publish)
