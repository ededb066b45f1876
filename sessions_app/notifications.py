"""Telling someone that a job finished, failed or stalled: email (Django's mail) and a webhook
(Slack-compatible JSON, `{"text": …}`), per job or per schedule.

A webhook URL is typed in by people, like a project's base URL, so it goes through the same
private-address guard (voiceflow/address_guard.py): checked when saved, and again on the
connection. Each event is announced once per job (`BulkJob.notified`), whichever worker sees it.
"""

import logging

import httpx
from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.db.models import Count, Q

from .models import BulkItem, BulkJob
from .voiceflow.address_guard import GuardedTransport, PrivateAddressRefused, check_base_url

logger = logging.getLogger(__name__)

FINISHED, FAILED, STALLED = "finished", "failed", "stalled"
WEBHOOK_TIMEOUT_S = 10.0


class NotifyError(ValueError):
    """A notification target that cannot be used; the message says why."""


def email_list(text: str) -> list[str]:
    return [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]


def check_notify_targets(emails: str, webhook_url: str) -> None:
    for address in email_list(emails):
        try:
            validate_email(address)
        except ValidationError:
            raise NotifyError(f"{address!r} is not an email address.") from None
    if webhook_url:
        try:
            URLValidator(schemes=["http", "https"])(webhook_url)
        except ValidationError:
            raise NotifyError("The webhook URL must be an http(s) URL.") from None
        try:
            check_base_url(webhook_url, what="The webhook URL")
        except PrivateAddressRefused as error:
            raise NotifyError(str(error)) from None


def announce(job_id: int, event: str) -> None:
    """Queue the notification of `event` for a job that has somewhere to send it (after the
    transaction commits); a job without targets costs nothing."""
    has_targets = (
        BulkJob.objects.filter(pk=job_id)
        .filter(~Q(notify_emails="") | ~Q(notify_webhook_url=""))
        .exists()
    )
    if has_targets:
        notify_job.delay_on_commit(job_id, event)


def message_for(job: BulkJob, event: str) -> str:
    counts = dict(job.items.values_list("status").annotate(n=Count("pk")).order_by())
    done = counts.get(BulkItem.Status.SUCCEEDED, 0)
    failed = counts.get(BulkItem.Status.FAILED, 0)
    skipped = counts.get(BulkItem.Status.SKIPPED, 0)
    what = {
        FINISHED: "finished",
        FAILED: "finished with failures" if not job.stop_reason else "stopped",
        STALLED: "stalled: no worker showed a sign of life for a lease; it was queued again",
    }[event]
    text = (
        f"{job} on {job.environment} {what}. {done} done, {failed} failed, {skipped} skipped "
        f"of {job.total_items}."
    )
    if job.stop_reason:
        text += f" {job.stop_reason}"
    base = getattr(settings, "PUBLIC_BASE_URL", "")
    if base:
        text += f" {base.rstrip('/')}/jobs/{job.pk}/"
    return text


@shared_task(name="sessions_app.notifications.notify_job")
def notify_job(job_id: int, event: str) -> bool:
    """Send the event's notification once; returns whether this call sent it."""
    job = BulkJob.objects.select_related("environment__project").filter(pk=job_id).first()
    if job is None or event in (job.notified or []):
        return False
    with transaction.atomic():
        locked = BulkJob.objects.select_for_update().get(pk=job_id)
        if event in (locked.notified or []):
            return False
        locked.notified = [*(locked.notified or []), event]
        locked.save(update_fields=["notified"])
    text = message_for(job, event)
    recipients = email_list(job.notify_emails)
    if recipients:
        try:
            send_mail(f"[Voiceflow Session Admin] {text[:120]}", text, None, recipients)
        except Exception as error:
            logger.warning("Job %s: the notification email failed: %s", job_id, error)
    if job.notify_webhook_url:
        try:
            with httpx.Client(transport=GuardedTransport(), timeout=WEBHOOK_TIMEOUT_S) as client:
                client.post(job.notify_webhook_url, json={"text": text}).raise_for_status()
        except (httpx.HTTPError, PrivateAddressRefused) as error:
            logger.warning("Job %s: the notification webhook failed: %s", job_id, error)
    return True
