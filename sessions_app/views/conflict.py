"""The conflict page: an edit was refused because the conversation moved after the operator read it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..actions import Conflict
from ..inspector.diff import state_diff
from ..inspector.display import pretty_json
from ..inspector.seen import remember_seen, seen_state
from ..models import Environment
from ..personal_data import mask_state

NOT_RESENT = {"csrfmiddlewaretoken", "based_on"}


def render_conflict(
    request: HttpRequest,
    environment: Environment,
    user_id: str,
    conflict: Conflict,
    *,
    based_on: str,
    description: str,
    reapply_fields: list[tuple[str, str]] | None = None,
) -> HttpResponse:
    """Show what changed between the state the operator saw and the state now, with a button that
    sends the same form again, based on the state now.

    `reapply_fields` replaces the posted fields when re-applying should take another route (a
    whole-state edit goes back to its preview rather than straight to the write).
    """
    state_seen = seen_state(request, environment, user_id, based_on)
    remember_seen(request, environment, user_id, conflict.state_now)
    if reapply_fields is None:
        reapply_fields = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in NOT_RESENT
            for value in values
        ]
    context = {
        "environment": environment,
        "user_id": user_id,
        "description": description,
        "diff": state_diff(
            mask_state(state_seen, request.user), mask_state(conflict.state_now, request.user)
        )
        if state_seen is not None
        else None,
        "state_now_json": pretty_json(mask_state(conflict.state_now, request.user)),
        "fingerprint_now": conflict.fingerprint_now,
        "reapply_url": request.path,
        "reapply_fields": reapply_fields,
        "entry": conflict.entry,
    }
    return render(request, "sessions/conflict.html", context, status=409)
