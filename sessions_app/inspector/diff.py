"""What differs between two states, as a list of changes a person can read (path, before, after)."""

from dataclasses import dataclass
from typing import Any

from ..stored_json import json_text
from .display import ValueView

MAX_CHANGES = 300


@dataclass
class Change:
    path: str
    kind: str  # "added", "removed" or "changed"
    before: ValueView | None
    after: ValueView | None


@dataclass
class StateDiff:
    changes: list[Change]
    more: int = 0  # changes beyond MAX_CHANGES, not listed

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def __len__(self) -> int:
        return len(self.changes) + self.more


def _key_path(parent: str, key: str) -> str:
    if key.isidentifier():
        return f"{parent}.{key}" if parent else key
    # As a JSON string: a NUL, a control character or a lone surrogate escaped, each one told
    # apart from the same escape typed out (`\u0000`), and the page can be sent as UTF-8.
    return f"{parent}[{json_text(key)}]"


def _walk(before: Any, after: Any, path: str, out: list[tuple[str, str, Any, Any]]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            child = _key_path(path, str(key))
            if key not in after:
                out.append((child, "removed", before[key], None))
            else:
                _walk(before[key], after[key], child, out)
        for key in after:
            if key not in before:
                out.append((_key_path(path, str(key)), "added", None, after[key]))
        return
    if isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            child = f"{path}[{index}]"
            if index >= len(after):
                out.append((child, "removed", before[index], None))
            elif index >= len(before):
                out.append((child, "added", None, after[index]))
            else:
                _walk(before[index], after[index], child, out)
        return
    # 1 and 1.0 are equal in Python but not the same JSON; True == 1 likewise.
    if type(before) is not type(after) or before != after:
        out.append((path or "(whole state)", "changed", before, after))


def values_differ(before: Any, after: Any) -> bool:
    """Whether two values differ as JSON (a dry run's "changes" column): as `state_diff` sees
    them, so 1 and 1.0 differ, and so do a value and a value that is absent (any sentinel)."""
    found: list[tuple[str, str, Any, Any]] = []
    _walk(before, after, "", found)
    return bool(found)


def _without_null_node_ids(state: Any) -> Any:
    """A frame's `nodeID: null` and no nodeID mean the same to the runtime (a write leaves the
    null of its base frame out, the runtime's next turn puts it back): not a change to show."""
    if not isinstance(state, dict) or not isinstance(state.get("stack"), list):
        return state
    stack = [
        {key: value for key, value in frame.items() if not (key == "nodeID" and value is None)}
        if isinstance(frame, dict)
        else frame
        for frame in state["stack"]
    ]
    return {**state, "stack": stack}


def state_diff(before: dict | None, after: dict | None) -> StateDiff:
    """Changes that turn `before` into `after`; a missing state counts as `{}`."""
    found: list[tuple[str, str, Any, Any]] = []
    _walk(_without_null_node_ids(before or {}), _without_null_node_ids(after or {}), "", found)
    changes = [
        Change(
            path,
            kind,
            ValueView.of(old) if kind != "added" else None,
            ValueView.of(new) if kind != "removed" else None,
        )
        for path, kind, old, new in found[:MAX_CHANGES]
    ]
    return StateDiff(changes, more=max(len(found) - MAX_CHANGES, 0))


def entry_diff(entry) -> StateDiff | None:
    """What an audited write changed (before → after), or None when either was not recorded."""
    if entry.state_before is None or entry.state_after is None:
        return None
    return state_diff(entry.state_before, entry.state_after)


def with_diffs(entries) -> list:
    """Audit entries, each given `.diff` (see `entry_diff`)."""
    entries = list(entries)
    for entry in entries:
        entry.diff = entry_diff(entry)
    return entries
