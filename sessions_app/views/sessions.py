"""The session inspector: read one conversation, watch it live, set and remove variables."""

import itertools
import re
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from ..access import environment_for
from ..actions import Conflict, StateShapeError, WriteContext, do_remove_variables, do_set_variables
from ..audit import session_history
from ..flows.display import named_stack
from ..flows.links import crm_link, session_link
from ..inspector.diff import state_diff, with_diffs
from ..inspector.display import RUNTIME_VARIABLES, pretty_json, stack_view, variable_rows
from ..inspector.forms import RemoveVariableForm, SetVariableForm
from ..inspector.reading import fetch_state
from ..inspector.seen import remember_seen, seen_state
from ..inspector.values import describe_value
from ..models import AuditEntry, Environment
from ..personal_data import is_mask, mask_entry, mask_state
from ..stored_json import json_text, name_to_json, oddities, printable
from ..voiceflow import (
    InvalidUserID,
    RateLimited,
    VoiceflowError,
    edge_space_warning,
    user_id_warning,
    validate_user_id,
)
from ..workspace import remember_environment
from .conflict import render_conflict
from .undo import edit_succeeded

WATCH_INTERVAL_S = 3
HISTORY_SHOWN = 25
ODDITIES_SHOWN = 10


def inspector_url(environment: Environment, user_id: str, **params: str) -> str:
    """The inspector's address; the userID travels as a query parameter, percent-encoded."""
    query = urlencode({"user": user_id, **params})
    return f"{reverse('session_inspect', args=[environment.pk])}?{query}"


def render_problem(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    return render(request, "sessions/problem.html", {"message": message}, status=status)


def wait_of(error: Exception | None) -> dict | None:
    """A rate limit's reason and wait in whole seconds, for a page to count down; else None."""
    if not isinstance(error, RateLimited):
        return None
    return {"reason": error.reason, "seconds": int(error.retry_after_s or 1)}


def requested_user_id(data) -> str:
    """The `user` parameter, validated; raises InvalidUserID with a message for the page."""
    return validate_user_id(data.get("user", ""))


def live_state_context(
    request: HttpRequest,
    environment: Environment,
    user_id: str,
    state: dict | None,
    *,
    previous: dict | None = None,
    watching: bool = False,
    since: str = "",
    error: str = "",
    error_wait: dict | None = None,
    error_note: str = "",
) -> dict:
    """What the live part of the inspector shows; `previous` marks what changed since then."""
    shown = remember_seen(request, environment, user_id, state) if state is not None else ""
    state, previous = mask_state(state, request.user), mask_state(previous, request.user)
    compare = previous is not None and state is not None
    context = {
        "environment": environment,
        "user_id": user_id,
        "state": state,
        "error": error,
        "error_wait": error_wait,
        "error_note": error_note,
        "based_on": shown,
        "fetched_at": None if error else timezone.now(),
        "watching": watching,
        "watch_interval_s": WATCH_INTERVAL_S,
        "since": since,
        "changes": state_diff(previous, state) if compare else None,
        "history": with_diffs(
            mask_entry(entry, request.user)
            for entry in session_history(environment, user_id, HISTORY_SHOWN)
        )
        if request.user.has_perm("sessions_app.view_audit")
        else None,
    }
    if state is not None:
        context |= {
            "has_state": bool(state),
            "variables": variable_rows(
                state.get("variables"), (previous or {}).get("variables", {}) if compare else None
            ),
            "stack": stack_view(
                state.get("stack"),
                (previous or {}).get("stack") if compare else None,
                compare=compare,
            ),
            "storage_json": pretty_json(state["storage"]) if state.get("storage") else "",
            "turn_json": pretty_json(state["turn"]) if state.get("turn") else "",
            "raw_json": pretty_json(state),
            "oddities": list(itertools.islice(oddities(state), ODDITIES_SHOWN)),
        }
        context["flow_map"] = named_stack(environment, state, context["stack"])
    return context


def render_inspector(
    request: HttpRequest,
    environment: Environment,
    user_id: str,
    *,
    set_form: SetVariableForm | None = None,
    error: str = "",
    write_failure: Exception | None = None,
    status: int = 200,
) -> HttpResponse:
    watching = request.GET.get("watch") == "1"
    try:
        state = fetch_state(environment, user_id)
        read_error, read_wait = "", None
    except VoiceflowError as failure:
        state, read_error, read_wait = None, failure.message, wait_of(failure)
    context = live_state_context(
        request,
        environment,
        user_id,
        state,
        watching=watching,
        error=read_error,
        error_wait=read_wait,
    )
    context |= {
        "write_error": error,
        "write_wait": wait_of(write_failure),
        "set_form": set_form or SetVariableForm(initial={"kind": "string"}),
        "edge_space_warning": edge_space_warning(user_id),
        "user_id_warning": user_id_warning(user_id),
        "session_link": request.build_absolute_uri(session_link(environment, user_id)),
        "crm_link": crm_link(environment.project, user_id),
    }
    return render(request, "sessions/inspect.html", context, status=status)


@require_GET
def inspect(request: HttpRequest, environment_id: int) -> HttpResponse:
    environment = environment_for(request, environment_id, "inspect_session")
    try:
        user_id = requested_user_id(request.GET)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    remember_environment(request, environment)
    return render_inspector(request, environment, user_id)


@require_GET
def watch(request: HttpRequest, environment_id: int) -> HttpResponse:
    """One poll of watch mode: the live part again, marked with what changed since the last change.

    `shown` is the state on screen; `since` the one it was compared with. While nothing moves the
    same comparison is repeated, so highlights stay until the conversation changes again.
    """
    environment = environment_for(request, environment_id, "inspect_session")
    try:
        user_id = requested_user_id(request.GET)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    shown, since = request.GET.get("shown", ""), request.GET.get("since", "")
    try:
        state = fetch_state(environment, user_id)
    except VoiceflowError as failure:
        last = seen_state(request, environment, user_id, shown)
        previous = seen_state(request, environment, user_id, since) if since else None
        context = live_state_context(
            request,
            environment,
            user_id,
            last,
            previous=previous,
            watching=True,
            since=since,
            error=failure.message,
            error_wait=wait_of(failure),
            error_note="Showing the state from the last successful read.",
        )
        return render(request, "sessions/includes/live_state.html", context)
    if remember_seen(request, environment, user_id, state) != shown or not since:
        since = shown
    previous = seen_state(request, environment, user_id, since) if since else None
    context = live_state_context(
        request, environment, user_id, state, previous=previous, watching=True, since=since
    )
    context["refresh_based_on"] = True
    return render(request, "sessions/includes/live_state.html", context)


@require_GET
def download(request: HttpRequest, environment_id: int) -> HttpResponse:
    environment = environment_for(request, environment_id, "inspect_session")
    try:
        user_id = requested_user_id(request.GET)
        state = fetch_state(environment, user_id)
    except VoiceflowError as error:
        return render_problem(
            request, error.message, status=400 if isinstance(error, InvalidUserID) else 200
        )
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "_", user_id)[:60].strip("_") or "session"
    filename = f"{safe_name}-{environment.label}-{timezone.now():%Y%m%d-%H%M%S}.json"
    return HttpResponse(
        json_text(mask_state(state, request.user), indent=2),
        content_type="application/json; charset=utf-8",
        headers={"Content-Disposition": content_disposition_header(True, filename)},
    )


@require_POST
def set_variable(request: HttpRequest, environment_id: int) -> HttpResponse:
    environment = environment_for(request, environment_id, "edit_variables")
    try:
        user_id = requested_user_id(request.POST)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    form = SetVariableForm(request.POST)
    if not form.is_valid():
        return render_inspector(request, environment, user_id, set_form=form, status=400)
    name, value = form.cleaned_data["name"], form.cleaned_data["parsed_value"]
    if is_mask(value):
        form.add_error(
            "value", "The current value is hidden from your role; type the new value instead."
        )
        return render_inspector(request, environment, user_id, set_form=form, status=400)
    description = f"Set {printable(name)} to {describe_value(value)}"
    if form.needs_confirmation():
        return confirm_runtime_variable(request, environment, user_id, form, description)
    try:
        entry = do_set_variables(
            environment,
            user_id,
            {name: value},
            context=WriteContext(
                actor=request.user,
                source=AuditEntry.Source.PAGE,
                based_on=form.cleaned_data["based_on"],
            ),
        )
    except Conflict as conflict:
        return render_conflict(
            request,
            environment,
            user_id,
            conflict,
            based_on=form.cleaned_data["based_on"],
            description=description,
        )
    except (VoiceflowError, StateShapeError) as error:
        return render_inspector(
            request, environment, user_id, set_form=form, error=str(error), write_failure=error
        )
    edit_succeeded(request, f"{description}.", entry)
    return redirect(inspector_url(environment, user_id))


@require_POST
def remove_variable(request: HttpRequest, environment_id: int) -> HttpResponse:
    environment = environment_for(request, environment_id, "edit_variables")
    try:
        user_id = requested_user_id(request.POST)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    form = RemoveVariableForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(message for field in form.errors.values() for message in field)
        return render_inspector(request, environment, user_id, error=errors, status=400)
    name = form.cleaned_data["name"]
    if environment.is_production and request.POST.get("confirmed") != "1":
        return _confirm_removal(request, environment, user_id, name, form.cleaned_data["based_on"])
    description = f"Remove the variable {printable(name)}"
    if form.needs_confirmation():
        return confirm_runtime_variable(request, environment, user_id, form, description)
    try:
        entry = do_remove_variables(
            environment,
            user_id,
            [name],
            context=WriteContext(
                actor=request.user,
                source=AuditEntry.Source.PAGE,
                based_on=form.cleaned_data["based_on"],
            ),
        )
    except Conflict as conflict:
        return render_conflict(
            request,
            environment,
            user_id,
            conflict,
            based_on=form.cleaned_data["based_on"],
            description=description,
        )
    except (VoiceflowError, StateShapeError) as error:
        return render_inspector(
            request, environment, user_id, error=str(error), write_failure=error
        )
    edit_succeeded(request, f"Removed the variable {printable(name)}.", entry)
    return redirect(inspector_url(environment, user_id))


def _confirm_removal(
    request: HttpRequest, environment: Environment, user_id: str, name: str, based_on: str
) -> HttpResponse:
    """In Production one click does not remove: this page names what goes and asks first; its
    button sends the exact name on (`name_json`)."""
    shown = mask_state(seen_state(request, environment, user_id, based_on), request.user) or {}
    variables = shown.get("variables") or {}
    context = {
        "environment": environment,
        "user_id": user_id,
        "name": printable(name),
        "name_json": name_to_json(name),
        "based_on": based_on,
        "value": describe_value(variables[name]) if name in variables else "",
    }
    return render(request, "sessions/remove_variable_confirm.html", context)


def confirm_runtime_variable(
    request: HttpRequest,
    environment: Environment,
    user_id: str,
    form: SetVariableForm | RemoveVariableForm,
    description: str,
) -> HttpResponse:
    """Ask before one of the runtime's own variables is changed; the answer posts the same
    change again (the exact name too, as it was sent), confirmed. Nothing is sent until then."""
    name = form.cleaned_data["name"]
    fields = [
        (key, value)
        for key, value in request.POST.items()
        if key not in ("csrfmiddlewaretoken", "confirm_runtime")
    ]
    context = {
        "environment": environment,
        "user_id": user_id,
        "name": name,
        "note": RUNTIME_VARIABLES[name],
        "description": description,
        "fields": fields,
        "action_url": request.path,
        "cancel_url": inspector_url(environment, user_id),
    }
    return render(request, "sessions/confirm_runtime_variable.html", context)
