"""Find a session: open a userID in an environment, or pick one from the known-sessions index."""

from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from ..access import can, environment_for
from ..inspector.display import key_variables
from ..inspector.forms import FindSessionForm, KnownSessionSearchForm
from ..known_sessions import search_known_sessions
from ..models import KnownSession
from ..pagination import CappedPaginator
from ..personal_data import exclude_hidden_matches, exclude_hidden_user_ids, mask_known_session
from ..workspace import current_environment, remember_environment
from .sessions import inspector_url

SESSIONS_PER_PAGE = 25

# The sortable columns of the known-sessions list, as in Django admin's change list: `?o=activity`
# sorts by that column ascending, `?o=-activity` descending. Sessions never seen active (NULL)
# come last either way; ties fall back to the most recently seen.
SORT_FIELDS = {
    "user": ("user_id", "userID"),
    "activity": ("last_activity_at", "Last active"),
    "seen": ("last_seen_at", "Last seen here"),
    "where": ("current_flow", "Where"),
}
DEFAULT_SORT = "-activity"


def sort_key(requested: str) -> str:
    """The requested sort if it names a column (`activity`, `-activity`…), else the default."""
    return requested if requested.lstrip("-") in SORT_FIELDS else DEFAULT_SORT


def sorted_sessions(sessions: QuerySet[KnownSession], key: str) -> QuerySet[KnownSession]:
    field = F(SORT_FIELDS[key.lstrip("-")][0])
    order = field.desc(nulls_last=True) if key.startswith("-") else field.asc(nulls_last=True)
    return sessions.order_by(order, F("last_seen_at").desc(), "pk")


def sort_columns(key: str) -> list[dict]:
    """Each sortable column: its label, the `o` value its header links to (the other direction
    when it is the current sort), and how the list is sorted by it now."""
    columns = []
    for column, (_field, label) in SORT_FIELDS.items():
        if key.lstrip("-") == column:
            current = "descending" if key.startswith("-") else "ascending"
            toggled = column if key.startswith("-") else f"-{column}"
        else:
            dates_newest_first = column in ("activity", "seen")
            current, toggled = "", f"-{column}" if dates_newest_first else column
        columns.append({"column": column, "label": label, "o": toggled, "sort": current})
    return columns


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
    sort = sort_key(request.GET.get("o", ""))
    if environment is not None:
        value = search_form.cleaned_data.get("value", "")
        prefix = search_form.cleaned_data.get("prefix", "")
        known = exclude_hidden_matches(
            search_known_sessions(environment, user_id_prefix=prefix, variable_value=value),
            value,
            request.user,
        )
        known = exclude_hidden_user_ids(known, prefix, request.user)
        known = sorted_sessions(known, sort)
        known_page = CappedPaginator(known, SESSIONS_PER_PAGE).get_page(request.GET.get("page"))
        for known_session in known_page:
            mask_known_session(known_session, request.user)
            known_session.key_variables = key_variables(known_session.variables_snapshot)
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("o", None)
    context = {
        "find_form": find_form,
        "search_form": search_form,
        "environment": environment,
        "known_page": known_page,
        "search_query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "sort": sort,
        "sort_columns": sort_columns(sort),
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
