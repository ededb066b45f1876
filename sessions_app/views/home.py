"""Find a session: open a userID in an environment, or pick one from the known-sessions index."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from ..access import can, environment_for
from ..inspector.display import key_variables
from ..inspector.forms import FindSessionForm, KnownSessionSearchForm
from ..known_sessions import search_known_sessions
from ..models import KnownSession
from ..personal_data import exclude_hidden_matches, exclude_hidden_user_ids, mask_known_session
from ..workspace import current_environment, remember_environment
from .sessions import inspector_url

SESSIONS_PER_PAGE = 25


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not can(request, "inspect_session"):
        return render(request, "home.html", {"no_role": True})
    environment = current_environment(request)
    status = 200
    if "user" in request.GET:
        find_form = FindSessionForm(request.GET)
        if find_form.is_valid():
            chosen = find_form.cleaned_data["environment"]
            remember_environment(request, chosen)
            return redirect(inspector_url(chosen, find_form.cleaned_data["user"]))
        status = 400
    else:
        find_form = FindSessionForm(initial={"environment": environment})

    search_form = KnownSessionSearchForm(request.GET)
    search_form.is_valid()
    known_page = None
    if environment is not None:
        value = search_form.cleaned_data.get("value", "")
        prefix = search_form.cleaned_data.get("prefix", "")
        known = exclude_hidden_matches(
            search_known_sessions(environment, user_id_prefix=prefix, variable_value=value),
            value,
            request.user,
        )
        known = exclude_hidden_user_ids(known, prefix, request.user)
        known_page = Paginator(known, SESSIONS_PER_PAGE).get_page(request.GET.get("page"))
        for known_session in known_page:
            mask_known_session(known_session, request.user)
            known_session.key_variables = key_variables(known_session.variables_snapshot)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "find_form": find_form,
        "search_form": search_form,
        "environment": environment,
        "known_page": known_page,
        "search_query": query.urlencode(),
        "searching": bool(
            search_form.cleaned_data.get("prefix") or search_form.cleaned_data.get("value")
        ),
    }
    return render(request, "home.html", context, status=status)


@require_GET
def open_known_session(request: HttpRequest, pk: int) -> HttpResponse:
    """The inspector of a listed session. Lists link here rather than to the userID itself, so
    a list shown to a role without see_personal_data does not carry the userIDs it hides."""
    known = get_object_or_404(KnownSession.objects.only("environment_id", "user_id"), pk=pk)
    environment = environment_for(request, known.environment_id, "inspect_session")
    return redirect(inspector_url(environment, known.user_id))
