"""How a session got where it is: the turns from the transcripts, one timeline with the audit
trail, the diff between two recorded states, and the stable link a helpdesk points at.

The inspector loads the fragments after it renders (htmx, `hx-trigger="load"`): reading
transcripts takes several calls to Voiceflow and must not hold the page.
"""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from ..access import environment_for, require
from ..flows.timeline import diff_between, merged, recorded_states, session_entries
from ..flows.turns import recent_turns, turns_page
from ..models import Environment
from ..voiceflow import InvalidUserID
from .sessions import inspector_url, render_problem, requested_user_id

PAGE_MAX = 1000


def _page_number(value: str) -> int:
    return int(value) if value.isdigit() and 1 <= int(value) <= PAGE_MAX else 1


@require_GET
def session_turns(request: HttpRequest, environment_id: int) -> HttpResponse:
    """One page of the user's recent turns, newest last (page 1 is the newest)."""
    environment = environment_for(request, environment_id, "inspect_session")
    try:
        user_id = requested_user_id(request.GET)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    page = _page_number(request.GET.get("page", "1"))
    report = turns_page(environment, user_id, page, request.user)
    return render(
        request,
        "flows/turns.html",
        {"environment": environment, "user_id": user_id, "report": report},
    )


@require_GET
def session_timeline(request: HttpRequest, environment_id: int) -> HttpResponse:
    """Turns and audited writes by time; writes only for those who may read the audit trail."""
    environment = environment_for(request, environment_id, "inspect_session")
    try:
        user_id = requested_user_id(request.GET)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    turns, report = recent_turns(environment, user_id, request.user)
    sees_writes = request.user.has_perm("sessions_app.view_audit")
    entries = session_entries(environment, user_id, request.user) if sees_writes else []
    return render(
        request,
        "flows/timeline.html",
        {
            "environment": environment,
            "user_id": user_id,
            "report": report,
            "moments": merged(turns, entries),
            "sees_writes": sees_writes,
            "states": recorded_states(entries),
        },
    )


@require_GET
def session_compare(request: HttpRequest, environment_id: int) -> HttpResponse:
    """The diff between two states the audit trail recorded for this session."""
    environment = environment_for(request, environment_id, "view_audit")
    try:
        user_id = requested_user_id(request.GET)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    states = recorded_states(session_entries(environment, user_id, request.user))
    older, newer = request.GET.get("from", ""), request.GET.get("to", "")
    diff = diff_between(states, older, newer)
    labels = {state.key: state.label for state in states}
    return render(
        request,
        "flows/compare.html",
        {
            "diff": diff,
            "older": labels.get(older, ""),
            "newer": labels.get(newer, ""),
            "problem": ""
            if diff is not None
            else "Pick two states this session's audit trail recorded.",
        },
        status=200 if diff is not None else 400,
    )


@require_GET
def session_link(request: HttpRequest, project_id: str, environment: str) -> HttpResponse:
    """/s/<Voiceflow project ID>/<environment label or versionID>?user=<userID>: the stable
    address of a session, for helpdesk tickets; it opens the inspector."""
    # Checked first, so a role without it learns nothing about which projects exist.
    require(request, "inspect_session")
    candidates = list(
        Environment.objects.filter(project__voiceflow_project_id=project_id).order_by("pk")
    )
    wanted = environment.strip().lower()
    match = next((e for e in candidates if e.label.lower() == wanted), None) or next(
        (e for e in candidates if e.version_id.lower() == wanted), None
    )
    if match is None:
        raise Http404("No such project and environment.")
    match = environment_for(request, match.pk, "inspect_session")
    try:
        user_id = requested_user_id(request.GET)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    return redirect(inspector_url(match, user_id))
