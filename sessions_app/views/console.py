"""The interact console on the inspector: send a turn and show its traces, stream a turn through
the v4 session API as Voiceflow answers it, emit a session event, and refresh the state panel
after a turn with what the turn changed."""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from ..access import environment_for
from ..actions import StateShapeError, WriteContext, do_emit_event, do_interact, do_stream_turn
from ..console.forms import ConsoleActionForm, EmitEventForm
from ..console.traces import completion_view, trace_view
from ..inspector.reading import fetch_state
from ..inspector.seen import remember_seen
from ..models import AuditEntry, Environment
from ..personal_data import AnswerMask, mask_traces
from ..stored_json import escape_lone_surrogates
from ..voiceflow import InvalidUserID, NoSessionApi, VoiceflowError
from .sessions import live_state_context, requested_user_id, wait_of

# The v4 session keys this operator's console holds, per conversation, so that events emitted to
# a session reach it at the next streamed turn. Kept server-side: a session key drives the
# customer's conversation.
STREAM_SESSIONS = "console_stream_sessions"
STREAM_SESSIONS_KEPT = 12
MODE_LABELS = {"reply": "answered at once", "stream": "streamed (v4 session)"}


def _conversation(environment: Environment, user_id: str) -> str:
    return f"{environment.pk}:{user_id}"


def stream_session(request: HttpRequest, environment: Environment, user_id: str) -> str | None:
    return request.session.get(STREAM_SESSIONS, {}).get(_conversation(environment, user_id))


def _keep_stream_session(
    request: HttpRequest, environment: Environment, user_id: str, session_key: str
) -> None:
    kept: dict = request.session.get(STREAM_SESSIONS, {})
    kept.pop(_conversation(environment, user_id), None)
    kept[_conversation(environment, user_id)] = session_key
    while len(kept) > STREAM_SESSIONS_KEPT:
        kept.pop(next(iter(kept)))
    request.session[STREAM_SESSIONS] = kept


def _refresh_url(environment: Environment, user_id: str, entry: AuditEntry, watching: bool) -> str:
    query = {"user": user_id, "entry": entry.pk, **({"watch": "1"} if watching else {})}
    return f"{reverse('session_console_state', args=[environment.pk])}?{urlencode(query)}"


def _turn_context(
    environment: Environment, user_id: str, description: str, mode: str, **context: Any
) -> dict:
    return {
        "environment": environment,
        "user_id": user_id,
        "description": description,
        "mode_label": MODE_LABELS[mode],
        **context,
    }


def _end_context(
    environment: Environment,
    user_id: str,
    entry: AuditEntry,
    trace_count: int,
    *,
    watching: bool,
    streamed: bool = False,
) -> dict:
    return {
        "entry": entry,
        "trace_count": trace_count,
        "refresh_url": _refresh_url(environment, user_id, entry, watching),
        # A v4 session may keep its conversation apart from the state the inspector reads
        # (voiceflow-api.md §4); say so rather than let "no change" look like a quiet turn.
        "state_untouched": streamed and trace_count > 0 and entry.state_after == entry.state_before,
    }


def _render_turn(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    return render(request, "sessions/console/turn.html", context, status=status)


def _parse_turn(
    request: HttpRequest, environment_id: int, mode: str
) -> tuple[Environment, str, ConsoleActionForm | None, HttpResponse | None]:
    """The environment, userID and a valid form, or the answer refusing the request."""
    environment = environment_for(request, environment_id, "interact_session")
    try:
        user_id = requested_user_id(request.POST)
    except InvalidUserID as error:
        context = _turn_context(environment, "", "", mode, refused=error.message)
        return environment, "", None, _render_turn(request, context, status=400)
    form = ConsoleActionForm(request.POST)
    if not form.is_valid():
        description = form.cleaned_data.get("description", "")
        context = _turn_context(environment, user_id, description, mode, refused=form.first_error())
        return environment, user_id, None, _render_turn(request, context, status=400)
    return environment, user_id, form, None


@require_POST
def send(request: HttpRequest, environment_id: int) -> HttpResponse:
    """One turn through the interact call; the answer is the turn with all its traces."""
    environment, user_id, form, refusal = _parse_turn(request, environment_id, "reply")
    if refusal is not None:
        return refusal
    context = _turn_context(environment, user_id, form.cleaned_data["description"], "reply")
    try:
        entry, traces = do_interact(
            environment,
            user_id,
            form.cleaned_data["action"],
            config=form.config(),
            context=WriteContext(actor=request.user, source=AuditEntry.Source.PAGE),
        )
    except (VoiceflowError, StateShapeError) as error:
        return _render_turn(
            request, context | {"problem": str(error), "problem_wait": wait_of(error)}
        )
    # Masked only here, where shown (the audit row keeps the real states): a viewer without
    # `see_personal_data` reads the answer masked by the states the turn ran on and ended in.
    shown = mask_traces(traces, request.user, (entry.state_before, entry.state_after))
    context |= {"traces": [trace_view(trace) for trace in shown]}
    context |= _end_context(
        environment, user_id, entry, len(traces), watching=request.POST.get("watch") == "1"
    )
    return _render_turn(request, context)


@require_POST
def stream(request: HttpRequest, environment_id: int) -> HttpResponse:
    """One turn through the v4 session API, relayed as server-sent events while it streams.

    Everything that can refuse the turn (bad input, a failed read, a refused session) happens
    before the stream starts and is answered as an ordinary turn with a message.
    """
    environment, user_id, form, refusal = _parse_turn(request, environment_id, "stream")
    if refusal is not None:
        return refusal
    description = form.cleaned_data["description"]
    events = do_stream_turn(
        environment,
        user_id,
        form.cleaned_data["action"],
        config=form.config(streaming=True),
        session_key=stream_session(request, environment, user_id),
        context=WriteContext(actor=request.user, source=AuditEntry.Source.PAGE),
    )
    try:
        _, (session_key, state_before) = next(events)
    except (VoiceflowError, StateShapeError) as error:
        context = _turn_context(environment, user_id, description, "stream")
        if isinstance(error, NoSessionApi):
            context["legacy_offer"] = _legacy_offer(request)
        return _render_turn(
            request, context | {"problem": str(error), "problem_wait": wait_of(error)}
        )
    # The session is saved with this response's headers, before the stream starts.
    _keep_stream_session(request, environment, user_id, session_key)
    # The state after the turn is read only once the answer has been relayed: what is shown
    # while it streams is masked by the state the turn runs on.
    mask = AnswerMask(request.user, (state_before,))
    relay = _relay(
        request, environment, user_id, description, events, mask, request.POST.get("watch") == "1"
    )
    response = StreamingHttpResponse(relay, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies such as nginx would hold the events back
    return response


# The fields of a console turn, sent again as a legacy turn when the runtime has no v4 routes.
TURN_FIELDS = (
    "kind",
    "text",
    "intent_name",
    "query",
    "entities",
    "event_name",
    "request",
    "label",
)


def _legacy_offer(request: HttpRequest) -> list[tuple[str, str]]:
    return [(name, request.POST[name]) for name in TURN_FIELDS if name in request.POST]


def _event(name: str, **fields: str) -> str:
    # One line of JSON per event: JSON escapes the line breaks of the HTML it carries.
    # A lone surrogate in a trace (an emoji cut in two) travels as its \uXXXX escape.
    return (
        f"event: {name}\ndata: {escape_lone_surrogates(json.dumps(fields, ensure_ascii=False))}\n\n"
    )


def _relay(
    request: HttpRequest,
    environment: Environment,
    user_id: str,
    description: str,
    events: Iterator[tuple[str, Any]],
    mask: AnswerMask,
    watching: bool,
) -> Iterator[str]:
    """The browser's events: the turn, each trace as HTML, completion deltas, then the end."""
    context = _turn_context(environment, user_id, description, "stream", streaming=True)
    yield _event("turn", html=render_to_string("sessions/console/turn.html", context, request))
    started: set[str] = set()
    held: dict[str, list[str]] = {}
    trace_count = 0
    try:
        for event, data in events:
            if event == "audit":
                end = _end_context(
                    environment, user_id, data, trace_count, watching=watching, streamed=True
                )
                html = render_to_string("sessions/console/turn_end.html", end, request)
                yield _event("end", html=html)
            elif event == "trace" and isinstance(data, dict):
                trace_count += 1
                yield from _relay_trace(request, environment, data, mask, started, held)
    except VoiceflowError as error:
        html = render_to_string("sessions/console/problem.html", {"problem": str(error)}, request)
        yield _event("problem", html=html)
    finally:
        # Closing the turn now (not when it is collected) records an interrupted stream at once.
        events.close()


def _relay_trace(
    request: HttpRequest,
    environment: Environment,
    trace: dict,
    mask: AnswerMask,
    started: set[str],
    held: dict[str, list[str]],
) -> Iterator[str]:
    """One trace's events. A completion's deltas are relayed as they arrive, unless the viewer
    reads the answer masked: a value may be cut across deltas, so its text is held and sent
    (masked or not) as one delta when the completion ends."""
    if trace.get("type") != "completion" or not isinstance(trace.get("payload"), dict):
        context = {"trace": trace_view(mask.trace(trace)), "environment": environment}
        html = render_to_string("sessions/console/trace.html", context, request)
        yield _event("trace", html=html)
        return
    payload = trace["payload"]
    message_id = str(payload.get("messageID", ""))
    if message_id not in started:
        started.add(message_id)
        context = {"trace": completion_view(message_id)}
        html = render_to_string("sessions/console/trace.html", context, request)
        yield _event("trace", html=html)
    if payload.get("state") == "content":
        content = payload.get("content")
        content = content if content is not None else ""
        if mask.shows_all:
            yield _delta(message_id, content)
        else:
            held.setdefault(message_id, []).append(str(content))
    elif payload.get("state") == "end":
        if message_id in held:
            yield _delta(message_id, mask.text("".join(held.pop(message_id))))
        yield _event("completed", into=message_id)


def _delta(message_id: str, content: Any) -> str:
    return _event(
        "delta", into=message_id, html=format_html('<span class="delta">{}</span>', content)
    )


@require_POST
def emit(request: HttpRequest, environment_id: int) -> HttpResponse:
    """Emit a session event to the user's live session; the answer says what that means."""
    environment = environment_for(request, environment_id, "interact_session")
    try:
        user_id = requested_user_id(request.POST)
    except InvalidUserID as error:
        return _render_emit(request, {"problem": error.message}, status=400)
    form = EmitEventForm(request.POST)
    if not form.is_valid():
        return _render_emit(request, {"problem": form.first_error()}, status=400)
    try:
        entry = do_emit_event(
            environment,
            user_id,
            form.action,
            context=WriteContext(actor=request.user, source=AuditEntry.Source.PAGE),
        )
    except (VoiceflowError, StateShapeError) as error:
        return _render_emit(request, {"problem": str(error), "upstream": True})
    context = {
        "entry": entry,
        "event_name": form.cleaned_data["event_name"],
        "console_session": stream_session(request, environment, user_id) is not None,
    }
    return _render_emit(request, context)


def _render_emit(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    return render(request, "sessions/console/emit_result.html", context, status=status)


@require_GET
def state_after(request: HttpRequest, environment_id: int) -> HttpResponse:
    """The inspector's live state after a console turn, marked with what the turn changed."""
    environment = environment_for(request, environment_id, "interact_session")
    try:
        user_id = requested_user_id(request.GET)
    except InvalidUserID as error:
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    entry_id = request.GET.get("entry", "")
    if not entry_id.isdigit():
        raise Http404("No such turn.")
    entry = get_object_or_404(
        AuditEntry,
        pk=int(entry_id),
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.INTERACT,
    )
    before = entry.state_before or {}
    try:
        state, error = fetch_state(environment, user_id), ""
    except VoiceflowError as failure:
        state = entry.state_after
        error = f"{failure.message} Showing the state recorded right after the turn."
    context = live_state_context(
        request,
        environment,
        user_id,
        state,
        previous=before,
        watching=request.GET.get("watch") == "1",
        since=remember_seen(request, environment, user_id, before),
        error=error,
    )
    context["refresh_based_on"] = True
    return render(request, "sessions/includes/live_state.html", context)
