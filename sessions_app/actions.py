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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.crypto import salted_hmac

from . import audit
from .inspector.diff import values_differ
from .known_sessions import note_session
from .models import AuditEntry, BulkJob, Environment, WriteMode
from .session_lock import one_writer_per_session
from .stored_json import printable, storable_text
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


# ---- how a write is made: who writes, and under which conditions ----


@dataclass(frozen=True)
class WriteContext:
    """Everything about a write except what it sends: who acts and from where (for the audit
    row), and the conditions it is made under."""

    actor: AbstractBaseUser | None
    source: AuditEntry.Source
    #: The fingerprint (ETag) of the state the operator read: refuse with Conflict if it moved.
    based_on: str | None = None
    #: The bulk job the write belongs to, and the client its items share.
    job: BulkJob | None = None
    client: SessionClient | None = None
    #: An earlier attempt of this write that may or may not have reached Voiceflow.
    resume: AuditEntry | None = None
    write_mode: WriteMode = WriteMode.READ_FIRST
    #: A bulk job's re-check on the live state: why the write no longer applies, or "".
    precondition: Callable[[dict], str] | None = None


# ---- what a write sends: one class per kind of write ----


class Change:
    """What one write sends, and the state it should leave.

    `planned_state(state_before)` is the state the write should leave: the dry runs (bulk
    preview, `--dry-run`) show it, and an interrupted attempt compares it with the live state to
    finish without writing twice. `send` makes the upstream call and returns the state after it
    (`state_before` is None for a write sent without the read, WriteMode.SINGLE_REQUEST).
    """

    action: AuditEntry.Action
    #: The write is built from the state read before it, so it is never sent without the read.
    needs_the_read = False
    restored_from: AuditEntry | None = None

    def request_sent(self) -> dict:
        raise NotImplementedError

    def planned_state(self, state_before: dict) -> dict:
        raise NotImplementedError

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        raise NotImplementedError

    def not_applicable(self, state_now: dict) -> str:
        """Why the live state shows the write no longer applies, or ""."""
        return ""


@dataclass
class SetVariables(Change):
    """Merge variables (PATCH): each named key is replaced whole, the others are untouched."""

    variables: dict
    action = AuditEntry.Action.SET_VARIABLES

    def __post_init__(self) -> None:
        if not isinstance(self.variables, dict) or not self.variables:
            raise StateShapeError("Give at least one variable to set.")

    def request_sent(self) -> dict:
        return {"method": "PATCH", "path": "variables", "body": self.variables}

    def planned_state(self, state_before: dict) -> dict:
        return {
            **state_before,
            "variables": {**state_before.get("variables", {}), **self.variables},
        }

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        return client.update_variables(user_id, self.variables)


@dataclass
class RemoveVariables(Change):
    """Remove variables. The API has no delete for a variable, so this is a full-state PUT.

    `missing_ok` (a bulk job): names the session does not hold are left out; a session holding
    none of them is not written (NotApplicable).
    """

    names: list[str]
    missing_ok: bool = False
    action = AuditEntry.Action.REMOVE_VARIABLES
    needs_the_read = True

    def __post_init__(self) -> None:
        if not self.names:
            raise StateShapeError("Name at least one variable to remove.")

    def request_sent(self) -> dict:
        return {"method": "PUT", "path": "state", "remove_variables": self.names}

    def planned_state(self, state_before: dict) -> dict:
        state = writable_state(state_before)
        state["variables"] = {
            name: value for name, value in state["variables"].items() if name not in self.names
        }
        return state

    def not_applicable(self, state_now: dict) -> str:
        if self.missing_ok and not set(self.names) & set(state_now.get("variables") or {}):
            return f"None of {', '.join(self.names)} is set in this session."
        return ""

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        held = (state_before or {}).get("variables", {})
        unknown = [name for name in self.names if name not in held]
        if unknown and not self.missing_ok:
            shown = ", ".join(printable(name) for name in unknown)
            raise StateShapeError(f"No variable named {shown} in this session.")
        return client.replace_state(user_id, self.planned_state(state_before or {}))


def still_set(state: dict, values_set: dict) -> list[str]:
    """The names whose value in `state` is still exactly the one a job set."""
    variables = state.get("variables") or {}
    return [
        name
        for name, value in values_set.items()
        if name in variables and fingerprint({"v": variables[name]}) == fingerprint({"v": value})
    ]


@dataclass
class TakeBackVariables(Change):
    """Take off the values a preload set (a campaign's end): each variable still holding the
    value set gets back its value from before (or goes, when it had none); a variable the
    conversation changed since is left as it is. Nothing left to take back: NotApplicable."""

    values_set: dict
    values_before: dict
    action = AuditEntry.Action.SET_VARIABLES
    needs_the_read = True

    def request_sent(self) -> dict:
        return {"method": "PUT", "path": "state", "take_back": sorted(self.values_set)}

    def planned_state(self, state_before: dict) -> dict:
        state = writable_state(state_before)
        variables = dict(state["variables"])
        for name in still_set(state_before, self.values_set):
            if name in self.values_before:
                variables[name] = self.values_before[name]
            else:
                variables.pop(name, None)
        state["variables"] = variables
        return state

    def not_applicable(self, state_now: dict) -> str:
        if not state_now:
            return "The session has no state any more."
        if not still_set(state_now, self.values_set):
            return (
                "Every value was changed by the conversation since it was set: "
                f"{', '.join(self.values_set)} left as they are."
            )
        return ""

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        return client.replace_state(user_id, self.planned_state(state_before or {}))


@dataclass
class ReplaceState(Change):
    """Replace the whole state (PUT) after checking it has the shape Voiceflow requires.

    A state exactly as read may be sent back: `writable_state` leaves out what the runtime
    returns but refuses.
    """

    state: dict
    action = AuditEntry.Action.REPLACE_STATE

    def __post_init__(self) -> None:
        self.state = writable_state(check_state_shape(self.state))

    def request_sent(self) -> dict:
        return {"method": "PUT", "path": "state", "body": self.state}

    def planned_state(self, state_before: dict) -> dict:
        return self.state

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        return client.replace_state(user_id, self.state)


@dataclass
class Reset(Change):
    """Delete the state (DELETE). The state before is kept in the audit row, so it can come back."""

    action = AuditEntry.Action.RESET

    def request_sent(self) -> dict:
        return {"method": "DELETE", "path": "state"}

    def planned_state(self, state_before: dict) -> dict:
        return {}

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        client.delete_state(user_id)
        return {}


@dataclass
class PutBack(Change):
    """Make the conversation hold `state` again: a PUT, or a DELETE when it had no state.

    A state that only ever held variables (a PATCH on an unknown user creates one) cannot be
    written back by PUT, which requires stack and storage; it is restored as an empty stack and
    storage with those variables, which Voiceflow treats the same on the next turn.
    """

    state: dict | None
    restored_from: AuditEntry | None = None
    action = AuditEntry.Action.RESTORE

    def request_sent(self) -> dict:
        return {
            "method": "PUT" if self.state else "DELETE",
            "path": "state",
            "restored_from": self.restored_from.pk if self.restored_from else None,
        }

    def planned_state(self, state_before: dict) -> dict:
        return writable_state(self.state) if self.state else {}

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        if not self.state:
            client.delete_state(user_id)
            return {}
        return client.replace_state(user_id, writable_state(self.state))


def _check_turn(action: Any, config: Any) -> None:
    if (
        not isinstance(action, dict)
        or not isinstance(action.get("type"), str)
        or not action["type"]
    ):
        raise StateShapeError('The action must be an object with a type, e.g. {"type": "launch"}.')
    if config is not None and not isinstance(config, dict):
        raise StateShapeError("config must be an object.")


@dataclass
class Turn(Change):
    """One turn (a launch, text, button request…) through interact; `traces` holds what
    Voiceflow answered once it is sent.

    A turn changes the state like any write, so it is audited the same way. Its planned state
    is only consulted to resume an interrupted write, which a turn never is.
    """

    turn_action: dict
    config: dict | None = None
    traces: list = field(default_factory=list)
    action = AuditEntry.Action.INTERACT

    def __post_init__(self) -> None:
        _check_turn(self.turn_action, self.config)

    def request_sent(self) -> dict:
        return {
            "method": "POST",
            "path": "interact",
            "action": self.turn_action,
            "config": self.config,
        }

    def planned_state(self, state_before: dict) -> dict:
        return state_before

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        # The verbose form of interact returns the state after the turn with the traces, so no
        # second read is needed.
        answer = client.interact(user_id, self.turn_action, config=self.config, verbose=True)
        self.traces.extend(answer.traces)
        return answer.state


@dataclass
class StreamedTurn(Change):
    """One turn through the v4 session API; sent by `do_stream_turn`, which relays its events."""

    turn_action: dict
    environment_alias: str
    config: dict | None = None
    action = AuditEntry.Action.INTERACT

    def __post_init__(self) -> None:
        _check_turn(self.turn_action, self.config)

    def request_sent(self) -> dict:
        return {
            "method": "POST",
            "path": "v4/interact/stream",
            "environment": self.environment_alias,
            "action": self.turn_action,
            "config": self.config,
        }

    def planned_state(self, state_before: dict) -> dict:
        return state_before


@dataclass
class SessionEvent(Change):
    """A session event for the user's live session (v2 session events).

    Voiceflow accepts it whether or not a session is live, and it reaches the conversation only
    at that session's next turn, so the state is unchanged when it is sent.
    """

    event_action: dict
    action = AuditEntry.Action.INTERACT

    def __post_init__(self) -> None:
        _check_turn(self.event_action, None)

    def request_sent(self) -> dict:
        return {"method": "POST", "path": "session event", "action": self.event_action}

    def planned_state(self, state_before: dict) -> dict:
        return state_before

    def send(self, client: SessionClient, user_id: str, state_before: dict | None) -> dict:
        client.emit_event(user_id, self.event_action)
        return state_before or {}


# ---- the dry run: what a write would change, without sending it ----

NOT_SET = object()


@dataclass
class PlannedVariable:
    """One variable as a write would leave it; NOT_SET where the session does not hold it."""

    name: str
    before: Any
    after: Any
    changes: bool


def planned_variables(
    change: Change, state_before: dict, names: Iterable[str] | None = None
) -> list[PlannedVariable]:
    """Each named variable (by default, every one the session holds before or after) now and as
    `change` would leave it, compared the way the inspector's diff compares values."""
    before = state_before.get("variables") or {}
    after = change.planned_state(state_before).get("variables") or {}
    if names is None:
        names = sorted({*before, *after})
    return [
        PlannedVariable(
            name,
            before.get(name, NOT_SET),
            after.get(name, NOT_SET),
            values_differ(before.get(name, NOT_SET), after.get(name, NOT_SET)),
        )
        for name in names
    ]


# ---- the write ----


def _write_mode(change: Change, context: WriteContext) -> WriteMode:
    # A re-check is made on the state read before the write, and some writes are built from
    # that state: never skip the read for those.
    if context.precondition is not None or change.needs_the_read:
        return WriteMode.READ_FIRST
    return context.write_mode


def _open_entry(
    environment: Environment,
    user_id: str,
    change: Change,
    context: WriteContext,
    state_before: dict | None,
) -> AuditEntry:
    return audit.record(
        change.action,
        actor=context.actor,
        source=context.source,
        outcome=AuditEntry.Outcome.PENDING,
        environment=environment,
        job=context.job,
        user_id=user_id,
        state_before=state_before,
        request_sent=change.request_sent(),
        restored_from=change.restored_from,
        write_mode=_write_mode(change, context),
    )


def _finish(entry: AuditEntry, *, outcome: str, **fields: Any) -> AuditEntry:
    entry.outcome = outcome
    entry.completed_at = timezone.now()
    for name, value in fields.items():
        setattr(entry, name, storable_text(value) if name == "error" else value)
    entry.save(update_fields=["outcome", "completed_at", *fields])
    return entry


def _finish_failed(entry: AuditEntry, error: VoiceflowError | StateShapeError) -> AuditEntry:
    """Record a write Voiceflow refused or that failed on the way, with its upstream status."""
    return _finish(
        entry,
        outcome=AuditEntry.Outcome.FAILED,
        upstream_status=getattr(error, "status", None),
        error=str(error),
    )


def _finish_written(
    environment: Environment, user_id: str, entry: AuditEntry, state_after: dict
) -> AuditEntry:
    note_session(environment, user_id, state_after, origin="written")
    return _finish(entry, outcome=AuditEntry.Outcome.SUCCEEDED, state_after=state_after)


@dataclass
class _Opened:
    """A write on record and ready to send, or (`done`) an interrupted one found complete."""

    entry: AuditEntry
    state_before: dict | None
    done: bool = False


def _open(
    environment: Environment,
    user_id: str,
    change: Change,
    context: WriteContext,
    client: SessionClient,
) -> _Opened:
    """Everything before the upstream write: re-read the state, re-check it, record the pending
    audit row, refuse a conversation that moved (Conflict).

    A resumed attempt is not re-checked (its write may already have landed); if the live state
    already shows its write, it is completed instead of written twice.
    """
    if _write_mode(change, context) == WriteMode.SINGLE_REQUEST:
        return _Opened(_open_entry(environment, user_id, change, context, None), None)

    try:
        state_now = client.get_state(user_id)
    except VoiceflowError as error:
        entry = context.resume or _open_entry(environment, user_id, change, context, None)
        _finish(
            entry,
            outcome=AuditEntry.Outcome.FAILED,
            upstream_status=error.status,
            error=f"Could not read the current state, nothing was sent: {error.message}",
        )
        raise

    if context.resume is not None:
        entry = context.resume
        if entry.state_before is None:
            return _Opened(entry, state_now)
        if _applied(state_now, change.planned_state(entry.state_before)):
            return _Opened(_finish_written(environment, user_id, entry, state_now), None, True)
        return _Opened(entry, entry.state_before)

    reason = (context.precondition(state_now) if context.precondition else "") or (
        change.not_applicable(state_now)
    )
    if reason:
        raise NotApplicable(reason)
    entry = _open_entry(environment, user_id, change, context, state_now)
    if context.based_on is not None and fingerprint(state_now) != context.based_on:
        _finish(
            entry,
            outcome=AuditEntry.Outcome.CONFLICT,
            error="The conversation changed after it was loaded; nothing was sent.",
        )
        raise Conflict(state_now, entry)
    return _Opened(entry, state_now)


def _applied(state_now: dict, expected: dict) -> bool:
    return fingerprint(state_now) == fingerprint(expected)


@one_writer_per_session
def _write(
    *, environment: Environment, user_id: str, change: Change, context: WriteContext
) -> AuditEntry:
    """The one path of every write: `_open`, send, record the outcome."""
    client = context.client or client_for(environment)
    opened = _open(environment, user_id, change, context, client)
    if opened.done:
        return opened.entry
    try:
        state_after = change.send(client, user_id, opened.state_before)
    except (VoiceflowError, StateShapeError) as error:
        _finish_failed(opened.entry, error)
        raise
    return _finish_written(environment, user_id, opened.entry, state_after)


# ---- the actions ----


def do_write(
    environment: Environment, user_id: str, change: Change, *, context: WriteContext
) -> AuditEntry:
    """Any write given as a Change (a bulk job's item, whatever its kind)."""
    return _write(environment=environment, user_id=user_id, change=change, context=context)


def do_set_variables(
    environment: Environment, user_id: str, variables: dict, *, context: WriteContext
) -> AuditEntry:
    """Merge variables (PATCH): each named key is replaced whole, the others are untouched."""
    return do_write(environment, user_id, SetVariables(variables), context=context)


def do_remove_variables(
    environment: Environment,
    user_id: str,
    names: list[str],
    *,
    context: WriteContext,
    missing_ok: bool = False,
) -> AuditEntry:
    """Remove variables (a full-state PUT without them); see RemoveVariables."""
    return do_write(environment, user_id, RemoveVariables(names, missing_ok), context=context)


def do_take_back_variables(
    environment: Environment,
    user_id: str,
    values_set: dict,
    values_before: dict,
    *,
    context: WriteContext,
) -> AuditEntry:
    """Take off the values a preload set, where the conversation left them; see TakeBackVariables."""
    change = TakeBackVariables(values_set, values_before)
    return do_write(environment, user_id, change, context=context)


def do_replace_state(
    environment: Environment, user_id: str, state: dict, *, context: WriteContext
) -> AuditEntry:
    """Replace the whole state (PUT) after checking its shape; see ReplaceState."""
    return do_write(environment, user_id, ReplaceState(state), context=context)


def do_reset_session(
    environment: Environment, user_id: str, *, context: WriteContext
) -> AuditEntry:
    """Delete the state (DELETE). The state before is kept in the audit row, so it can come back."""
    return do_write(environment, user_id, Reset(), context=context)


def do_put_back(
    environment: Environment,
    user_id: str,
    state: dict | None,
    *,
    context: WriteContext,
    restored_from: AuditEntry | None = None,
) -> AuditEntry:
    """Make the conversation hold `state` again (a PUT, or a DELETE when it had none)."""
    return do_write(environment, user_id, PutBack(state, restored_from), context=context)


def do_restore(entry: AuditEntry, *, context: WriteContext) -> AuditEntry:
    """Put back the state recorded before an audited write."""
    if entry.environment is None:
        raise StateShapeError("The environment of this record no longer exists.")
    if entry.state_before is None:
        raise StateShapeError("This record has no state before the write to put back.")
    return do_put_back(
        entry.environment, entry.user_id, entry.state_before, context=context, restored_from=entry
    )


def do_interact(
    environment: Environment,
    user_id: str,
    action: dict,
    *,
    context: WriteContext,
    config: dict | None = None,
) -> tuple[AuditEntry, list]:
    """Send one turn and return its audit row and the traces Voiceflow answered.

    Audited like any write: the state before it, the action sent and the state after it.
    """
    turn = Turn(action, config)
    entry = do_write(environment, user_id, turn, context=context)
    return entry, turn.traces


def do_stream_turn(
    environment: Environment,
    user_id: str,
    action: dict,
    *,
    context: WriteContext,
    config: dict | None = None,
    session_key: str | None = None,
) -> Iterator[tuple[str, Any]]:
    """One turn through the v4 session API, streamed as Voiceflow answers it.

    Yields `("session", (key, state_before))` once the turn is under way (Voiceflow has started
    answering; the state is the one the turn runs on, for masking what the agent says of it),
    then each server-sent event as it arrives (`("trace", trace)`…, `("end", {})`), then
    `("audit", entry)`. Failures before the first yield raise from the first `next()`, so a
    caller can answer them before it starts streaming.

    `session_key` continues a session the caller started earlier, so that events emitted to it
    are delivered; when Voiceflow no longer accepts it (another client started a session for
    this userID, which ends the earlier one), a new session is started. Audited like
    `do_interact`, through the same `_open`: the state before, the action and the state read
    after the stream ends. It does not hold the session's write lock: a stream lasts as long as
    the end user's turn, and a turn is no full-state write another writer could overwrite.
    """
    change = StreamedTurn(action, environment.alias, config)
    validate_user_id(user_id)
    client = context.client or client_for(environment)
    opened = _open(environment, user_id, change, context, client)
    entry = opened.entry

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
        yield "session", (key, opened.state_before)
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
    yield "audit", _finish_written(environment, user_id, entry, state_after)


def do_emit_event(
    environment: Environment, user_id: str, event_action: dict, *, context: WriteContext
) -> AuditEntry:
    """Emit a session event to the user's live session; see SessionEvent."""
    return do_write(environment, user_id, SessionEvent(event_action), context=context)
