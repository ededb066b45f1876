"""The states an operator was last shown, kept per login session (in SeenState, not in the
session itself).

An edit form carries only the fingerprint of the state it was based on; when the write is refused
because the conversation moved, the conflict page shows what changed between the state the operator
saw and the state now, and watch mode highlights what changed between two reads. Both need the
earlier state, which is looked up here by fingerprint.

A read of an unchanged conversation writes nothing: the state is kept once per fingerprint.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from .. import sql
from ..actions import fingerprint
from ..models import Environment, SeenState

STATES_PER_SESSION = 3
CONVERSATIONS_KEPT = 12
# Larger states are not kept; the pages then say the earlier state is not available instead of
# showing a difference.
MAX_STATE_CHARS = 200_000


def _conversation_key(environment: Environment, user_id: str) -> str:
    # A digest, so that any userID the product takes (up to 2,600 bytes) fits the indexed column.
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{environment.pk}:{digest}"


def _session_key(request: HttpRequest) -> str | None:
    session = getattr(request, "session", None)
    if session is None:
        return None
    if session.session_key is None:
        session.save()  # a signed-in operator has one; an anonymous test client may not yet
    return session.session_key


def remember_seen(request: HttpRequest, environment: Environment, user_id: str, state: dict) -> str:
    """Keep `state` as shown to this operator; returns its fingerprint."""
    state_fingerprint = fingerprint(state)
    session_key = _session_key(request)
    if session_key is None or len(json.dumps(state, ensure_ascii=False)) > MAX_STATE_CHARS:
        return state_fingerprint
    conversation = _conversation_key(environment, user_id)
    with connection.cursor() as cursor:
        cursor.execute(_kept_sql(), [session_key, conversation, state_fingerprint])
        if cursor.fetchone() is not None:
            return state_fingerprint
    try:
        with transaction.atomic():
            SeenState.objects.create(
                session_key=session_key,
                conversation=conversation,
                fingerprint=state_fingerprint,
                state=state,
            )
            _forget_old(session_key, conversation)
    except IntegrityError:
        pass  # the same state kept by a parallel request of the same operator
    return state_fingerprint


@functools.cache
def _kept_sql() -> str:
    """Whether this login keeps this state of this conversation already: the check of every read,
    with a query written once (the ORM built it for several times its run)."""
    kept = sql.matching(SeenState, "session_key", "conversation", "fingerprint")
    return f"SELECT 1 FROM {sql.table(SeenState)} WHERE {kept} LIMIT 1"  # noqa: S608


def _forget_old(session_key: str, conversation: str) -> None:
    mine = SeenState.objects.filter(session_key=session_key)
    older = mine.filter(conversation=conversation).order_by("-seen_at", "-pk")
    older.filter(pk__in=list(older.values_list("pk", flat=True)[STATES_PER_SESSION:])).delete()
    recent = list(mine.order_by("-seen_at", "-pk").values_list("conversation", flat=True)[:200])
    kept = list(dict.fromkeys(recent))[:CONVERSATIONS_KEPT]
    if len(dict.fromkeys(recent)) > CONVERSATIONS_KEPT:
        mine.exclude(conversation__in=kept).delete()
    # States of sessions that ended long ago.
    SeenState.objects.filter(
        seen_at__lt=timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    ).delete()


def seen_state(
    request: HttpRequest, environment: Environment, user_id: str, state_fingerprint: str
) -> dict | None:
    """The state with this fingerprint as this operator was shown it, if still kept."""
    session_key = _session_key(request)
    if session_key is None:
        return None
    found = (
        SeenState.objects.filter(
            session_key=session_key,
            conversation=_conversation_key(environment, user_id),
            fingerprint=state_fingerprint,
        )
        .values_list("state", flat=True)
        .first()
    )
    return found
