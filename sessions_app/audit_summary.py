"""One line that says what an audited write changed, for lists of audit entries.

Built from the recorded states (before → after) when both were kept, otherwise from the request
sent. Give it an entry already masked for the reader (`personal_data.mask_entry`): the line
quotes values.
"""

import json
from typing import Any

from .audit import JOB_CONTROL_ACTIONS
from .inspector.diff import Change, entry_diff
from .models import AuditEntry

CHANGES_NAMED = 3
VALUE_MAX_CHARS = 40
SUMMARY_MAX_CHARS = 160


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)
    return text if len(text) <= VALUE_MAX_CHARS else text[: VALUE_MAX_CHARS - 1] + "…"


def _path(change: Change) -> str:
    # Variables are what people edit; their path reads better without the prefix.
    return change.path.removeprefix("variables.")


def _describe(change: Change) -> str:
    if change.kind == "added":
        return f"{_path(change)} = {change.after.short}"
    if change.kind == "removed":
        return f"{_path(change)} removed"
    return f"{_path(change)}: {change.before.short} → {change.after.short}"


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX_CHARS else text[: SUMMARY_MAX_CHARS - 1] + "…"


def _turn(request_sent: dict) -> str:
    action = request_sent.get("action") or {}
    if not isinstance(action, dict):
        return "a turn"
    kind = str(action.get("type") or "turn")
    payload = action.get("payload")
    if isinstance(payload, str) and payload:
        return f"{kind}: {_short(payload)}"
    if isinstance(payload, dict) and payload.get("intent"):
        return f"{kind}: {_short(payload['intent'].get('name', payload['intent']))}"
    return kind


def change_summary(entry: AuditEntry) -> str:
    """“pizza_size: "large" → "small"”, “Deleted the state (12 variables)”, “text: "hi"”…"""
    request_sent = entry.request_sent if isinstance(entry.request_sent, dict) else {}
    if entry.action == AuditEntry.Action.INTERACT:
        return _cut(_turn(request_sent))
    if entry.action in JOB_CONTROL_ACTIONS:
        return f"Job #{request_sent.get('job', entry.job_id)}"
    if entry.action == AuditEntry.Action.RESET and isinstance(entry.state_before, dict):
        count = len(entry.state_before.get("variables") or {})
        if not entry.state_before:
            return "Deleted the state (there was none)"
        return f"Deleted the state ({count} variable{'' if count == 1 else 's'})"
    diff = entry_diff(entry)
    if diff is not None:
        if diff.is_empty:
            return "No change"
        named = "; ".join(_describe(change) for change in diff.changes[:CHANGES_NAMED])
        more = len(diff) - min(len(diff.changes), CHANGES_NAMED)
        return _cut(named + (f"; and {more} more" if more else ""))
    if entry.action == AuditEntry.Action.SET_VARIABLES and isinstance(
        request_sent.get("body"), dict
    ):
        body = request_sent["body"]
        return _cut("; ".join(f"{name} = {_short(value)}" for name, value in body.items()))
    if entry.action == AuditEntry.Action.REMOVE_VARIABLES and request_sent.get("remove_variables"):
        return _cut(", ".join(map(str, request_sent["remove_variables"])) + " removed")
    if entry.action == AuditEntry.Action.RESTORE and entry.restored_from_id:
        return f"Put back the state from before entry #{entry.restored_from_id}"
    if request_sent and entry.action not in (
        AuditEntry.Action.REPLACE_STATE,
        AuditEntry.Action.RESTORE,
    ):
        return _cut(", ".join(f"{key}: {_short(value)}" for key, value in request_sent.items()))
    return ""
