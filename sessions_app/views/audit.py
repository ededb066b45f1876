"""The audit trail: every write, filterable; one entry in full; putting a recorded state back."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from ..access import can, environment_for, require
from ..actions import Conflict, StateShapeError, WriteContext, do_restore, writable_state
from ..audit_summary import change_summary
from ..forms import AuditFilterForm
from ..inspector.diff import entry_diff, state_diff
from ..inspector.display import pretty_json
from ..inspector.forms import BasedOnForm
from ..inspector.reading import fetch_state
from ..inspector.seen import remember_seen
from ..models import AuditEntry, Environment
from ..pagination import CappedPaginator
from ..personal_data import exclude_hidden_user_ids, mask_entry, mask_state
from ..voiceflow import VoiceflowError
from .conflict import render_conflict
from .sessions import inspector_url, render_problem
from .undo import edit_succeeded

ENTRIES_PER_PAGE = 50


@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    require(request, "view_audit")
    form = AuditFilterForm(request.GET or None)
    entries = AuditEntry.objects.all()
    if form.is_bound and form.is_valid():
        entries = form.filter(entries)
        if not form.cleaned_data.get("exact_user"):
            # Part of a userID must not spell out a personal one the page then masks.
            entries = exclude_hidden_user_ids(entries, form.cleaned_data.get("user"), request.user)
    elif form.is_bound:
        entries = entries.none()
    page = CappedPaginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    for entry in page:
        entry.summary = change_summary(mask_entry(entry, request.user))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "filter_query": query.urlencode()}
    return render(request, "audit/list.html", context, status=400 if form.errors else 200)


@require_GET
def audit_detail(request: HttpRequest, entry_id: int) -> HttpResponse:
    require(request, "view_audit")
    entry = get_object_or_404(
        AuditEntry.objects.select_related("restored_from", "environment__project"), pk=entry_id
    )
    restorable_entry = restorable(entry)
    entry = mask_entry(entry, request.user)
    context = {
        "entry": entry,
        "diff": entry_diff(entry),
        "state_before_json": pretty_json(entry.state_before)
        if entry.state_before is not None
        else "",
        "state_after_json": pretty_json(entry.state_after) if entry.state_after is not None else "",
        "request_json": pretty_json(entry.request_sent) if entry.request_sent is not None else "",
        "restorations": entry.restorations.all()[:20],
        "restorable": restorable_entry,
    }
    return render(request, "audit/detail.html", context)


@require_GET
def audit_entry_session(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The inspector of the session an entry wrote to; audit pages link here, not to the userID
    (hidden from roles without see_personal_data)."""
    require(request, "view_audit")
    entry = get_object_or_404(AuditEntry.objects.only("environment_id", "user_id"), pk=entry_id)
    if entry.environment_id is None or not entry.user_id:
        return render_problem(request, "This record names no session.", status=404)
    environment = environment_for(request, entry.environment_id, "inspect_session")
    return redirect(inspector_url(environment, entry.user_id))


def restorable(entry: AuditEntry) -> bool:
    """Whether the entry recorded a conversation's state before a write, so it can be put back."""
    return (
        entry.state_before is not None and entry.environment_id is not None and bool(entry.user_id)
    )


def later_changes(entry: AuditEntry) -> list[AuditEntry]:
    """The writes to the same conversation after `entry`, oldest first: putting back the state
    from before `entry` undoes every one of them that went through."""
    return list(
        AuditEntry.objects.filter(
            environment_id=entry.environment_id, user_id=entry.user_id, pk__gt=entry.pk
        )
        .exclude(outcome__in=[AuditEntry.Outcome.FAILED, AuditEntry.Outcome.CONFLICT])
        .order_by("pk")
    )


def may_undo(request: HttpRequest, entry: AuditEntry) -> bool:
    """Ops restore any recorded state. Whoever may edit variables may also undo their own
    variable edit while it is the conversation's latest change (the Undo link of its message):
    that puts back only what they themselves changed."""
    if can(request, "replace_state"):
        return True
    return (
        can(request, "edit_variables")
        and entry.actor_id is not None
        and entry.actor_id == request.user.pk
        and entry.action in (AuditEntry.Action.SET_VARIABLES, AuditEntry.Action.REMOVE_VARIABLES)
        and entry.outcome == AuditEntry.Outcome.SUCCEEDED
        and not later_changes(entry)
    )


@require_http_methods(["GET", "POST"])
def audit_restore(request: HttpRequest, entry_id: int) -> HttpResponse:
    """GET: what putting the recorded state back would change now, and which later changes that
    undoes; nothing is written. POST (the confirmation): put it back, audited."""
    if not can(request, "edit_variables"):
        require(request, "replace_state")
    entry = get_object_or_404(AuditEntry, pk=entry_id)
    if not may_undo(request, entry):
        require(request, "replace_state")
    if not restorable(entry):
        return render_problem(request, "This record holds no conversation state to put back.")
    environment = get_object_or_404(
        Environment.objects.select_related("project"), pk=entry.environment_id
    )
    user_id = entry.user_id
    description = (
        f"Restore the state recorded before entry #{entry.pk} ({entry.get_action_display()})"
    )

    if request.method == "GET":
        try:
            state_now = fetch_state(environment, user_id)
        except VoiceflowError as error:
            return _render_restore(request, entry, None, "", error=error.message)
        return _render_restore(
            request, entry, state_now, remember_seen(request, environment, user_id, state_now)
        )

    form = BasedOnForm(request.POST)
    if not form.is_valid():
        return _render_restore(
            request, entry, None, "", error=form.errors["based_on"][0], status=400
        )
    try:
        restoration = do_restore(
            entry,
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
        message = str(error)
        messages.error(request, f"Nothing was restored: {message}")
        return redirect(inspector_url(environment, user_id))
    edit_succeeded(request, f"Restored the state recorded before entry #{entry.pk}.", restoration)
    return redirect(inspector_url(environment, user_id))


def _render_restore(
    request: HttpRequest,
    entry: AuditEntry,
    state_now: dict | None,
    based_on: str,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    target = writable_state(entry.state_before) if entry.state_before else {}
    current = writable_state(state_now) if state_now else {}
    undone = [mask_entry(later, request.user) for later in later_changes(entry)]
    for later in undone:
        later.summary = change_summary(later)
    context = {
        "entry": entry,
        "environment": entry.environment,
        "user_id": entry.user_id,
        "based_on": based_on,
        "error": error,
        "diff": state_diff(mask_state(current, request.user), mask_state(target, request.user))
        if state_now is not None
        else None,
        "undone": undone,
    }
    return render(request, "audit/restore.html", context, status=status)
