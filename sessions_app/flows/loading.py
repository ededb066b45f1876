"""Which flow map a state is read with, fetched in the background and never waited for.

A page asks `flow_map_for(environment, state)`: it answers at once with what the database holds
(possibly nothing yet) and queues a fetch when the version is new, its map is older than
`FLOW_MAP_REFRESH_MINUTES` (a development version changes under the same versionID) or an
earlier fetch failed. Parsed maps are kept in this process, keyed by row and load time, so a
page reads the large JSON column only when the map changed.
"""

import functools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .. import sql
from ..models import Environment, FlowMap
from .vf import ProjectFile

# A failed fetch is tried again after this long at the earliest.
RETRY_FAILED_AFTER = timedelta(minutes=5)
_PARSED_KEPT = 32
# Which loaded map is the newest: on every database a map without a load time comes last.
NEWEST_LOADED_FIRST = (F("loaded_at").desc(nulls_last=True), "-pk")

_parsed: dict[int, tuple[datetime | None, dict]] = {}
_parsed_lock = threading.Lock()


@dataclass
class LoadedMap:
    """The map a page shows a state with, and what to say about it."""

    version_key: str
    row: FlowMap | None = None  # the row the names come from (None: no names yet)
    flows: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, dict] = field(default_factory=dict)
    pending: bool = False  # a fetch for this state's version is queued or running
    error: str = ""  # the last fetch of this state's version failed with this
    other_version: bool = False  # the names come from another version of the project

    @property
    def version_label(self) -> str:
        if self.row is None:
            return self.version_key
        return self.row.version_id or self.row.version_key


def version_key_of(environment: Environment, state: Any) -> str:
    """The versionID in the state's base frame (the runtime builds it with the version as its
    diagramID), else the environment's versionID or alias."""
    stack = state.get("stack") if isinstance(state, dict) else None
    for frame in stack if isinstance(stack, list) else []:
        if (
            isinstance(frame, dict)
            and isinstance(frame.get("storage"), dict)
            and frame["storage"].get("isBase")
            and isinstance(frame.get("diagramID"), str)
            and frame["diagramID"]
        ):
            return frame["diagramID"][:64]
    return environment.version_id


def _flows_of(row: FlowMap) -> dict:
    with _parsed_lock:
        cached = _parsed.get(row.pk)
        if cached is not None and cached[0] == row.loaded_at:
            return cached[1]
    flows = FlowMap.objects.filter(pk=row.pk).values_list("flows", flat=True).first() or {}
    with _parsed_lock:
        if len(_parsed) >= _PARSED_KEPT:
            _parsed.pop(next(iter(_parsed)))
        _parsed[row.pk] = (row.loaded_at, flows)
    return flows


def _queue_fetch(row: FlowMap, environment: Environment) -> None:
    from .tasks import fetch_flow_map

    fetch_flow_map.delay_on_commit(row.pk, environment.pk)


def _claim(row: FlowMap, *, status: str) -> bool:
    """Mark `row` as requested now, unless another request did so first; True if this one did."""
    claimed = FlowMap.objects.filter(pk=row.pk, requested_at=row.requested_at).update(
        requested_at=timezone.now(), status=status
    )
    return claimed == 1


@functools.cache
def _rows_sql() -> str:
    """`_rows_for`'s query, written once: the ORM form of it (an OR of three conditions, one a
    subquery) took about a millisecond to build on every read. `flows` is left out, so it stays
    deferred as in the ORM form; `loaded_at IS NULL` first puts maps without a load time last on
    every database (NEWEST_LOADED_FIRST)."""
    table = sql.table(FlowMap)
    pk, project, status, loaded_at, version_key, version_id = (
        sql.column(FlowMap, name)
        for name in ("id", "project", "status", "loaded_at", "version_key", "version_id")
    )
    return (
        f"SELECT {sql.columns(FlowMap, leave_out=('flows',))} FROM {table}"  # noqa: S608
        f" WHERE {project} = %s AND ("
        f"{version_key} = %s OR ({version_id} = %s AND {status} = %s)"
        f" OR {pk} = (SELECT {pk} FROM {table} WHERE {project} = %s AND {status} = %s"
        f" ORDER BY {loaded_at} IS NULL, {loaded_at} DESC, {pk} DESC LIMIT 1)"
        f") ORDER BY {pk}"
    )


def _rows_for(environment: Environment, version_key: str) -> tuple[FlowMap | None, FlowMap | None]:
    """In one query: the row for `version_key` (its own, else a loaded one of the same real
    versionID) and the project's newest loaded map, which names what it can until that row is
    loaded. Every read of a session passes here."""
    ready, project_id = FlowMap.Status.READY, environment.project_id
    rows = list(
        FlowMap.objects.raw(
            _rows_sql(), [project_id, version_key, version_key, ready, project_id, ready]
        )
    )
    row = next((r for r in rows if r.version_key == version_key), None) or next(
        (r for r in rows if r.version_id == version_key and r.status == FlowMap.Status.READY),
        None,
    )
    # The newest loaded row of the project is among `rows`, so it is the newest of those loaded.
    newest = max(
        (r for r in rows if r.status == FlowMap.Status.READY),
        key=lambda r: (
            r.loaded_at is not None,
            r.loaded_at.timestamp() if r.loaded_at else 0,
            r.pk,
        ),
        default=None,
    )
    return row, newest


def _request(environment: Environment, version_key: str) -> tuple[FlowMap | None, FlowMap | None]:
    """The row for `version_key`, created (and its fetch queued) when there is none, and the
    project's newest loaded map (`_rows_for`)."""
    row, newest = _rows_for(environment, version_key)
    if row is None:
        if not settings.FLOW_MAP_FETCH:
            return None, newest
        try:
            with transaction.atomic():
                row = FlowMap.objects.create(project=environment.project, version_key=version_key)
        except IntegrityError:  # another request created it a moment ago
            row = (
                FlowMap.objects.defer("flows")
                .filter(project_id=environment.project_id, version_key=version_key)
                .first()
            )
            return row, newest
        _queue_fetch(row, environment)
        return row, newest
    if not settings.FLOW_MAP_FETCH or row.source == FlowMap.Source.UPLOAD:
        return row, newest
    now = timezone.now()
    refresh_after = timedelta(minutes=settings.FLOW_MAP_REFRESH_MINUTES)
    stale = row.status == FlowMap.Status.READY and (
        settings.FLOW_MAP_REFRESH_MINUTES and row.requested_at < now - refresh_after
    )
    retry = row.status == FlowMap.Status.FAILED and row.requested_at < now - RETRY_FAILED_AFTER
    if (stale or retry) and _claim(
        row, status=FlowMap.Status.READY if stale else FlowMap.Status.PENDING
    ):
        _queue_fetch(row, environment)
        if retry:
            row.status = FlowMap.Status.PENDING
    return row, newest


def flow_map_for(environment: Environment, state: Any) -> LoadedMap:
    """The map to show `state` with; never calls Voiceflow."""
    version_key = version_key_of(environment, state)
    loaded = LoadedMap(version_key=version_key)
    row, newest = _request(environment, version_key)
    if row is not None:
        loaded.pending = row.status == FlowMap.Status.PENDING
        loaded.error = row.error if row.status == FlowMap.Status.FAILED else ""
    if row is None or row.status != FlowMap.Status.READY:
        # Until this version's map is in, the newest map of the project names what it can.
        row = newest
        loaded.other_version = row is not None
    if row is not None:
        flows = _flows_of(row)
        loaded.row = row
        loaded.flows = flows.get("flows", {})
        loaded.nodes = flows.get("nodes", {})
    return loaded


def store_project_file(
    project_id: int, version_key: str, parsed: ProjectFile, *, source: str, uploaded_by=None
) -> FlowMap:
    """Save a parsed project file as the map of `version_key` (and of its real versionID)."""
    now = timezone.now()
    values = {
        "version_id": parsed.version_id,
        "status": FlowMap.Status.READY,
        "source": source,
        "error": "",
        "flows": parsed.as_map(),
        "flow_count": len(parsed.flows),
        "node_count": len(parsed.nodes),
        "loaded_at": now,
        "uploaded_by": uploaded_by,
    }
    with transaction.atomic():
        row, _ = FlowMap.objects.update_or_create(
            project_id=project_id, version_key=version_key, defaults=values
        )
        if version_key != parsed.version_id:
            FlowMap.objects.update_or_create(
                project_id=project_id, version_key=parsed.version_id, defaults=values
            )
    return row


def flow_maps_of(project) -> list[FlowMap]:
    """A project's maps for its page, newest first, without their (large) content."""
    if project.pk is None:
        return []
    return list(FlowMap.objects.filter(project=project).defer("flows").order_by("-requested_at"))


def request_flow_maps(environments: list[Environment]) -> None:
    """Queue the fetch of each environment's map now (the demo's first start), not at the first
    page that needs it."""
    for environment in environments:
        _request(environment, environment.version_id)


def newest_flow_names(project_id: int) -> dict[str, str]:
    """diagramID → flow name in the project's newest loaded map ({} without one)."""
    row = (
        FlowMap.objects.defer("flows")
        .filter(project_id=project_id, status=FlowMap.Status.READY)
        .order_by(*NEWEST_LOADED_FIRST)
        .first()
    )
    return _flows_of(row).get("flows", {}) if row is not None else {}


def fetch_again(project) -> int:
    """Queue a fetch of the project file of each environment's version now (after a publish);
    returns how many were queued. Pages keep showing the current names meanwhile."""
    if not settings.FLOW_MAP_FETCH:
        return 0
    queued = 0
    for environment in project.environments.all():
        row, created = FlowMap.objects.defer("flows").get_or_create(
            project=project, version_key=environment.version_id
        )
        if not created:
            FlowMap.objects.filter(pk=row.pk).update(
                requested_at=timezone.now(),
                status=FlowMap.Status.READY
                if row.status == FlowMap.Status.READY
                else FlowMap.Status.PENDING,
            )
        _queue_fetch(row, environment)
        queued += 1
    return queued


def loaded_map_of(environment: Environment) -> LoadedMap | None:
    """The names a segment's position conditions are resolved with: the loaded map of the
    environment's version, else the project's newest loaded map; None when none is loaded.
    Never queues a fetch (saving a segment must not wait for, or start, a download)."""
    ready = FlowMap.objects.defer("flows").filter(
        project=environment.project, status=FlowMap.Status.READY
    )
    row = (
        ready.filter(version_key=environment.version_id).first()
        or ready.order_by(*NEWEST_LOADED_FIRST).first()
    )
    if row is None:
        return None
    flows = _flows_of(row)
    return LoadedMap(
        version_key=row.version_key,
        row=row,
        flows=flows.get("flows", {}),
        nodes=flows.get("nodes", {}),
        other_version=row.version_key != environment.version_id,
    )
