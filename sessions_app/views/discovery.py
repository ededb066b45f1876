"""Find by activity: import userIDs from Voiceflow's transcripts and search the index by the
time of the last activity, the userID or a variable value."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ..access import require
from ..discovery import TranscriptSearch, import_from_transcripts, search_by_activity, source_for
from ..discovery.forms import ActivitySearchForm, ImportForm
from ..discovery.tasks import read_imported_states
from ..encryption import UndecryptableSecret
from ..inspector.display import key_variables
from ..models import Environment
from ..personal_data import exclude_hidden_matches, exclude_hidden_user_ids, mask_known_session
from ..voiceflow import VoiceflowError
from ..workspace import current_environment, remember_environment

RESULTS_PER_PAGE = 25


def _render(
    request: HttpRequest,
    environment: Environment | None,
    *,
    import_form: ImportForm,
    import_error: str = "",
    status: int = 200,
) -> HttpResponse:
    search_form = ActivitySearchForm(request.GET)
    results = None
    if environment is not None and search_form.is_valid():
        found = exclude_hidden_matches(
            search_by_activity(
                environment,
                user_id_prefix=search_form.cleaned_data["user"],
                variable_value=search_form.cleaned_data["value"],
                active_within=search_form.active_within(),
            ),
            search_form.cleaned_data["value"],
            request.user,
        )
        found = exclude_hidden_user_ids(found, search_form.cleaned_data["user"], request.user)
        results = Paginator(found, RESULTS_PER_PAGE).get_page(request.GET.get("page"))
        for known in results:
            mask_known_session(known, request.user)
            known.key_variables = key_variables(known.variables_snapshot)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "environment": environment,
        "uses_realtime_search": environment is not None
        and source_for(environment.project) == TranscriptSearch.REALTIME,
        "search_form": search_form,
        "searching": any(request.GET.get(name) for name in ("user", "active", "value")),
        "results": results,
        "search_query": query.urlencode(),
        "import_form": import_form,
        "import_error": import_error,
        "time_zone": timezone.get_current_timezone_name(),
    }
    return render(request, "discovery/find.html", context, status=status)


@require_GET
def find_by_activity(request: HttpRequest) -> HttpResponse:
    require(request, "inspect_session")
    environment = current_environment(request)
    status = 200 if ActivitySearchForm(request.GET).is_valid() else 400
    return _render(
        request, environment, import_form=ImportForm.for_today(environment), status=status
    )


@require_POST
def import_transcripts(request: HttpRequest) -> HttpResponse:
    """Import now: read the transcripts of the period (sends requests, paced by the project's
    budget), record their userIDs, and read their states in the background."""
    require(request, "inspect_session")
    form = ImportForm(request.POST)
    if not form.is_valid():
        return _render(request, current_environment(request), import_form=form, status=400)
    environment = form.cleaned_data["environment"]
    try:
        report = import_from_transcripts(
            environment,
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            this_environment_only=form.cleaned_data["this_environment_only"],
        )
    except VoiceflowError as error:
        return _render(
            request,
            environment,
            import_form=form,
            import_error=f"Nothing was imported: {error.message}",
        )
    except UndecryptableSecret:
        return _render(
            request,
            environment,
            import_form=form,
            import_error="Nothing was imported: this project's stored credentials cannot be "
            "decrypted with the configured keys; enter them again on the project's page.",
        )
    if report.to_read:
        read_imported_states.delay_on_commit(environment.pk)
    remember_environment(request, environment)
    messages.success(request, report.summary())
    return redirect(reverse("find_by_activity"))
