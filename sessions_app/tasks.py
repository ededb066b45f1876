"""Periodic housekeeping (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import AuditEntry

PURGE_BATCH = 2000


@shared_task(name="sessions_app.tasks.purge_expired_audit_entries")
def purge_expired_audit_entries() -> int:
    """Delete audit rows older than AUDIT_RETENTION_DAYS; returns how many were deleted.

    Deleted in batches so a large backlog never holds a long lock on the table. A retention of
    0 days or less keeps every row: a mistyped setting must not wipe the trail.
    """
    if settings.AUDIT_RETENTION_DAYS <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    deleted = 0
    while True:
        batch = list(
            AuditEntry.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[
                :PURGE_BATCH
            ]
        )
        if not batch:
            return deleted
        AuditEntry.objects.filter(pk__in=batch).delete()
        deleted += len(batch)
