"""Edit the whole state as JSON: validate the shape, preview what changes, then replace (PUT)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ..access import environment_for
from ..actions import (
    Conflict,
    StateShapeError,
    WriteContext,
    do_replace_state,
    state_parts,
    writable_state,
)
from ..inspector.diff import state_diff
from ..inspector.display import pretty_json
from ..inspector.forms import StateEditForm
from ..inspector.reading import fetch_state
from ..inspector.seen import remember_seen, seen_state
from ..models import AuditEntry, Environment
from ..voiceflow import InvalidUserID, VoiceflowError
from .conflict import render_conflict
from .sessions import inspector_url, render_problem, requested_user_id
from .undo import edit_succeeded

EMPTY_STATE = {"stack": [], "storage": {}, "variables": {}}


@require_http_methods(["GET", "POST"])
def edit_state(request: HttpRequest, environment_id: int) -> HttpResponse:
    environment = environment_for(request, environment_id, "replace_state")
    try:
        user_id = requested_user_id(request.POST if request.method == "POST" else request.GET)
    except InvalidUserID as error:
        return render_problem(request, error.message)
    if request.method == "GET":
        return _editor_from_upstream(request, environment, user_id)

    form = StateEditForm(request.POST)
    step = request.POST.get("step", "preview")
    if step == "edit" or not form.is_valid():
        return _render_editor(
            request, environment, user_id, form, status=200 if step == "edit" else 400
        )
    proposed = form.cleaned_data["state"]
    based_on = form.cleaned_data["based_on"]
    if step != "send":
        return _render_preview(request, environment, user_id, form, proposed, based_on)
    try:
        entry = do_replace_state(
            environment,
            user_id,
            proposed,
            context=WriteContext(
                actor=request.user, source=AuditEntry.Source.PAGE, based_on=based_on
            ),
        )
    except Conflict as conflict:
        return render_conflict(
            request,
            environment,
            user_id,
            conflict,
            based_on=based_on,
            description="Replace the whole state",
            reapply_fields=[
                ("user", user_id),
                ("state_json", form.cleaned_data["state_json"]),
                ("step", "preview"),
            ],
        )
    except (VoiceflowError, StateShapeError) as error:
        message = str(error)
        return _render_preview(
            request, environment, user_id, form, proposed, based_on, error=message
        )
    edit_succeeded(request, "The whole state was replaced.", entry)
    return redirect(inspector_url(environment, user_id))


def _editor_from_upstream(
    request: HttpRequest, environment: Environment, user_id: str
) -> HttpResponse:
    try:
        state = fetch_state(environment, user_id)
    except VoiceflowError as error:
        return _render_editor(request, environment, user_id, None, error=error.message)
    based_on = remember_seen(request, environment, user_id, state)
    # Shown as read; the write leaves out what the runtime returns but refuses (a base frame's
    # null nodeID), so the editor need not.
    text = pretty_json(state_parts(state) if state else EMPTY_STATE)
    form = StateEditForm(initial={"state_json": text, "based_on": based_on})
    return _render_editor(request, environment, user_id, form, had_turn=bool(state.get("turn")))


def _render_editor(
    request: HttpRequest,
    environment: Environment,
    user_id: str,
    form: StateEditForm | None,
    *,
    error: str = "",
    had_turn: bool = False,
    status: int = 200,
) -> HttpResponse:
    context = {
        "environment": environment,
        "user_id": user_id,
        "form": form,
        "error": error,
        "had_turn": had_turn,
    }
    return render(request, "sessions/edit_state.html", context, status=status)


def _render_preview(
    request: HttpRequest,
    environment: Environment,
    user_id: str,
    form: StateEditForm,
    proposed: dict,
    based_on: str,
    *,
    error: str = "",
) -> HttpResponse:
    """What the write will change, compared with the state the operator loaded in the editor."""
    loaded = seen_state(request, environment, user_id, based_on)
    compared_with_now = loaded is None
    if loaded is None:
        try:
            loaded = fetch_state(environment, user_id)
        except VoiceflowError as failure:
            return _render_editor(request, environment, user_id, form, error=failure.message)
    context = {
        "environment": environment,
        "user_id": user_id,
        "form": form,
        "diff": state_diff(writable_state(loaded) if loaded else {}, writable_state(proposed)),
        "dropped_turn": bool(loaded.get("turn")),
        "compared_with_now": compared_with_now,
        "error": error,
    }
    return render(request, "sessions/edit_state_preview.html", context)
