"""Celery tasks of bulk jobs. They take ids only and are enqueued after the transaction commits."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError

from . import engine

logger = logging.getLogger(__name__)


@shared_task
def run_job(job_id: int) -> None:
    engine.run_job(job_id)


@shared_task
def sweep_stalled_jobs() -> list[int]:
    """Scheduled by beat (settings CELERY_BEAT_SCHEDULE, every BULK_SWEEP_INTERVAL_S)."""
    return engine.sweep()


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
