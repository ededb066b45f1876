"""The dry run: what a job would change for a few of its users, read from Voiceflow now.

Each sampled item's write is the one the engine would send (`changes.item_change`); the state it
would leave is its `planned_state`, compared variable by variable (`actions.planned_variables`).
"""

import json
from typing import Any

from .. import actions
from ..models import BulkJob
from ..segments import mismatch, parse_conditions
from ..voiceflow import VoiceflowError, client_for
from .changes import item_change

SAMPLE_SIZE = 5
# A reset's dry run names this many of a sampled user's variables.
NAMES_SHOWN = 6


def _shown(value: Any) -> str:
    if value is actions.NOT_SET:
        return "(not set)"
    return json.dumps(value, ensure_ascii=False)


def _variable_changes(planned: list[actions.PlannedVariable]) -> list[dict]:
    return [
        {
            "name": variable.name,
            "before": _shown(variable.before),
            "after": _shown(variable.after),
            "changes": variable.changes,
        }
        for variable in planned
    ]


def _segment_mismatch(job: BulkJob, user_id: str, state: dict) -> str:
    if job.segment_conditions is None:
        return ""
    reason = mismatch(parse_conditions(job.segment_conditions), user_id, state)
    return (
        f"Would be skipped: moved since the index was read (no longer {reason})." if reason else ""
    )


def sample_diffs(job: BulkJob, size: int = SAMPLE_SIZE) -> list[dict]:
    """For the first few items: the current state against what the job would leave.

    Reads only (one GET per sampled user, paced by the project's budget like any read).
    """
    client = client_for(job.environment)
    diffs = []
    for item in job.items.order_by("line_number")[:size]:
        diff: dict[str, Any] = {
            "user_id": item.user_id,
            "line": item.line_number,
            "error": "",
            "changes": [],
        }
        try:
            state = client.get_state(item.user_id)
        except VoiceflowError as error:
            diff["error"] = error.message
            diffs.append(diff)
            continue
        current = state.get("variables") or {}
        diff["has_state"] = bool(state)
        diff["stack_depth"] = len(state.get("stack") or [])
        change = item_change(job, item)
        moved = _segment_mismatch(job, item.user_id, state)
        if moved:
            diff["summary"] = moved
        elif job.kind == BulkJob.Kind.REMOVE_VARIABLES:
            names = list(job.variable_names)
            diff["changes"] = _variable_changes(actions.planned_variables(change, state, names))
        elif job.kind == BulkJob.Kind.CAMPAIGN_END:
            values_set = (item.variables or {}).get("set", {})
            planned = actions.planned_variables(change, state, list(values_set))
            diff["changes"] = _variable_changes(planned)
            kept = actions.still_set(state, values_set)
            left = [name for name in values_set if name not in kept]
            if left:
                diff["summary"] = f"Left as the conversation changed them: {', '.join(left)}."
        elif job.kind == BulkJob.Kind.PRELOAD:
            names = list(item.variables or {})
            diff["changes"] = _variable_changes(actions.planned_variables(change, state, names))
        elif job.kind == BulkJob.Kind.RESET:
            # Compact: the names only (every value goes), not a table of every variable.
            names = sorted(current)
            diff["variable_count"] = len(names)
            diff["variable_names"] = ", ".join(names[:NAMES_SHOWN]) + (
                f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
            )
            diff["summary"] = (
                f"The whole state is deleted: {len(current)} variables, a stack of {diff['stack_depth']}."
                if state
                else "No state: nothing to delete."
            )
        else:
            planned = actions.planned_variables(change, state)
            diff["changes"] = _variable_changes([v for v in planned if v.changes])
            diff["summary"] = (
                "Put back the state from before the job."
                if item.state_to_restore
                else "The user had no state before the job: it is deleted."
            )
        diffs.append(diff)
    return diffs
