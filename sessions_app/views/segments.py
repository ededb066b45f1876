"""Segment and schedule pages: a segment's count and sample before anything is done, a refresh
from Voiceflow, a job (or a schedule) over its members; scheduled jobs listed, paused, edited.

Viewing segments and refreshing them needs `inspect_session` (reads only); saving a segment,
creating jobs and anything about schedules needs `run_bulk_jobs`.
"""

import json
from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from .. import bulk, schedules, segments, step_up
from ..access import can, environment_for, require
from ..bulk.parsing import parse_variables_object
from ..models import BulkJob, Schedule, Segment
from ..notifications import NotifyError, check_notify_targets
from ..segments.forms import SegmentForm
from ..segments.tasks import refresh_segment
from ..workspace import current_environment

VIEW = "inspect_session"
CONTROL = "run_bulk_jobs"


def segment_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        require(request, CONTROL)
        form = SegmentForm(request.POST)
        if not form.is_valid():
            return _list(request, status=400, form=form)
        environment = environment_for(request, form.cleaned_data["environment"].pk, CONTROL)
        try:
            segment = segments.save_segment(
                environment,
                request.user,
                name=form.cleaned_data["name"],
                conditions=form.cleaned_data["condition_list"],
            )
        except segments.ConditionError as error:
            form.add_error(None, str(error))
            return _list(request, status=400, form=form)
        return redirect("segment_detail", pk=segment.pk)
    require(request, VIEW)
    return _list(request)


def _list(request: HttpRequest, *, status: int = 200, form: SegmentForm | None = None):
    environment = current_environment(request)
    found = Segment.objects.select_related("environment__project")
    context = {
        "segments": found,
        "environment": environment,
        "can_control": can(request, CONTROL),
        "form": form or SegmentForm(initial={"environment": environment}),
    }
    return render(request, "segments/list.html", context, status=status)


def _segment(request: HttpRequest, pk: int, codename: str) -> Segment:
    require(request, codename)
    return get_object_or_404(Segment.objects.select_related("environment__project"), pk=pk)


@require_GET
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment(request, pk, VIEW)
    return _detail(request, segment)


def _detail(
    request: HttpRequest,
    segment: Segment,
    *,
    status: int = 200,
    form: SegmentForm | None = None,
    **extra,
) -> HttpResponse:
    conditions = segments.parse_conditions(segment.conditions)
    initial = {
        "name": segment.name,
        "conditions": json.dumps(segment.conditions, indent=1, ensure_ascii=False),
    }
    context = {
        "segment": segment,
        "conditions": [
            (condition.describe(), condition.resolved_ids()) for condition in conditions
        ],
        "form": form or SegmentForm(environment=segment.environment, initial=initial),
        "preview": segments.preview(segment.environment, conditions),
        "can_control": can(request, CONTROL),
        "kinds": schedules.SCHEDULABLE_KIND_CHOICES,
        "server_time_zone": timezone.get_current_timezone_name(),
        "jobs": segment.jobs.order_by("-pk")[:10],
        **extra,
    }
    return render(request, "segments/detail.html", context, status=status)


@require_POST
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment(request, pk, CONTROL)
    form = SegmentForm(request.POST, environment=segment.environment)
    if not form.is_valid():
        return _detail(request, segment, status=400, form=form)
    try:
        segments.save_segment(
            segment.environment,
            request.user,
            name=form.cleaned_data["name"],
            conditions=form.cleaned_data["condition_list"],
            segment=Segment.objects.get(pk=segment.pk),
        )
    except segments.ConditionError as error:
        form.add_error(None, str(error))
        return _detail(request, segment, status=400, form=form)
    messages.success(request, "Segment saved.")
    return redirect("segment_detail", pk=segment.pk)


@require_POST
def segment_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment(request, pk, VIEW)
    refresh_segment.delay_on_commit(segment.pk)
    messages.success(
        request,
        "The members' states are being read from Voiceflow in the background (at most "
        f"{segments.REFRESH_MAX}, paced by the project's request budget); reload to see the "
        "count they give.",
    )
    return redirect("segment_detail", pk=segment.pk)


def _job_options(request: HttpRequest) -> dict:
    kind = request.POST.get("kind", "")
    variables = None
    if kind == BulkJob.Kind.PRELOAD:
        variables = parse_variables_object(request.POST.get("variables", ""))
    names = [n.strip() for n in request.POST.get("variable_names", "").split(",") if n.strip()]
    emails = request.POST.get("notify_emails", "").strip()
    webhook = request.POST.get("notify_webhook_url", "").strip()
    try:
        check_notify_targets(emails, webhook)
    except NotifyError as error:
        raise ValueError(str(error)) from None
    return {
        "kind": kind,
        "variables": variables,
        "variable_names": names,
        "notify_emails": emails,
        "notify_webhook_url": webhook,
    }


@require_POST
def segment_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A draft job over the members; the job page shows its dry run and starts it."""
    segment = _segment(request, pk, CONTROL)
    try:
        options = _job_options(request)
        ends = _moment(request.POST.get("campaign_ends_at", ""), request.POST.get("timezone"))
        job = bulk.create_job_from_segment(segment, request.user, **options, campaign_ends_at=ends)
    except ValueError as error:
        return _detail(request, segment, status=400, error=str(error), posted=request.POST)
    return redirect("job_detail", pk=job.pk)


def _moment(text: str, zone_name: str | None) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time.") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, schedules._zone(zone_name or "UTC"))
    return moment


@require_POST
def segment_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment(request, pk, CONTROL)
    # Its runs start unattended, so scheduling is high-impact work, whatever the job does.
    if not step_up.is_fresh(request):
        return step_up.redirect_to_confirm(request, reverse("segment_detail", args=[pk]))
    try:
        schedule = _save_schedule(request, segment=segment)
    except (ValueError, schedules.ScheduleError) as error:
        return _detail(request, segment, status=400, error=str(error), posted=request.POST)
    messages.success(request, f"Scheduled: {schedule.name}, {schedules.next_runs(schedule)}.")
    return redirect("schedule_list")


def _save_schedule(request: HttpRequest, *, segment=None, schedule=None) -> Schedule:
    options = _job_options(request)
    zone_name = request.POST.get("timezone", "UTC") or "UTC"
    source_segment = segment or (schedule.segment if schedule else None)
    return schedules.save_schedule(
        source_segment.environment if source_segment else schedule.environment,
        request.user if schedule is None else schedule.created_by,
        name=request.POST.get("schedule_name", ""),
        kind=options["kind"],
        segment=source_segment,
        template_job=schedule.template_job if schedule and not source_segment else None,
        variables=options["variables"],
        variable_names=options["variable_names"],
        run_at=_moment(request.POST.get("run_at", ""), zone_name),
        cron=request.POST.get("cron", ""),
        time_zone=zone_name,
        confirmed_production=request.POST.get("confirm_production") == "on",
        notify_emails=options["notify_emails"],
        notify_webhook_url=options["notify_webhook_url"],
        schedule=schedule,
    )


@require_GET
def schedule_list(request: HttpRequest) -> HttpResponse:
    require(request, CONTROL)
    found = Schedule.objects.select_related("environment__project", "segment", "created_by")
    rows = [(schedule, schedules.next_runs(schedule)) for schedule in found]
    return render(request, "segments/schedules.html", {"rows": rows})


def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, CONTROL)
    schedule = get_object_or_404(Schedule.objects.select_related("segment"), pk=pk)
    context = {
        "schedule": schedule,
        "kinds": schedules.SCHEDULABLE_KIND_CHOICES,
        "variables_json": json.dumps(schedule.variables or {}, ensure_ascii=False),
    }
    if request.method == "POST":
        if not step_up.is_fresh(request):
            return step_up.redirect_to_confirm(request, reverse("schedule_edit", args=[pk]))
        try:
            _save_schedule(request, schedule=schedule)
        except (ValueError, schedules.ScheduleError) as error:
            context["error"] = str(error)
            return render(request, "segments/schedule_edit.html", context, status=400)
        messages.success(request, "Schedule saved.")
        return redirect("schedule_list")
    return render(request, "segments/schedule_edit.html", context)


@require_POST
def schedule_pause(request: HttpRequest, pk: int, paused: bool) -> HttpResponse:
    require(request, CONTROL)
    schedules.set_paused(get_object_or_404(Schedule, pk=pk), paused)
    return redirect("schedule_list")


@require_POST
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require(request, CONTROL)
    schedules.delete_schedule(get_object_or_404(Schedule, pk=pk))
    messages.success(request, "Schedule deleted; its runs stay on record.")
    return redirect("schedule_list")


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
