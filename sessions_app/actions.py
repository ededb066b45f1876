"""Every write to a conversation, in one place: pages, the REST API, bulk jobs and management
commands all call these functions, so the audit trail, the conflict check and the error mapping
exist once.

Each action: re-read the state, refuse if it moved since the operator's read (`based_on`), record
an audit row as *pending* with the state before and the request, send the write, then complete the
row as succeeded or failed. The row is committed before anything is sent, so a write that never
finishes (upstream error, killed worker) is still on record.

There is an unavoidable window between the re-read and the write (one round trip, usually well
under a second): a turn the end user takes inside it is overwritten by a full-state write. Voiceflow
offers no conditional write (no ETag or version on the state API) to close it. Variable merges
(PATCH) only touch the keys they name, so they are safe against that window. The product's own
writers never meet inside it: `_write` holds the session's write lock (session_lock.py) from the
re-read to the end of the write, so a second writer re-reads after the first and gets Conflict.

A bulk job's operator may choose `WriteMode.SINGLE_REQUEST` ("no undo for this job"): the write
is sent without the read, so the audit row has no state before (and no undo), and records that
mode. A write whose answer was lost is then sent again on retry; every bulk write is idempotent
(the same merge, the same full state, the same delete), so the state ends the same.
"""

import itertools
import json
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .known_sessions import note_session
from .models import AuditEntry, BulkJob, Environment, WriteMode
from .session_lock import one_writer_per_session
from .stored_json import storable_text
from .voiceflow import SessionClient, Unauthorized, VoiceflowError, client_for, validate_user_id


def fingerprint(state: dict | None) -> str:
    """A stable digest of a state, used to notice that a conversation moved (the API's ETag).

    Keyed with the server's secret (HMAC-SHA256): an unkeyed hash would let a reader who sees a
    state with masked values guess them one by one against the ETag (docs/security.md).
    """
    canonical = json.dumps(state or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a state may hold lone surrogates (stored_json.py), which UTF-8 cannot encode.
    # Keyed, so that an ETag cannot be used to guess masked values (docs/security.md).
    return salted_hmac(
        "sessions_app.state-fingerprint",
        canonical.encode("utf-8", "surrogatepass"),
        algorithm="sha256",
    ).hexdigest()[:32]


class Conflict(Exception):
    """The conversation changed after the operator read it; nothing was sent."""

    def __init__(self, state_now: dict, entry: AuditEntry) -> None:
        super().__init__("The conversation changed since it was loaded; nothing was sent.")
        self.state_now = state_now
        self.fingerprint_now = fingerprint(state_now)
        self.entry = entry


class NotApplicable(Exception):
    """The live state shows the write no longer applies (a segment member moved, a campaign
    value was changed by the conversation); nothing was sent and nothing needs auditing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StateShapeError(ValueError):
    """A state the API would refuse; the message names the problem."""


def check_state_shape(state: Any) -> dict:
    """The legacy PUT contract (voiceflow-api.md §7.1 item 7, §9), checked before anything is sent."""
    if not isinstance(state, dict):
        raise StateShapeError("The state must be a JSON object with stack, storage and variables.")
    missing = [key for key in ("stack", "storage", "variables") if key not in state]
    if missing:
        raise StateShapeError(f"The state is missing {', '.join(missing)}.")
    extra = sorted(set(state) - {"stack", "storage", "variables"})
    if extra:
        raise StateShapeError(
            f"Voiceflow accepts only stack, storage and variables; remove {', '.join(extra)}."
        )
    if not isinstance(state["stack"], list):
        raise StateShapeError("stack must be a list of frames.")
    for position, frame in enumerate(state["stack"]):
        if not isinstance(frame, dict):
            raise StateShapeError(f"stack[{position}] must be an object.")
        if not isinstance(frame.get("diagramID"), str) or not frame["diagramID"]:
            raise StateShapeError(f"stack[{position}] needs a diagramID (a string).")
        # null is what the runtime's base frame holds; writable_state leaves it out.
        if frame.get("nodeID") is not None and not isinstance(frame["nodeID"], str):
            raise StateShapeError(f"stack[{position}].nodeID must be a string, null or left out.")
    for key in ("storage", "variables"):
        if not isinstance(state[key], dict):
            raise StateShapeError(f"{key} must be an object.")
    return state


def state_parts(state: dict) -> dict:
    """The parts of a read state a PUT carries, as read: reads may carry `turn`, which PUT
    refuses, and a state made by a variables merge alone has no stack or storage."""
    return {
        "stack": state.get("stack", []),
        "storage": state.get("storage", {}),
        "variables": state.get("variables", {}),
    }


def writable_state(state: dict) -> dict:
    """A state as a PUT must send it; every write of a whole state goes through here.

    Besides `state_parts`: the runtime's own base frame (the first frame of every stack it
    builds, `storage.isBase`) reads as `nodeID: null`, and the runtime's PUT refuses that null
    ("data.stack[0].nodeID should be string", voiceflow-api.md §2, §9). A frame without nodeID
    means the same to the runtime, so the null is left out.
    """
    return {
        "stack": [
            {key: value for key, value in frame.items() if not (key == "nodeID" and value is None)}
            if isinstance(frame, dict)
            else frame
            for frame in state.get("stack", [])
        ],
        "storage": state.get("storage", {}),
        "variables": state.get("variables", {}),
    }


def _open_entry(
    *,
    environment: Environment,
    user_id: str,
    action: str,
    actor: AbstractBaseUser | None,
    source: str,
    job: BulkJob | None,
    state_before: dict | None,
    request_sent: dict | None,
    restored_from: AuditEntry | None = None,
    write_mode: str = WriteMode.READ_FIRST,
) -> AuditEntry:
    return AuditEntry.objects.create(
        **AuditEntry.actor_fields(actor),
        source=source,
        job=job,
        project=environment.project,
        project_name=environment.project.name,
        environment=environment,
        environment_label=environment.label,
        user_id=user_id,
        action=action,
        state_before=state_before,
        request_sent=request_sent,
        restored_from=restored_from,
        write_mode=write_mode,
    )


def _finish(entry: AuditEntry, *, outcome: str, **fields: Any) -> AuditEntry:
    entry.outcome = outcome
    entry.completed_at = timezone.now()
    for name, value in fields.items():
        setattr(entry, name, storable_text(value) if name == "error" else value)
    entry.save(update_fields=["outcome", "completed_at", *fields])
    return entry


def _finish_unread(entry: AuditEntry, error: VoiceflowError) -> AuditEntry:
    """Record a write abandoned because the state before it could not be read."""
    return _finish(
        entry,
        outcome=AuditEntry.Outcome.FAILED,
        upstream_status=error.status,
        error=f"Could not read the current state, nothing was sent: {error.message}",
    )


def _finish_failed(entry: AuditEntry, error: VoiceflowError | StateShapeError) -> AuditEntry:
    """Record a write Voiceflow refused or that failed on the way, with its upstream status."""
    return _finish(
        entry,
        outcome=AuditEntry.Outcome.FAILED,
        upstream_status=getattr(error, "status", None),
        error=str(error),
    )


@one_writer_per_session
def _write(
    *,
    environment: Environment,
    user_id: str,
    action: str,
    actor: AbstractBaseUser | None,
    source: str,
    based_on: str | None,
    job: BulkJob | None,
    request_sent: dict,
    send,
    expected_after,
    client: SessionClient | None = None,
    restored_from: AuditEntry | None = None,
    resume: AuditEntry | None = None,
    write_mode: str = WriteMode.READ_FIRST,
    precondition=None,
) -> AuditEntry:
    """The shared skeleton of every write.

    `precondition(state_now)` (a bulk job's re-check) returns why the write no longer applies,
    or ""; then NotApplicable is raised before anything is recorded or sent. A resumed attempt
    is not re-checked: its write may already have landed.

    `send(client, state_before)` performs the upstream write and returns the state after it.
    `expected_after(state_before)` says what the state should be once the write is applied; it
    lets an interrupted attempt (`resume`) finish without writing twice.
    `write_mode=SINGLE_REQUEST` sends the write without reading first (`send` gets None).
    """
    validate_user_id(user_id)
    client = client or client_for(environment)
    if precondition is not None:
        # The re-check is made on the state read before the write: never skip the read.
        write_mode = WriteMode.READ_FIRST

    def open_entry(state_before: dict | None) -> AuditEntry:
        return _open_entry(
            environment=environment,
            user_id=user_id,
            action=action,
            actor=actor,
            source=source,
            job=job,
            state_before=state_before,
            request_sent=request_sent,
            restored_from=restored_from,
            write_mode=write_mode,
        )

    if write_mode == WriteMode.SINGLE_REQUEST:
        entry = open_entry(None)
        try:
            state_after = send(client, None)
        except (VoiceflowError, StateShapeError) as error:
            _finish_failed(entry, error)
            raise
        note_session(environment, user_id, state_after, origin="written")
        return _finish(entry, outcome=AuditEntry.Outcome.SUCCEEDED, state_after=state_after)

    try:
        state_now = client.get_state(user_id)
    except VoiceflowError as error:
        _finish_unread(resume or open_entry(None), error)
        raise

    if resume is not None:
        # An earlier attempt recorded its "before" and may or may not have reached Voiceflow.
        # If the state already shows the write, complete the record instead of writing again.
        entry = resume
        state_before = entry.state_before if entry.state_before is not None else state_now
        if entry.state_before is not None and _applied(state_now, expected_after(state_before)):
            note_session(environment, user_id, state_now, origin="written")
            return _finish(entry, outcome=AuditEntry.Outcome.SUCCEEDED, state_after=state_now)
    else:
        if precondition is not None:
            reason = precondition(state_now)
            if reason:
                raise NotApplicable(reason)
        state_before = state_now
        entry = open_entry(state_before)
        if based_on is not None and fingerprint(state_now) != based_on:
            _finish(
                entry,
                outcome=AuditEntry.Outcome.CONFLICT,
                error="The conversation changed after it was loaded; nothing was sent.",
            )
            raise Conflict(state_now, entry)

    try:
        state_after = send(client, state_before)
    except (VoiceflowError, StateShapeError) as error:
        _finish_failed(entry, error)
        raise
    note_session(environment, user_id, state_after, origin="written")
    return _finish(entry, outcome=AuditEntry.Outcome.SUCCEEDED, state_after=state_after)


def _applied(state_now: dict, expected: dict) -> bool:
    return fingerprint(state_now) == fingerprint(expected)


def do_set_variables(
    environment: Environment,
    user_id: str,
    variables: dict,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    based_on: str | None = None,
    job: BulkJob | None = None,
    client: SessionClient | None = None,
    resume: AuditEntry | None = None,
    write_mode: str = WriteMode.READ_FIRST,
    precondition=None,
) -> AuditEntry:
    """Merge variables (PATCH): each named key is replaced whole, the others are untouched."""
    if not isinstance(variables, dict) or not variables:
        raise StateShapeError("Give at least one variable to set.")

    def expected_after(state_before: dict) -> dict:
        merged = dict(state_before)
        merged["variables"] = {**state_before.get("variables", {}), **variables}
        return merged

    return _write(
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.SET_VARIABLES,
        actor=actor,
        source=source,
        based_on=based_on,
        job=job,
        client=client,
        resume=resume,
        write_mode=write_mode,
        precondition=precondition,
        request_sent={"method": "PATCH", "path": "variables", "body": variables},
        send=lambda c, _before: c.update_variables(user_id, variables),
        expected_after=expected_after,
    )


def do_remove_variables(
    environment: Environment,
    user_id: str,
    names: list[str],
    *,
    actor: AbstractBaseUser | None,
    source: str,
    based_on: str | None = None,
    job: BulkJob | None = None,
    client: SessionClient | None = None,
    resume: AuditEntry | None = None,
    precondition=None,
    missing_ok: bool = False,
    write_mode: str = WriteMode.READ_FIRST,
) -> AuditEntry:
    """Remove variables. The API has no delete for a variable, so this is a full-state PUT.

    `missing_ok` (a bulk job): names the session does not hold are left out; a session holding
    none of them is not written (NotApplicable).
    """
    if not names:
        raise StateShapeError("Name at least one variable to remove.")

    def expected_after(state_before: dict) -> dict:
        state = writable_state(state_before)
        state["variables"] = {k: v for k, v in state["variables"].items() if k not in names}
        return state

    def check(state_now: dict) -> str:
        reason = precondition(state_now) if precondition is not None else ""
        if not reason and missing_ok and not set(names) & set(state_now.get("variables") or {}):
            reason = f"None of {', '.join(names)} is set in this session."
        return reason

    def send(client: SessionClient, state_before: dict) -> dict:
        unknown = [name for name in names if name not in state_before.get("variables", {})]
        if unknown and not missing_ok:
            raise StateShapeError(f"No variable named {', '.join(unknown)} in this session.")
        return client.replace_state(user_id, expected_after(state_before))

    return _write(
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.REMOVE_VARIABLES,
        actor=actor,
        source=source,
        based_on=based_on,
        job=job,
        client=client,
        resume=resume,
        precondition=check,
        write_mode=write_mode,
        request_sent={"method": "PUT", "path": "state", "remove_variables": names},
        send=send,
        expected_after=expected_after,
    )


def still_set(state: dict, values_set: dict) -> list[str]:
    """The names whose value in `state` is still exactly the one a job set."""
    variables = state.get("variables") or {}
    return [
        name
        for name, value in values_set.items()
        if name in variables and fingerprint({"v": variables[name]}) == fingerprint({"v": value})
    ]


def do_take_back_variables(
    environment: Environment,
    user_id: str,
    values_set: dict,
    values_before: dict,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    job: BulkJob | None = None,
    client: SessionClient | None = None,
    resume: AuditEntry | None = None,
    write_mode: str = WriteMode.READ_FIRST,
) -> AuditEntry:
    """Take off the values a preload set (a campaign's end): each variable still holding the
    value set gets back its value from before (or goes, when it had none); a variable the
    conversation changed since is left as it is. Nothing left to take back: NotApplicable."""

    def expected_after(state_before: dict) -> dict:
        state = writable_state(state_before)
        variables = dict(state["variables"])
        for name in still_set(state_before, values_set):
            if name in values_before:
                variables[name] = values_before[name]
            else:
                variables.pop(name, None)
        state["variables"] = variables
        return state

    def check(state_now: dict) -> str:
        if not state_now:
            return "The session has no state any more."
        if not still_set(state_now, values_set):
            return (
                "Every value was changed by the conversation since it was set: "
                f"{', '.join(values_set)} left as they are."
            )
        return ""

    return _write(
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.SET_VARIABLES,
        actor=actor,
        source=source,
        based_on=None,
        job=job,
        client=client,
        resume=resume,
        precondition=check,
        write_mode=write_mode,
        request_sent={"method": "PUT", "path": "state", "take_back": sorted(values_set)},
        send=lambda c, before: c.replace_state(user_id, expected_after(before)),
        expected_after=expected_after,
    )


def do_replace_state(
    environment: Environment,
    user_id: str,
    state: dict,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    based_on: str | None = None,
) -> AuditEntry:
    """Replace the whole state (PUT) after checking it has the shape Voiceflow requires.

    A state exactly as read may be sent back: `writable_state` leaves out what the runtime
    returns but refuses.
    """
    sent = writable_state(check_state_shape(state))
    return _write(
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.REPLACE_STATE,
        actor=actor,
        source=source,
        based_on=based_on,
        job=None,
        request_sent={"method": "PUT", "path": "state", "body": sent},
        send=lambda c, _before: c.replace_state(user_id, sent),
        expected_after=lambda _before: sent,
    )


def do_reset_session(
    environment: Environment,
    user_id: str,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    based_on: str | None = None,
    job: BulkJob | None = None,
    client: SessionClient | None = None,
    resume: AuditEntry | None = None,
    write_mode: str = WriteMode.READ_FIRST,
    precondition=None,
) -> AuditEntry:
    """Delete the state (DELETE). The state before is kept in the audit row, so it can come back."""

    def send(c: SessionClient, _before: dict) -> dict:
        c.delete_state(user_id)
        return {}

    return _write(
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.RESET,
        actor=actor,
        source=source,
        based_on=based_on,
        job=job,
        client=client,
        resume=resume,
        write_mode=write_mode,
        precondition=precondition,
        request_sent={"method": "DELETE", "path": "state"},
        send=send,
        expected_after=lambda _before: {},
    )


def do_put_back(
    environment: Environment,
    user_id: str,
    state: dict | None,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    based_on: str | None = None,
    job: BulkJob | None = None,
    restored_from: AuditEntry | None = None,
    client: SessionClient | None = None,
    resume: AuditEntry | None = None,
    write_mode: str = WriteMode.READ_FIRST,
) -> AuditEntry:
    """Make the conversation hold `state` again: a PUT, or a DELETE when it had no state.

    A state that only ever held variables (a PATCH on an unknown user creates one) cannot be
    written back by PUT, which requires stack and storage; it is restored as an empty stack and
    storage with those variables, which Voiceflow treats the same on the next turn.
    """
    target = state or {}

    def send(c: SessionClient, _before: dict) -> dict:
        if not target:
            c.delete_state(user_id)
            return {}
        return c.replace_state(user_id, writable_state(target))

    def expected_after(_before: dict) -> dict:
        return writable_state(target) if target else {}

    return _write(
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.RESTORE,
        actor=actor,
        source=source,
        based_on=based_on,
        job=job,
        client=client,
        resume=resume,
        write_mode=write_mode,
        restored_from=restored_from,
        request_sent={
            "method": "PUT" if target else "DELETE",
            "path": "state",
            "restored_from": restored_from.pk if restored_from else None,
        },
        send=send,
        expected_after=expected_after,
    )


def do_restore(
    entry: AuditEntry,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    based_on: str | None = None,
) -> AuditEntry:
    """Put back the state recorded before an audited write."""
    if entry.environment is None:
        raise StateShapeError("The environment of this record no longer exists.")
    if entry.state_before is None:
        raise StateShapeError("This record has no state before the write to put back.")
    return do_put_back(
        entry.environment,
        entry.user_id,
        entry.state_before,
        actor=actor,
        source=source,
        based_on=based_on,
        restored_from=entry,
    )


def do_interact(
    environment: Environment,
    user_id: str,
    action: dict,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    config: dict | None = None,
    based_on: str | None = None,
) -> tuple[AuditEntry, list]:
    """Send one turn (a launch, text, button request…) and return the traces Voiceflow answered.

    A turn changes the state like any write, so it is audited the same way: the state before
    it, the action sent and the state after it. The verbose form of interact returns the state
    after the turn with the traces, so no second read is needed.
    """
    _check_turn(action, config)
    traces: list = []

    def send(c: SessionClient, _before: dict) -> dict:
        answer = c.interact(user_id, action, config=config, verbose=True)
        traces.extend(answer.traces)
        return answer.state

    entry = _write(
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.INTERACT,
        actor=actor,
        source=source,
        based_on=based_on,
        job=None,
        request_sent={"method": "POST", "path": "interact", "action": action, "config": config},
        send=send,
        # Only consulted when resuming an interrupted write, which a turn never is.
        expected_after=lambda before: before,
    )
    return entry, traces


def _check_turn(action: Any, config: Any) -> None:
    if (
        not isinstance(action, dict)
        or not isinstance(action.get("type"), str)
        or not action["type"]
    ):
        raise StateShapeError('The action must be an object with a type, e.g. {"type": "launch"}.')
    if config is not None and not isinstance(config, dict):
        raise StateShapeError("config must be an object.")


def do_stream_turn(
    environment: Environment,
    user_id: str,
    action: dict,
    *,
    actor: AbstractBaseUser | None,
    source: str,
    config: dict | None = None,
    session_key: str | None = None,
) -> Iterator[tuple[str, Any]]:
    """One turn through the v4 session API, streamed as Voiceflow answers it.

    Yields `("session", key)` once the turn is under way (Voiceflow has started answering), then
    each server-sent event as it arrives (`("trace", trace)`…, `("end", {})`), then
    `("audit", entry)`. Failures before the first yield raise from the first `next()`, so a
    caller can answer them before it starts streaming.

    `session_key` continues a session the caller started earlier, so that events emitted to it
    are delivered; when Voiceflow no longer accepts it (another client started a session for
    this userID, which ends the earlier one), a new session is started. Audited like
    `do_interact`: the state before, the action and the state read after the stream ends.
    """
    _check_turn(action, config)
    validate_user_id(user_id)
    request_sent = {
        "method": "POST",
        "path": "v4/interact/stream",
        "environment": environment.alias,
        "action": action,
        "config": config,
    }
    client = client_for(environment)

    def open_entry(state_before: dict | None) -> AuditEntry:
        return _open_entry(
            environment=environment,
            user_id=user_id,
            action=AuditEntry.Action.INTERACT,
            actor=actor,
            source=source,
            job=None,
            state_before=state_before,
            request_sent=request_sent,
        )

    try:
        state_before = client.get_state(user_id)
    except VoiceflowError as error:
        _finish_unread(open_entry(None), error)
        raise
    entry = open_entry(state_before)

    def start(key: str) -> tuple[Iterator[tuple[str, Any]], tuple[str, Any] | None]:
        events = client.stream_v4(key, action, config=config)
        return events, next(events, None)

    try:
        key = session_key or client.start_session(user_id, environment.alias)
        try:
            events, first = start(key)
        except Unauthorized:
            if session_key is None:
                raise
            key = client.start_session(user_id, environment.alias)
            events, first = start(key)
    except VoiceflowError as error:
        _finish_failed(entry, error)
        raise

    try:
        yield "session", key
        for event in itertools.chain([first] if first is not None else [], events):
            yield event
            if event[0] == "end":
                break  # the turn is over, even if the server kept the connection open
        state_after = client.get_state(user_id)
    except VoiceflowError as error:
        _finish_failed(entry, error)
        raise
    except GeneratorExit:
        # The reader went away mid-stream: Voiceflow may still have run the whole turn.
        try:
            state_after = client.get_state(user_id)
        except VoiceflowError:
            state_after = None
        _finish(
            entry,
            outcome=AuditEntry.Outcome.FAILED,
            state_after=state_after,
            error="The answer stopped streaming before its end (the page was closed or the "
            "connection dropped); the turn may still have run.",
        )
        raise
    finally:
        events.close()
    note_session(environment, user_id, state_after, origin="written")
    yield "audit", _finish(entry, outcome=AuditEntry.Outcome.SUCCEEDED, state_after=state_after)


def do_emit_event(
    environment: Environment,
    user_id: str,
    event_action: dict,
    *,
    actor: AbstractBaseUser | None,
    source: str,
) -> AuditEntry:
    """Emit a session event to the user's live session (v2 session events).

    Voiceflow accepts it whether or not a session is live, and it reaches the conversation only
    at that session's next turn, so the state is unchanged when this returns.
    """
    _check_turn(event_action, None)
    return _write(
        environment=environment,
        user_id=user_id,
        action=AuditEntry.Action.INTERACT,
        actor=actor,
        source=source,
        based_on=None,
        job=None,
        request_sent={"method": "POST", "path": "session event", "action": event_action},
        send=lambda c, before: (c.emit_event(user_id, event_action), before)[1],
        expected_after=lambda before: before,
    )
