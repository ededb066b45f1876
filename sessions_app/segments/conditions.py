"""Segment conditions: the one place that says what a condition means, both as a database query
over the known-sessions index (count, sample) and against a live state (the re-check a job makes
on each member before it writes).

A segment's conditions are a list of objects, all of which must hold:

    {"field": "variable", "path": "profile.tier", "op": "equals", "value": 3}
        op: equals, contains (text, ignoring case), exists, missing, gt, lt (numbers)
    {"field": "last_active", "op": "before" | "after", "value": "2026-11-01T00:00:00Z" | "30d"}
        a moment, or an age (m, h, d): "before 30d" means idle for more than 30 days
    {"field": "user_id", "op": "prefix", "value": "web-"}
    {"field": "position", "flow": "<diagramID>", "block": "<nodeID>"}   (block optional)

Flow and block are matched by the IDs the runtime keeps in the stack frame (diagramID, nodeID).
A condition may name them as `flow_name` / `block_name` instead once a flow map can translate a
name into an ID: `resolve_position` is the single hook for that; until a map is loaded it asks
for the IDs.

The environment is the segment's own. Conditions on the index only (last activity) cannot be
seen in a live state and are not re-checked at run time; the userID prefix is.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ..inspector.display import flow_frames

VARIABLE_OPS = ("equals", "contains", "exists", "missing", "gt", "lt")
# The flattened index keeps at most this many paths per session, this deep, values this long.
INDEX_MAX_PATHS = 200
INDEX_MAX_DEPTH = 4
INDEX_MAX_VALUE_CHARS = 200
PATH_PATTERN = re.compile(r"^[^.\s][^\s]{0,199}$")
AGE_PATTERN = re.compile(r"^(\d{1,6})\s*([mhd])$")
AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class ConditionError(ValueError):
    """A condition that cannot be used; the message says which and why, for a person."""


# ---- the index: what note_session stores for conditions to query ----


def index_fields(state: dict | None) -> dict[str, Any]:
    """The KnownSession fields conditions query, from a state as Voiceflow returns it."""
    state = state or {}
    frames = flow_frames(state.get("stack"))
    top = frames[-1] if frames and isinstance(frames[-1], dict) else {}
    flat = flatten_variables(state.get("variables") or {})
    return {
        "current_diagram_id": str(top.get("diagramID") or "")[:64],
        "current_node_id": str(top.get("nodeID") or "")[:64],
        "variables_index": flat,
        "variables_numbers": {
            path: value
            for path, value in flat.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        },
    }


def flatten_variables(variables: dict) -> dict[str, Any]:
    """Scalar leaves by dotted path: {"profile": {"tier": 3}} → {"profile": …, "profile.tier": 3}.

    A nested object is kept under its own path too, as JSON text, so "exists" finds it. Bounded,
    so one enormous state cannot bloat the index; long text is cut (and "equals" then misses it).
    """
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any, depth: int) -> None:
        if len(flat) >= INDEX_MAX_PATHS:
            return
        if isinstance(value, dict):
            flat[prefix] = _cut(json.dumps(value, ensure_ascii=False, sort_keys=True))
            if depth < INDEX_MAX_DEPTH:
                for key, inner in value.items():
                    walk(f"{prefix}.{key}", inner, depth + 1)
        elif isinstance(value, list):
            flat[prefix] = _cut(json.dumps(value, ensure_ascii=False))
        elif isinstance(value, str):
            flat[prefix] = _cut(value)
        else:
            flat[prefix] = value

    if isinstance(variables, dict):
        for name, value in variables.items():
            walk(str(name), value, 1)
    return flat


def _cut(text: str) -> str:
    return text if len(text) <= INDEX_MAX_VALUE_CHARS else text[:INDEX_MAX_VALUE_CHARS] + "…"


# ---- reading conditions ----


@dataclass(frozen=True)
class Condition:
    field: str
    op: str = ""
    path: str = ""
    value: Any = None
    flow: str = ""
    block: str = ""

    def as_dict(self) -> dict:
        if self.field == "position":
            return {
                "field": "position",
                "flow": self.flow,
                **({"block": self.block} if self.block else {}),
            }
        if self.field == "variable":
            shown = {"field": "variable", "path": self.path, "op": self.op}
            return shown if self.op in ("exists", "missing") else {**shown, "value": self.value}
        return {"field": self.field, "op": self.op, "value": self.value}

    def describe(self) -> str:
        if self.field == "position":
            return f"at flow {self.flow}" + (f", block {self.block}" if self.block else "")
        if self.field == "variable":
            words = {
                "equals": "equals",
                "contains": "contains",
                "gt": "is greater than",
                "lt": "is less than",
            }
            if self.op == "exists":
                return f"{self.path} exists"
            if self.op == "missing":
                return f"{self.path} is missing"
            return f"{self.path} {words[self.op]} {json.dumps(self.value, ensure_ascii=False)}"
        if self.field == "user_id":
            return f"userID starts with {self.value}"
        age = AGE_PATTERN.match(str(self.value))
        if age is None:
            return f"last active {self.op} {self.value}"
        span = f"{age.group(1)}{age.group(2)}"
        return f"idle for more than {span}" if self.op == "before" else f"active in the last {span}"


def resolve_position(raw: dict) -> tuple[str, str]:
    """The flow's diagramID and the block's nodeID a position condition names.

    The hook for flow maps: a `flow_name` / `block_name` is translated to IDs here once a map
    of the project's flows exists; without one, only IDs can be used.
    """
    if raw.get("flow_name") or raw.get("block_name"):
        raise ConditionError(
            "Flow and block names need the project's flow map; give the flow's diagramID "
            "(and the block's nodeID) as shown on the session page."
        )
    flow = raw.get("flow")
    block = raw.get("block") or ""
    if not isinstance(flow, str) or not flow.strip():
        raise ConditionError("A position condition needs the flow (its diagramID).")
    if not isinstance(block, str):
        raise ConditionError("The block must be its nodeID, as text.")
    if len(flow) > 64 or len(block) > 64:
        raise ConditionError("A diagramID or nodeID is at most 64 characters.")
    return flow.strip(), block.strip()


def parse_conditions(raw: Any) -> list[Condition]:
    """Validate a list of conditions; the first problem raises ConditionError naming it."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError as error:
            raise ConditionError(f"The conditions are not valid JSON: {error.msg}.") from None
    if not isinstance(raw, list):
        raise ConditionError("The conditions must be a list of objects.")
    if len(raw) > 20:
        raise ConditionError("A segment has at most 20 conditions.")
    return [_parse_one(number, item) for number, item in enumerate(raw, start=1)]


def _parse_one(number: int, raw: Any) -> Condition:
    where = f"Condition {number}"
    if not isinstance(raw, dict):
        raise ConditionError(f"{where} must be an object with a field.")
    field = raw.get("field")
    op = raw.get("op", "")
    value = raw.get("value")
    try:
        if field == "variable":
            path = raw.get("path")
            if (
                not isinstance(path, str)
                or not PATH_PATTERN.match(path)
                or ".." in path
                or "__" in path
            ):
                raise ConditionError(
                    "the path must be a variable name, nested names joined by dots"
                )
            if op not in VARIABLE_OPS:
                raise ConditionError(f"op must be one of {', '.join(VARIABLE_OPS)}")
            if op in ("exists", "missing"):
                return Condition("variable", op, path)
            if op in ("gt", "lt") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ConditionError("greater/less than compares numbers: give a number")
            if op == "contains" and (not isinstance(value, str) or not value):
                raise ConditionError("contains looks for text: give some text")
            if op == "equals" and isinstance(value, dict | list):
                raise ConditionError("equals compares a text, number, true/false or null")
            return Condition("variable", op, path, value)
        if field == "last_active":
            if op not in ("before", "after"):
                raise ConditionError("op must be before or after")
            moment_of(value)
            return Condition("last_active", op, value=value)
        if field == "user_id":
            if op != "prefix" or not isinstance(value, str) or not value:
                raise ConditionError('a userID condition is {"op": "prefix", "value": "…"}')
            return Condition("user_id", "prefix", value=value)
        if field == "position":
            flow, block = resolve_position(raw)
            return Condition("position", flow=flow, block=block)
    except ConditionError as error:
        raise ConditionError(f"{where}: {error}.".replace("..", ".")) from None
    raise ConditionError(
        f"{where}: field must be variable, last_active, user_id or position (got {field!r})."
    )


def moment_of(value: Any, now: datetime | None = None) -> datetime:
    """A last-activity bound: an ISO moment, or an age such as 30d counted back from now."""
    if isinstance(value, str):
        age = AGE_PATTERN.match(value.strip())
        if age:
            return (now or timezone.now()) - timedelta(
                **{AGE_UNITS[age.group(2)]: int(age.group(1))}
            )
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
    raise ConditionError(
        "the moment must be a date and time (2026-11-01T00:00:00Z) or an age such as 30d, 12h, 15m"
    )


# ---- as a database query ----


def as_q(conditions: list[Condition], now: datetime | None = None) -> Q:
    """A filter on KnownSession for the conditions (the environment is filtered by the caller).

    Sessions whose state was never read (imported, still pending) match no condition about the
    state, whatever it says: their index does not know yet.
    """
    query = Q()
    state_known = Q(state_pending=False)
    postgres = connection.vendor == "postgresql"
    for condition in conditions:
        if condition.field == "user_id":
            query &= Q(user_id__startswith=condition.value)
        elif condition.field == "last_active":
            bound = moment_of(condition.value, now)
            lookup = "last_activity_at__lt" if condition.op == "before" else "last_activity_at__gt"
            query &= Q(**{lookup: bound})
        elif condition.field == "position":
            query &= state_known & Q(current_diagram_id=condition.flow)
            if condition.block:
                query &= Q(current_node_id=condition.block)
        else:
            query &= state_known & _variable_q(condition, postgres)
    return query


def _variable_q(condition: Condition, postgres: bool) -> Q:
    path, op, value = condition.path, condition.op, condition.value
    if op == "exists":
        return Q(variables_index__has_key=path)
    if op == "missing":
        return ~Q(variables_index__has_key=path)
    if op == "equals":
        if postgres:
            # Containment (@>) is what the GIN index serves.
            return Q(variables_index__contains={path: value})
        # A key compared with None matches a JSON null, as on PostgreSQL.
        return _lookup("variables_index", path, "exact", value)
    if op == "contains":
        return _lookup("variables_index", path, "icontains", value)
    # gt / lt: only numeric leaves are in variables_numbers, so text never compares.
    return _lookup("variables_numbers", path, op, value)


def _lookup(field: str, path: str, lookup: str, value: Any) -> Q:
    """A key lookup with the lookup always named, so a variable called "contains" or "exact" is
    still a key; a dotted path is one key of the flat index (paths never hold "__")."""
    return Q(**{f"{field}__{path}__{lookup}": value})


# ---- against a live state ----

MISSING = object()


def value_at(variables: Any, path: str) -> Any:
    """The value at a dotted path of a state's variables, or MISSING."""
    if not isinstance(variables, dict):
        return MISSING
    if path in variables:  # a variable whose own name has a dot
        return variables[path]
    head, _, rest = path.partition(".")
    if not rest or head not in variables:
        return MISSING
    return value_at(variables[head], rest)


def mismatch(conditions: list[Condition], user_id: str, state: dict | None) -> str:
    """Why a live state does not match the conditions ("" when it does). Conditions on the
    index only (last activity) are not judged here."""
    state = state or {}
    variables = state.get("variables") or {}
    frames = flow_frames(state.get("stack"))
    top = frames[-1] if frames and isinstance(frames[-1], dict) else {}
    for condition in conditions:
        if condition.field == "user_id" and not user_id.startswith(condition.value):
            return condition.describe()
        if condition.field == "position":
            if not state:
                return f"{condition.describe()} (the session has no state now)"
            if str(top.get("diagramID") or "") != condition.flow or (
                condition.block and str(top.get("nodeID") or "") != condition.block
            ):
                return condition.describe()
        if condition.field == "variable" and not _variable_holds(condition, variables):
            return condition.describe()
    return ""


def _variable_holds(condition: Condition, variables: dict) -> bool:
    found = value_at(variables, condition.path)
    op = condition.op
    if op == "exists":
        return found is not MISSING
    if op == "missing":
        return found is MISSING
    if found is MISSING:
        return False
    if op == "equals":
        return (type(found) is type(condition.value) and found == condition.value) or (
            _is_number(found) and _is_number(condition.value) and found == condition.value
        )
    if op == "contains":
        text = found if isinstance(found, str) else json.dumps(found, ensure_ascii=False)
        return condition.value.lower() in text.lower()
    if not _is_number(found):
        return False
    return found > condition.value if op == "gt" else found < condition.value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
