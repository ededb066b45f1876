"""Celery tasks of bulk jobs. They take ids only and are enqueued after the transaction commits."""

from celery import shared_task

from . import engine


@shared_task
def run_job(job_id: int) -> None:
    engine.run_job(job_id)


@shared_task
def sweep_stalled_jobs() -> list[int]:
    """Scheduled by beat (settings CELERY_BEAT_SCHEDULE, every BULK_SWEEP_INTERVAL_S)."""
    return engine.sweep()
