"""The index of userIDs the dashboard has seen, since Voiceflow's state API cannot list users."""

import functools
import json
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from . import sql
from .inspector.display import flow_frames
from .models import Environment, KnownSession
from .segments.conditions import index_fields
from .stored_json import storable_text

SNAPSHOT_MAX_VARIABLES = 40
SNAPSHOT_MAX_VALUE_CHARS = 200


def _snapshot(variables: dict) -> dict:
    """A bounded copy of the variables: long values cut, so the index stays small."""
    snapshot = {}
    for name in list(variables)[:SNAPSHOT_MAX_VARIABLES]:
        value = variables[name]
        if isinstance(value, str | int | float | bool) or value is None:
            if isinstance(value, str) and len(value) > SNAPSHOT_MAX_VALUE_CHARS:
                value = value[:SNAPSHOT_MAX_VALUE_CHARS] + "…"
            snapshot[name] = value
        else:
            text = json.dumps(value, ensure_ascii=False)
            snapshot[name] = text[:SNAPSHOT_MAX_VALUE_CHARS] + (
                "…" if len(text) > SNAPSHOT_MAX_VALUE_CHARS else ""
            )
    return snapshot


def _search_text(snapshot: dict) -> str:
    text = "\n".join(
        f"{name}={value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for name, value in snapshot.items()
    ).lower()
    return storable_text(text)


def note_session(
    environment: Environment, user_id: str, state: dict | None, *, origin: str = "inspected"
) -> KnownSession:
    """Record that a userID was seen with this state (called on every read and write)."""
    state = state or {}
    stack = flow_frames(state.get("stack"))  # the runtime's base frame is no flow
    snapshot = _snapshot(state.get("variables") or {})
    current = stack[-1] if stack and isinstance(stack[-1], dict) else {}
    defaults = {
        "has_state": bool(state),
        "last_seen_at": timezone.now(),
        "variables_snapshot": snapshot,
        "search_text": _search_text(snapshot),
        "stack_depth": len(stack),
        "current_flow": storable_text(
            str(current.get("name") or current.get("diagramID") or "")[:200]
        ),
        "state_pending": False,
        **index_fields(state),
    }
    known = next(iter(KnownSession.objects.raw(_known_sql(), [environment.pk, user_id])), None)
    if known is not None and _unchanged(known, defaults):
        # Every read passes here: an unchanged session needs no write transaction, only an
        # occasional one to keep "last seen" (the list's order) within a minute of the truth.
        return known
    known, _ = KnownSession.objects.update_or_create(
        environment=environment,
        user_id=user_id,
        defaults=defaults,
        create_defaults={**defaults, "origin": origin},
    )
    return known


@functools.cache
def _known_sql() -> str:
    """The row of one userID in one environment (unique_known_session), looked up by every read:
    with a query written once (the ORM built it for about its run again)."""
    return (
        f"SELECT {sql.columns(KnownSession)} FROM {sql.table(KnownSession)}"  # noqa: S608
        f" WHERE {sql.matching(KnownSession, 'environment', 'user_id')}"
    )


LAST_SEEN_PRECISION = timedelta(minutes=1)


def _unchanged(known: KnownSession, defaults: dict) -> bool:
    if known.last_seen_at < defaults["last_seen_at"] - LAST_SEEN_PRECISION:
        return False
    return all(
        getattr(known, name) == value for name, value in defaults.items() if name != "last_seen_at"
    )


def search_known_sessions(
    environment: Environment, *, user_id_prefix: str = "", variable_value: str = ""
) -> QuerySet[KnownSession]:
    sessions = KnownSession.objects.filter(environment=environment)
    if user_id_prefix:
        # Ignoring case finds what support staff type from a ticket on SQLite and PostgreSQL
        # alike (SQLite's LIKE ignores ASCII case whatever the lookup); the results show the
        # exact userIDs.
        # lower(user_id) LIKE 'prefix%' is answered by an index range on PostgreSQL (migration
        # 0015: an expression index with varchar_pattern_ops), where UPPER(...) LIKE UPPER(...)
        # of istartswith read the whole environment.
        sessions = sessions.alias(user_id_lower=Lower("user_id")).filter(
            user_id_lower__startswith=user_id_prefix.lower()
        )
    if variable_value:
        needle = variable_value.lower()
        sessions = sessions.filter(Q(search_text__contains=needle))
    return sessions
