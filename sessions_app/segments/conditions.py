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
    {"field": "position", "flow_name": "Checkout", "block_name": "Pay"}  (either name optional)

Flow and block are matched by the IDs the runtime keeps in the stack frame (diagramID, nodeID).
Names are translated into those IDs by `resolve_position`, the one hook for it, through the
project's loaded flow map when the segment is saved; the condition then keeps both what was
typed and what it resolved to (`flow`, `block_ids`: the block's own node and its steps, any of
which a conversation may wait at), so counting and re-checking never need the map again.

The environment is the segment's own. Conditions on the index only (last activity) cannot be
seen in a live state and are not re-checked at run time; the userID prefix is.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ..inspector.display import flow_frames

if TYPE_CHECKING:
    from ..flows.loading import LoadedMap

VARIABLE_OPS = ("equals", "contains", "exists", "missing", "gt", "lt")
# The flattened index keeps at most this many paths per session, this deep, values this long.
INDEX_MAX_PATHS = 200
INDEX_MAX_DEPTH = 4
INDEX_MAX_VALUE_CHARS = 200
PATH_PATTERN = re.compile(r"^[^.\s][^\s]{0,199}$")
AGE_PATTERN = re.compile(r"^(\d{1,6})\s*([mhd])$")
AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
ID_MAX = 64
BLOCK_IDS_MAX = 200
NAMES_LISTED = 10


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
    # The nodeIDs that count as the block: one given by ID, or a named block's node and steps.
    blocks: tuple[str, ...] = ()
    flow_name: str = ""  # as typed, when the flow was named
    block_name: str = ""

    def as_dict(self) -> dict:
        if self.field == "position":
            shown: dict[str, Any] = {"field": "position"}
            if self.flow_name:
                shown["flow_name"] = self.flow_name
            shown["flow"] = self.flow
            if self.block_name:
                shown |= {"block_name": self.block_name, "block_ids": list(self.blocks)}
            elif self.blocks:
                shown["block"] = self.blocks[0]
            return shown
        if self.field == "variable":
            shown = {"field": "variable", "path": self.path, "op": self.op}
            return shown if self.op in ("exists", "missing") else {**shown, "value": self.value}
        return {"field": self.field, "op": self.op, "value": self.value}

    def describe(self) -> str:
        if self.field == "position":
            flow = self.flow_name or self.flow
            block = self.block_name or (self.blocks[0] if self.blocks else "")
            return f"at flow {flow}" + (f", block {block}" if block else "")
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

    def resolved_ids(self) -> str:
        """What a named position resolved to ("" for anything else): shown beside its count."""
        if self.field != "position" or not (self.flow_name or self.block_name):
            return ""
        text = f"flow {self.flow}"
        return text + (f", block nodes {', '.join(self.blocks)}" if self.block_name else "")


def resolve_position(raw: dict, flow_map: "LoadedMap | None" = None) -> Condition:
    """The position condition `raw` says, its names translated into IDs.

    With the project's flow map, `flow_name` / `block_name` are looked up in it (a name, or an ID
    the map lists, typed in their place); without one, a name needs the IDs it resolved to
    when the segment was saved (`flow`, `block_ids`), else only IDs can be used.
    """
    flow_name, block_name = _text(raw, "flow_name", 200), _text(raw, "block_name", 200)
    flow, block = _text(raw, "flow", ID_MAX), _text(raw, "block", ID_MAX)
    if (flow_name or block_name) and flow_map is not None:
        return _resolved(flow_map, flow_name, block_name, flow, block)
    if flow_name and not flow:
        raise ConditionError(
            "no flow map is loaded for this project, so flows cannot be found by name; load "
            "one (the project's page, Flow names) or give the flow's diagramID, as the session "
            "page shows it"
        )
    blocks = (block,) if block else ()
    if block_name:
        blocks = _block_ids(raw.get("block_ids"))
        if not blocks:
            raise ConditionError(
                "no flow map is loaded for this project, so blocks cannot be found by name; "
                "load one (the project's page, Flow names) or give the block's nodeID"
            )
    if not flow:
        raise ConditionError("A position condition needs the flow (its diagramID, or its name)")
    return Condition(
        "position", flow=flow, blocks=blocks, flow_name=flow_name, block_name=block_name
    )


def _text(raw: dict, key: str, longest: int) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConditionError(f"{key} must be text")
    if len(value.strip()) > longest:
        raise ConditionError(f"{key} is at most {longest} characters")
    return value.strip()


def _block_ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > BLOCK_IDS_MAX
        or not all(isinstance(item, str) and 0 < len(item) <= ID_MAX for item in value)
    ):
        raise ConditionError("block_ids must be a list of nodeIDs")
    return tuple(value)


def _named(candidates: dict[str, str], name: str) -> list[str]:
    """The keys whose name is `name`: exactly as typed if any, else ignoring case."""
    exact = [key for key, found in candidates.items() if found == name]
    if exact:
        return exact
    folded = name.casefold()
    return [key for key, found in candidates.items() if found.casefold() == folded]


def _resolved(
    flow_map: "LoadedMap", flow_name: str, block_name: str, flow: str, block: str
) -> Condition:
    where = f"the flow map of version {flow_map.version_label}"
    flows, nodes = flow_map.flows, flow_map.nodes
    if flow_name:
        found = _named(flows, flow_name)
        if len(found) > 1:
            # A diagram keyed by _id with a diagramID of its own is listed under both; the
            # stack names the one its nodes carry.
            of_nodes = {entry.get("flow") for entry in nodes.values()}
            found = [flow_id for flow_id in found if flow_id in of_nodes] or found
        if not found and flow_name in flows:
            found = [flow_name]
        if not found:
            known = sorted(set(flows.values()), key=str.casefold)
            listed = ", ".join(known[:NAMES_LISTED]) + (", …" if len(known) > NAMES_LISTED else "")
            raise ConditionError(f'no flow is named "{flow_name}" in {where} (flows: {listed})')
        if len(found) > 1:
            listed = ", ".join(f"{flows[flow_id]} (flow {flow_id})" for flow_id in sorted(found))
            raise ConditionError(
                f'{len(found)} flows are named "{flow_name}": {listed}; give the flow\'s ID '
                "instead of its name"
            )
        flow = found[0]
    blocks = (block,) if block else ()
    if block_name:
        flow, blocks = _block_named(flow_map, block_name, flow)
    if not flow:
        raise ConditionError("A position condition needs the flow (its diagramID, or its name)")
    return Condition(
        "position", flow=flow, blocks=blocks, flow_name=flow_name, block_name=block_name
    )


def _block_named(flow_map: "LoadedMap", block_name: str, flow: str) -> tuple[str, tuple[str, ...]]:
    """The flow and the nodeIDs of the one block named `block_name` (in `flow` when given): the
    block's own node and its steps, grouped by the block they sit in."""
    nodes, flows = flow_map.nodes, flow_map.flows
    in_flow = {
        node_id: entry.get("block") or ""
        for node_id, entry in nodes.items()
        if not flow or entry.get("flow") == flow
    }
    matching = _named(in_flow, block_name)
    if not matching and block_name in in_flow:  # an ID the map lists, typed as the name
        matching = [block_name]
        block_key = nodes[block_name].get("block_id")
        if block_key:
            matching = [n for n in in_flow if nodes[n].get("block_id") == block_key]
    groups: dict[tuple[str, str], list[str]] = {}
    for node_id in matching:
        entry = nodes[node_id]
        # Maps loaded before blocks carried their ID group one flow's blocks by name.
        groups.setdefault((entry.get("flow") or "", entry.get("block_id") or ""), []).append(
            node_id
        )
    if not groups:
        where = f" in flow {flows.get(flow, flow)}" if flow else ""
        raise ConditionError(
            f'no block is named "{block_name}"{where} in the flow map of version '
            f"{flow_map.version_label}"
        )
    if len(groups) > 1:
        listed = "; ".join(
            f"{nodes[ids[0]].get('block')} in flow {flows.get(flow_id, flow_id)} (flow {flow_id}, "
            f"block {block_id or ids[0]})"
            for (flow_id, block_id), ids in sorted(groups.items())
        )
        raise ConditionError(
            f'{len(groups)} blocks are named "{block_name}": {listed}; name the flow too, or '
            "give the block's ID instead of its name"
        )
    (found_flow, _), ids = next(iter(groups.items()))
    return found_flow, tuple(sorted(ids))[:BLOCK_IDS_MAX]


def parse_conditions(raw: Any, flow_map: "LoadedMap | None" = None) -> list[Condition]:
    """Validate a list of conditions; the first problem raises ConditionError naming it.
    `flow_map` (when saving a segment) translates the flow and block names it names."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError as error:
            raise ConditionError(f"The conditions are not valid JSON: {error.msg}.") from None
    if not isinstance(raw, list):
        raise ConditionError("The conditions must be a list of objects.")
    if len(raw) > 20:
        raise ConditionError("A segment has at most 20 conditions.")
    return [_parse_one(number, item, flow_map) for number, item in enumerate(raw, start=1)]


def _parse_one(number: int, raw: Any, flow_map: "LoadedMap | None") -> Condition:
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
            return resolve_position(raw, flow_map)
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
            if len(condition.blocks) == 1:
                query &= Q(current_node_id=condition.blocks[0])
            elif condition.blocks:
                query &= Q(current_node_id__in=condition.blocks)
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
                condition.blocks and str(top.get("nodeID") or "") not in condition.blocks
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
