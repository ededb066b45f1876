"""Find a session: open a userID in an environment, or pick one from the known-sessions index."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from ..access import can
from ..inspector.display import key_variables
from ..inspector.forms import FindSessionForm, KnownSessionSearchForm
from ..known_sessions import search_known_sessions
from ..pagination import CappedPaginator
from ..personal_data import exclude_hidden_matches, mask_state
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
        known = exclude_hidden_matches(
            search_known_sessions(
                environment,
                user_id_prefix=search_form.cleaned_data.get("prefix", ""),
                variable_value=value,
            ),
            value,
            request.user,
        )
        known_page = CappedPaginator(known, SESSIONS_PER_PAGE).get_page(request.GET.get("page"))
        for known_session in known_page:
            known_session.key_variables = key_variables(
                mask_state(known_session.variables_snapshot, request.user)
            )
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
