"""Bulk job pages: list, new job, job page with its live progress, and the controls.

Viewing needs `inspect_session`; anything that creates or controls a job (and the dry run and
results, which show variable values) needs `run_bulk_jobs`.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from .. import bulk, step_up
from ..access import can, require
from ..audit import JOB_CONTROL_ACTIONS
from ..bulk.forms import NewJobForm, StartJobForm
from ..bulk.parsing import TYPES
from ..bulk.preview import sample_diffs
from ..models import AuditEntry, BulkItem, BulkJob, WriteMode
from ..personal_data import mask_diffs, mask_rejected_rows, mask_validation_report
from ..workspace import current_environment, environments_without_secrets

VIEW = "inspect_session"
# A refused upload lists this many of its problems on the form.
PROBLEMS_ON_FORM = 10
NOT_STARTED = (BulkJob.Status.VALIDATING, BulkJob.Status.REFUSED, BulkJob.Status.DRAFT)
# A started job's page lists this many of its rejected rows; its results file has them all.
REJECTED_ROWS_SHOWN = 200
CONTROL = "run_bulk_jobs"


def _job(request: HttpRequest, pk: int, codename: str) -> BulkJob:
    require(request, codename)
    return get_object_or_404(
        BulkJob.objects.select_related(
            "environment__project", "created_by", "started_by", "undo_of"
        ),
        pk=pk,
    )


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    require(request, VIEW)
    jobs = BulkJob.objects.select_related("environment__project", "created_by")
    page = Paginator(jobs.order_by("-created_at", "-pk"), 50).get_page(request.GET.get("page"))
    return render(request, "jobs/list.html", {"page": page, "can_control": can(request, CONTROL)})


def _new_job_context(request: HttpRequest, form: NewJobForm, **extra) -> dict:
    return {
        "form": form,
        # The page's three cards post the same field names: the one posted is filled in again.
        "posted": form.data,
        "mode": form.data.get("mode", ""),
        "environments": environments_without_secrets(),
        "selected_environment": current_environment(request),
        "types": TYPES,
        **extra,
    }


def job_new(request: HttpRequest) -> HttpResponse:
    require(request, CONTROL)
    if request.method != "POST":
        return render(request, "jobs/new.html", _new_job_context(request, NewJobForm()))
    form = NewJobForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "jobs/new.html", _new_job_context(request, form), status=400)
    try:
        # Stored as it is and checked by a worker: the page answers at once, whatever the size.
        job = bulk.create_job(form.cleaned_data["environment"], request.user, **form.job_input())
    except bulk.InputRefused as refusal:
        form.add_error(None, str(refusal))
        context = _new_job_context(
            request, form, refused_problems=refusal.problems[:PROBLEMS_ON_FORM]
        )
        return render(request, "jobs/new.html", context, status=400)
    except ValueError as error:
        form.add_error(None, str(error))
        return render(request, "jobs/new.html", _new_job_context(request, form), status=400)
    return redirect("job_detail", pk=job.pk)


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk, VIEW)
    report = mask_validation_report(job.validation_report or {}, request.user)
    context = {
        "job": job,
        "report": report,
        "progress": bulk.job_progress(job),
        "can_control": can(request, CONTROL),
        "estimate": _duration_words(bulk.estimated_duration_s(job)),
        "estimate_single_request": _duration_words(
            bulk.estimated_duration_s(job, write_mode=WriteMode.SINGLE_REQUEST)
        ),
        "undo_jobs": job.undo_jobs.all(),
        "last_control": job.audit_entries.filter(action__in=JOB_CONTROL_ACTIONS).first(),
        "rejected_rows": mask_rejected_rows(
            job.rejected_rows.all()[:REJECTED_ROWS_SHOWN], request.user
        )
        if job.status not in NOT_STARTED
        else [],
        "can_undo": job.status
        in (BulkJob.Status.COMPLETED, BulkJob.Status.CANCELLED, BulkJob.Status.PAUSED)
        and job.write_mode == WriteMode.READ_FIRST
        and job.items.filter(status=BulkItem.Status.SUCCEEDED).exists(),
    }
    return render(request, "jobs/detail.html", context)


def _duration_words(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} hours"


@require_GET
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """JSON for scripts; the progress panel for the page's htmx polling."""
    job = _job(request, pk, VIEW)
    progress = bulk.job_progress(job)
    if request.htmx and request.GET.get("checking") == "1":
        if job.status == BulkJob.Status.VALIDATING:
            return render(request, "jobs/_checking.html", {"job": job, "progress": progress})
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"  # checked: the whole page changes (report, dry run)
        return response
    if request.htmx:
        return render(
            request,
            "jobs/_progress.html",
            {"job": job, "progress": progress, "can_control": can(request, CONTROL)},
        )
    return JsonResponse(progress)


@require_GET
def job_preview(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk, CONTROL)
    diffs = mask_diffs(sample_diffs(job), request.user)
    return render(request, "jobs/_preview.html", {"job": job, "diffs": diffs})


@require_GET
def job_results(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    job = _job(request, pk, CONTROL)
    # The file holds the variables before and after every write, personal data included.
    require(request, "see_personal_data")
    response = StreamingHttpResponse(
        bulk.iter_results_csv(job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-results.csv"'
    return response


def _control(request: HttpRequest, job: BulkJob, act, done: str) -> HttpResponse:
    try:
        outcome = act(job)
    except bulk.JobStateError as error:
        messages.error(request, str(error))
        return redirect("job_detail", pk=job.pk)
    if isinstance(outcome, BulkJob) and outcome.pk != job.pk:
        messages.success(request, done)
        return redirect("job_detail", pk=outcome.pk)
    messages.success(request, done.format(count=outcome) if isinstance(outcome, int) else done)
    return redirect("job_detail", pk=job.pk)


@require_POST
def job_start(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk, CONTROL)
    if step_up.job_needs_step_up(job):
        asking = step_up.confirm_and_continue(
            request, action="start the job", cancel_url=reverse("job_detail", args=[job.pk])
        )
        if asking is not None:
            return asking
    decision = StartJobForm(request.POST)
    if not decision.is_valid():
        for errors in decision.errors.values():
            messages.error(request, errors[0])
        return redirect("job_detail", pk=job.pk)
    return _control(
        request,
        job,
        lambda job: bulk.start_job(job, request.user, **decision.start_options()),
        "The job is queued; a worker picks it up in a moment.",
    )


@require_POST
def job_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _control(
        request,
        _job(request, pk, CONTROL),
        lambda job: bulk.pause_job(job, request.user, source=AuditEntry.Source.PAGE),
        "Paused: items in hand finish, no other starts.",
    )


@require_POST
def job_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _control(
        request,
        _job(request, pk, CONTROL),
        lambda job: bulk.resume_job(job, request.user, source=AuditEntry.Source.PAGE),
        "Resumed.",
    )


@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _control(
        request,
        _job(request, pk, CONTROL),
        lambda job: bulk.cancel_job(job, request.user, source=AuditEntry.Source.PAGE),
        "Cancelled: items not started are skipped.",
    )


@require_POST
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _control(
        request,
        _job(request, pk, CONTROL),
        lambda job: bulk.retry_failed(job, request.user),
        "Retrying {count} failed items.",
    )


@require_POST
def job_undo(request: HttpRequest, pk: int) -> HttpResponse:
    return _control(
        request,
        _job(request, pk, CONTROL),
        lambda job: bulk.create_undo_job(job, request.user),
        "Undo job drafted: check the dry run, then start it.",
    )


@require_POST
def job_discard(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk, CONTROL)
    try:
        bulk.discard_draft(job)
    except bulk.JobStateError as error:
        messages.error(request, str(error))
        return redirect("job_detail", pk=job.pk)
    messages.success(request, "Draft discarded.")
    return redirect("job_list")
