"""Scheduled jobs: a job that starts at a time, or repeats by a cron rule, each run a job of its
own. The timing is django-celery-beat's (a PeriodicTask the database scheduler reads, so a change
here reaches a running beat without a restart); what runs is `run_schedule`.

A run acts as the person who scheduled it, with their role checked again at that moment: an
account deactivated or moved to a role without run_bulk_jobs starts nothing, and the refusal is
recorded on the schedule.
"""

import json
import logging
import zoneinfo
from datetime import datetime

from celery.schedules import crontab
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from . import bulk
from .models import BulkItem, BulkJob, Environment, Schedule, Segment
from .notifications import NotifyError, check_notify_targets

logger = logging.getLogger(__name__)

TASK = "sessions_app.segments.tasks.run_schedule"
SCHEDULABLE_KINDS = (BulkJob.Kind.PRELOAD, BulkJob.Kind.RESET, BulkJob.Kind.REMOVE_VARIABLES)
SCHEDULABLE_KIND_CHOICES = [(kind.value, kind.label) for kind in SCHEDULABLE_KINDS]


class ScheduleError(ValueError):
    """A schedule that cannot be saved or run; the message says why, for a person."""


def _cron_fields(rule: str) -> dict:
    parts = rule.split()
    if len(parts) != 5:
        raise ScheduleError(
            "A repeat rule has five fields: minute hour day-of-month month day-of-week "
            "(e.g. 0 2 * * * for every night at 02:00)."
        )
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    try:
        crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    except (ValueError, TypeError) as error:
        raise ScheduleError(f"The repeat rule {rule!r} is not valid: {error}") from None
    return {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "day_of_week": day_of_week,
    }


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{name!r} is not a time zone (e.g. Europe/Berlin, UTC).") from None


def save_schedule(
    environment: Environment,
    actor: AbstractBaseUser,
    *,
    name: str,
    kind: str,
    segment: Segment | None = None,
    template_job: BulkJob | None = None,
    variables: dict | None = None,
    variable_names: list[str] | None = None,
    run_at: datetime | None = None,
    cron: str = "",
    time_zone: str = "UTC",
    confirmed_production: bool = False,
    notify_emails: str = "",
    notify_webhook_url: str = "",
    schedule: Schedule | None = None,
) -> Schedule:
    """Create or change a schedule and its beat entry; bad input raises ScheduleError and
    changes nothing."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ScheduleError("Give the schedule a name (at most 120 characters).")
    if kind not in SCHEDULABLE_KINDS:
        raise ScheduleError("A schedule sets variables, resets sessions or removes variables.")
    if (segment is None) == (template_job is None):
        raise ScheduleError("A schedule runs over a segment, or again over an earlier job's rows.")
    source = segment.environment if segment is not None else template_job.environment
    if source != environment:
        raise ScheduleError("The segment or job is of another environment.")
    if template_job is not None and template_job.kind != kind:
        raise ScheduleError("An earlier job runs again as the same kind of job.")
    if (
        segment is not None
        and kind == BulkJob.Kind.PRELOAD
        and not (isinstance(variables, dict) and variables)
    ):
        raise ScheduleError("Give the variables to set, as a JSON object.")
    names = [n.strip() for n in (variable_names or []) if isinstance(n, str) and n.strip()]
    if segment is not None and kind == BulkJob.Kind.REMOVE_VARIABLES and not names:
        raise ScheduleError("Name at least one variable to remove.")
    if bool(run_at) == bool(cron.strip()):
        raise ScheduleError("Give either a time to start at or a repeat rule, not both.")
    zone = _zone(time_zone or "UTC")
    cron_fields = _cron_fields(cron.strip()) if cron.strip() else None
    if run_at is not None:
        if timezone.is_naive(run_at):
            run_at = timezone.make_aware(run_at, zone)
        if run_at <= timezone.now() and (schedule is None or schedule.run_at != run_at):
            raise ScheduleError("The time to start at is in the past.")
    if environment.is_production and not confirmed_production:
        raise ScheduleError(
            "This is a production environment: confirm that the scheduled job may change live "
            "conversations."
        )
    try:
        check_notify_targets(notify_emails, notify_webhook_url)
    except NotifyError as error:
        raise ScheduleError(str(error)) from None

    with transaction.atomic():
        if schedule is None:
            schedule = Schedule(environment=environment, created_by=actor)
        schedule.name = name
        schedule.kind = kind
        schedule.segment = segment
        schedule.template_job = template_job
        schedule.variables = variables if kind == BulkJob.Kind.PRELOAD else None
        schedule.variable_names = names if kind == BulkJob.Kind.REMOVE_VARIABLES else []
        schedule.run_at = run_at
        schedule.cron = " ".join(cron.split())
        schedule.timezone = str(zone.key)
        schedule.confirmed_production = confirmed_production
        schedule.notify_emails = notify_emails
        schedule.notify_webhook_url = notify_webhook_url
        schedule.save()
        _sync_beat_entry(schedule, cron_fields)
    return schedule


def _sync_beat_entry(schedule: Schedule, cron_fields: dict | None) -> None:
    task = schedule.periodic_task or PeriodicTask(
        name=f"schedule {schedule.pk}", task=TASK, args=json.dumps([schedule.pk])
    )
    task.crontab = task.clocked = None
    if cron_fields is not None:
        task.crontab, _ = CrontabSchedule.objects.get_or_create(
            **cron_fields, timezone=schedule.timezone
        )
        task.one_off = False
    else:
        task.clocked, _ = ClockedSchedule.objects.get_or_create(clocked_time=schedule.run_at)
        task.one_off = True
    task.enabled = not schedule.paused
    task.description = schedule.name
    task.save()
    if schedule.periodic_task_id != task.pk:
        Schedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task


def set_paused(schedule: Schedule, paused: bool) -> Schedule:
    with transaction.atomic():
        Schedule.objects.filter(pk=schedule.pk).update(paused=paused)
        if schedule.periodic_task_id:
            task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
            task.enabled = not paused
            task.save()  # save(), not update(): the scheduler notices changes through it
    schedule.refresh_from_db()
    return schedule


def delete_schedule(schedule: Schedule) -> None:
    with transaction.atomic():
        if schedule.periodic_task_id:
            PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
        schedule.delete()


def next_runs(schedule: Schedule) -> str:
    """The rule or time in words, with its time zone, for lists."""
    if schedule.cron:
        return f"{schedule.cron} ({schedule.timezone})"
    if schedule.run_at:
        local = schedule.run_at.astimezone(_zone(schedule.timezone))
        return f"{local:%Y-%m-%d %H:%M} ({schedule.timezone})"
    return ""


def run_schedule(schedule_id: int) -> int | None:
    """Start one run: a new job as the schedule's owner. Returns the job's id, or None when the
    schedule is gone, paused or its owner may no longer run jobs (recorded as `last_refusal`)."""
    schedule = (
        Schedule.objects.select_related("environment__project", "segment", "template_job")
        .filter(pk=schedule_id)
        .first()
    )
    if schedule is None or schedule.paused:
        return None
    # A fresh read of the account: has_perm caches, and the role may have changed since.
    owner = get_user_model().objects.filter(pk=schedule.created_by_id).first()
    if owner is None or not owner.is_active or not owner.has_perm("sessions_app.run_bulk_jobs"):
        refusal = (
            f"{timezone.now():%Y-%m-%d %H:%M} UTC: not run, its owner may no longer run bulk jobs."
        )
        Schedule.objects.filter(pk=schedule.pk).update(last_refusal=refusal)
        logger.warning("Schedule %s not run: its owner may no longer run bulk jobs", schedule.pk)
        return None
    with transaction.atomic():
        if schedule.segment is not None:
            try:
                job = bulk.create_job_from_segment(
                    schedule.segment,
                    owner,
                    kind=schedule.kind,
                    variables=schedule.variables,
                    variable_names=schedule.variable_names,
                    schedule=schedule,
                    notify_emails=schedule.notify_emails,
                    notify_webhook_url=schedule.notify_webhook_url,
                )
            except ValueError as error:
                # Checked when saved, but a webhook's name may resolve elsewhere by now.
                refusal = f"{timezone.now():%Y-%m-%d %H:%M} UTC: not run, {error}"
                Schedule.objects.filter(pk=schedule.pk).update(last_refusal=refusal)
                logger.warning("Schedule %s not run: %s", schedule.pk, error)
                return None
        else:
            job = _copy_job(schedule.template_job, owner, schedule)
            BulkJob.objects.filter(pk=job.pk).update(
                notify_emails=schedule.notify_emails,
                notify_webhook_url=schedule.notify_webhook_url,
            )
        Schedule.objects.filter(pk=schedule.pk).update(last_refusal="")
        job.refresh_from_db()
        if job.total_items == 0:
            # Nothing matches now: the run is on record, with nothing to do.
            BulkJob.objects.filter(pk=job.pk).complete_empty(started_by=owner)
            return job.pk
        bulk.start_job(
            job, owner, confirmed_production=schedule.confirmed_production, skip_bad_rows=True
        )
    return job.pk


def _copy_job(template: BulkJob, owner, schedule: Schedule) -> BulkJob:
    job = BulkJob.objects.create(
        kind=template.kind,
        environment=template.environment,
        created_by=owner,
        source_name=f"{template.source_name} (again, {schedule.name})"[:255],
        source_format=template.source_format,
        variable_names=template.variable_names,
        schedule=schedule,
    )
    rows = template.items.order_by("line_number").values_list("line_number", "user_id", "variables")
    bulk.store_items(
        job,
        (
            BulkItem(job=job, line_number=line, user_id=user_id, variables=variables)
            for line, user_id, variables in rows.iterator(chunk_size=1000)
        ),
    )
    return job
