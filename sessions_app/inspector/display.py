"""A conversation state as the inspector shows it: variable rows, the stack trail, and what moved
since an earlier read."""

from dataclasses import dataclass, field
from typing import Any

from ..stored_json import json_text, name_to_json, printable
from .values import editable_text, type_name

SHORT_TEXT_MAX = 120
FOLDED_SUMMARY_CHARS = 80
COMPACT_JSON_MAX = 60
# The runtime's own variables (voiceflow-api.md §2, §9; general-runtime's state service), each
# with what it holds. The inspector marks them, asks before one is changed, and the
# known-sessions index shows the agent's own variables first.
RUNTIME_VARIABLES = {
    "sessions": "How many sessions this user has had: the runtime counts it up each time it "
    "starts a new session for them.",
    "user_id": "The userID, set by the runtime on every turn.",
    "timestamp": "Unix time (seconds) of the last turn, refreshed by the runtime every turn.",
    "_memory_": "The conversation so far as a list of messages, kept by the runtime for AI "
    "steps; it grows every turn.",
    "vf_memory": "The conversation so far as text, kept by the runtime for AI prompts; it "
    "grows every turn.",
    "last_event": "The last request the runtime handled (a launch, or the intent a text was "
    "matched to with its query and entities).",
    "last_response": "The agent's last answer, set by the runtime.",
    "platform": "The channel the agent runs on, set by the runtime.",
    "locale": "The user's locale, set by the runtime.",
    "intent_confidence": "How sure the runtime was (percent) of the intent it last matched.",
    "last_utterance": "What the user last said or typed, set by the runtime.",
}
BUILT_IN_VARIABLES = frozenset(RUNTIME_VARIABLES)


def pretty_json(value: Any) -> str:
    return json_text(value, indent=2)


def compact_json(value: Any) -> str:
    return json_text(value)


@dataclass
class ValueView:
    """One value: a short form for the table, and the whole of it when that is folded away."""

    kind: str
    short: str
    folded: bool
    full: str = ""

    @classmethod
    def of(cls, value: Any) -> "ValueView":
        kind = type_name(value)
        if kind == "string":
            value = printable(value)
            if len(value) <= SHORT_TEXT_MAX and "\n" not in value:
                return cls(kind, value, folded=False)
            first_line = value.split("\n", 1)[0][:FOLDED_SUMMARY_CHARS]
            return cls(kind, first_line + "…", folded=True, full=value)
        if kind in ("object", "list"):
            compact = compact_json(value)
            nested = any(isinstance(item, dict | list) for item in _members(value))
            if len(compact) <= COMPACT_JSON_MAX and not nested:
                return cls(kind, compact, folded=False)
            size = len(value)
            noun = ("key" if kind == "object" else "item") + ("" if size == 1 else "s")
            return cls(
                kind, f"{size} {noun}: {compact[:FOLDED_SUMMARY_CHARS]}…", True, pretty_json(value)
            )
        return cls(kind, compact_json(value), folded=False)


def _members(value: dict | list) -> list:
    return list(value.values()) if isinstance(value, dict) else list(value)


@dataclass
class VariableRow:
    # As shown (`printable`): a NUL character and the six characters `\u0000` look alike there.
    name: str
    # The exact name as a JSON string literal: what the row's Edit and Remove buttons send back.
    name_json: str
    value: ValueView
    editable: str
    change: str = ""  # "added", "changed", "removed" or "" (compared with an earlier read)
    value_before: ValueView | None = None

    @classmethod
    def of(cls, name: Any, value: Any, change: str = "", value_before: Any = None) -> "VariableRow":
        """The row of variable `name` holding `value`; `value_before`, the value it replaced."""
        return cls(
            printable(str(name)),
            name_to_json(str(name)),
            ValueView.of(value),
            editable_text(value),
            change,
            ValueView.of(value_before) if change == "changed" else None,
        )

    @property
    def runtime_note(self) -> str:
        """What the runtime keeps in this variable, when it is one of the runtime's own."""
        return RUNTIME_VARIABLES.get(self.name, "")


def variable_rows(variables: dict | None, previous: dict | None = None) -> list[VariableRow]:
    """Rows in the state's own order; with `previous`, marked added/changed and removed ones kept."""
    variables = variables if isinstance(variables, dict) else {}
    rows = []
    for name, value in variables.items():
        change = ""
        if previous is not None:
            if name not in previous:
                change = "added"
            elif compact_json(previous[name]) != compact_json(value):
                change = "changed"
        rows.append(VariableRow.of(name, value, change, (previous or {}).get(name)))
    if previous is not None:
        rows.extend(
            VariableRow.of(name, value, "removed")
            for name, value in previous.items()
            if name not in variables
        )
    return rows


def is_base_frame(frame: Any) -> bool:
    """The runtime's own base frame: the first frame of every stack it builds, its diagramID the
    version, `nodeID: null` and `storage.isBase` (general-runtime, observed §9). It is where the
    runtime returns when every flow has ended, not a flow the user is in."""
    return (
        isinstance(frame, dict)
        and isinstance(frame.get("storage"), dict)
        and frame["storage"].get("isBase") is True
    )


def flow_frames(stack: Any) -> list:
    """The frames of the flows the user is in, root first: the stack without the base frame."""
    return [frame for frame in stack if not is_base_frame(frame)] if isinstance(stack, list) else []


@dataclass
class FrameView:
    position: int
    title: str
    diagram_id: str
    name: str
    node_id: str | None
    variables: list[VariableRow]
    storage: str
    commands: str
    dynamic_commands: str
    other_keys: str
    is_current: bool
    change: str = ""  # "added", "changed" or "" compared with an earlier read
    is_base: bool = False
    flow_number: int = 0  # 1 for the root flow; 0 for the runtime's base frame

    @property
    def key(self) -> str:
        """Names the frame's parts in the page, so watch mode keeps open what the operator opened."""
        return f"frame-{self.position}"


FRAME_KEYS = {"diagramID", "nodeID", "name", "storage", "variables", "commands", "dynamicCommands"}


def _frame_view(
    position: int,
    frame: Any,
    *,
    is_current: bool,
    flow_number: int = 0,
    previous: Any = None,
    compare: bool = False,
) -> FrameView:
    frame = frame if isinstance(frame, dict) else {"diagramID": "", "value": frame}
    diagram_id = printable(str(frame.get("diagramID") or frame.get("programID") or ""))
    name = printable(str(frame["name"])) if frame.get("name") else ""
    previous_variables = previous.get("variables") if isinstance(previous, dict) else None
    change = ""
    if compare:
        if previous is None:
            change = "added"
        elif compact_json(_positioned(previous)) != compact_json(_positioned(frame)):
            change = "changed"
    other = {key: value for key, value in frame.items() if key not in FRAME_KEYS}
    return FrameView(
        position=position,
        title=name or diagram_id or "(no diagramID)",
        diagram_id=diagram_id,
        name=name,
        node_id=printable(frame["nodeID"]) if isinstance(frame.get("nodeID"), str) else None,
        variables=variable_rows(
            frame.get("variables"),
            previous_variables if compare and isinstance(previous_variables, dict) else None,
        ),
        storage=pretty_json(frame["storage"]) if frame.get("storage") else "",
        commands=pretty_json(frame["commands"]) if frame.get("commands") else "",
        dynamic_commands=pretty_json(frame["dynamicCommands"])
        if frame.get("dynamicCommands")
        else "",
        other_keys=pretty_json(other) if other else "",
        is_current=is_current,
        change=change,
        is_base=is_base_frame(frame),
        flow_number=flow_number,
    )


def _positioned(frame: Any) -> Any:
    """The frame without a null nodeID: a write leaves the base frame's null out and the
    runtime's next turn puts it back, which is no change (inspector/diff.py likewise)."""
    if not isinstance(frame, dict) or frame.get("nodeID", "") is not None:
        return frame
    return {key: value for key, value in frame.items() if key != "nodeID"}


def _position_of(frame: Any) -> tuple[str, str]:
    if not isinstance(frame, dict):
        return ("", "")
    return (str(frame.get("diagramID") or ""), str(frame.get("nodeID") or ""))


@dataclass
class StackView:
    frames: list[FrameView]
    moved: bool = False
    removed_frames: int = 0
    was_at: str = field(default="")

    @property
    def flows(self) -> list[FrameView]:
        """The flows the user is in (the base frame left out), root first."""
        return [frame for frame in self.frames if not frame.is_base]

    @property
    def current(self) -> FrameView | None:
        return self.flows[-1] if self.flows else None


def stack_view(stack: Any, previous_stack: Any = None, *, compare: bool = False) -> StackView:
    """The stack root first, the current frame last; with `compare`, what moved since `previous_stack`."""
    frames = stack if isinstance(stack, list) else []
    before = previous_stack if isinstance(previous_stack, list) else []
    views, flow_number = [], 0
    for position, frame in enumerate(frames):
        base = is_base_frame(frame)
        flow_number += 0 if base else 1
        views.append(
            _frame_view(
                position,
                frame,
                is_current=not base and position == len(frames) - 1,
                flow_number=0 if base else flow_number,
                previous=before[position] if position < len(before) else None,
                compare=compare,
            )
        )
    if not compare:
        return StackView(views)
    moved = [_position_of(f) for f in frames] != [_position_of(f) for f in before]
    was_at = ""
    flows_before = flow_frames(before)
    if moved and flows_before:
        last = flows_before[-1] if isinstance(flows_before[-1], dict) else {}
        title = last.get("name") or last.get("diagramID") or "?"
        was_at = f"{title} at node {last.get('nodeID') or 'start'} (depth {len(flows_before)})"
    elif moved:
        was_at = "no flow"
    return StackView(
        views, moved=moved, removed_frames=max(len(before) - len(frames), 0), was_at=was_at
    )


def key_variables(snapshot: dict, limit: int = 4) -> list[tuple[str, str]]:
    """A few variables that tell sessions apart: the agent's own before the runtime's built-ins."""
    own = [name for name in snapshot if name not in BUILT_IN_VARIABLES]
    chosen = (own + [name for name in snapshot if name in BUILT_IN_VARIABLES])[:limit]
    return [
        (
            printable(name),
            printable(snapshot[name])
            if isinstance(snapshot[name], str)
            else compact_json(snapshot[name]),
        )
        for name in chosen
    ]
