"""Reset a session (DELETE), confirmed by typing its userID. The audit row keeps the state before."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from ..access import environment_for
from ..actions import Conflict, WriteContext, do_reset_session
from ..flows.display import named_stack
from ..inspector.display import stack_view
from ..inspector.forms import ResetForm
from ..inspector.reading import fetch_state
from ..inspector.seen import remember_seen, seen_state
from ..models import AuditEntry, Environment
from ..voiceflow import InvalidUserID, VoiceflowError
from .conflict import render_conflict
from .sessions import inspector_url, render_problem, requested_user_id
from .undo import edit_succeeded


@require_http_methods(["GET", "POST"])
def reset_session(request: HttpRequest, environment_id: int) -> HttpResponse:
    environment = environment_for(request, environment_id, "reset_session")
    try:
        user_id = requested_user_id(request.POST if request.method == "POST" else request.GET)
    except InvalidUserID as error:
        return render_problem(request, error.message)

    if request.method == "GET":
        try:
            state = fetch_state(environment, user_id)
        except VoiceflowError as error:
            return _render(request, environment, user_id, None, None, error=error.message)
        based_on = remember_seen(request, environment, user_id, state)
        form = ResetForm(user_id=user_id, initial={"based_on": based_on})
        return _render(request, environment, user_id, state, form)

    form = ResetForm(request.POST, user_id=user_id)
    if not form.is_valid():
        state = seen_state(request, environment, user_id, request.POST.get("based_on", ""))
        return _render(request, environment, user_id, state, form, status=400)
    based_on = form.cleaned_data["based_on"]
    try:
        entry = do_reset_session(
            environment,
            user_id,
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
            description="Reset the session (delete its state)",
        )
    except VoiceflowError as error:
        state = seen_state(request, environment, user_id, based_on)
        return _render(request, environment, user_id, state, form, error=error.message)
    edit_succeeded(
        request,
        "The session was reset. Its state before the reset is in the history below; "
        "Undo (or “Restore this state” there) brings it back.",
        entry,
    )
    return redirect(inspector_url(environment, user_id))


def _render(
    request: HttpRequest,
    environment: Environment,
    user_id: str,
    state: dict | None,
    form: ResetForm | None,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "environment": environment,
        "user_id": user_id,
        "state": state,
        "form": form,
        "error": error,
        "variable_count": len((state or {}).get("variables") or {}),
        "stack": stack_view((state or {}).get("stack")),
    }
    context["flow_map"] = named_stack(environment, state, context["stack"])
    return render(request, "sessions/reset.html", context, status=status)
