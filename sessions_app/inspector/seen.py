"""The states an operator was last shown, kept in their session.

An edit form carries only the fingerprint of the state it was based on; when the write is refused
because the conversation moved, the conflict page shows what changed between the state the operator
saw and the state now, and watch mode highlights what changed between two reads. Both need the
earlier state, which is looked up here by fingerprint.
"""

import json

from django.http import HttpRequest

from ..actions import fingerprint
from ..models import Environment

SESSION_KEY = "inspector_seen_states"
STATES_PER_SESSION = 3
CONVERSATIONS_KEPT = 12
# Larger states are not kept (the Django session is stored on every request that changes it);
# the pages then say the earlier state is not available instead of showing a difference.
MAX_STATE_CHARS = 200_000


def _conversation_key(environment: Environment, user_id: str) -> str:
    return f"{environment.pk}:{user_id}"


def remember_seen(request: HttpRequest, environment: Environment, user_id: str, state: dict) -> str:
    """Keep `state` as shown to this operator; returns its fingerprint."""
    state_fingerprint = fingerprint(state)
    if len(json.dumps(state, ensure_ascii=False)) > MAX_STATE_CHARS:
        return state_fingerprint
    store: dict = request.session.get(SESSION_KEY, {})
    key = _conversation_key(environment, user_id)
    kept = [pair for pair in store.pop(key, []) if pair[0] != state_fingerprint]
    store[key] = [*kept, [state_fingerprint, state]][-STATES_PER_SESSION:]
    while len(store) > CONVERSATIONS_KEPT:
        store.pop(next(iter(store)))
    request.session[SESSION_KEY] = store
    return state_fingerprint


def seen_state(
    request: HttpRequest, environment: Environment, user_id: str, state_fingerprint: str
) -> dict | None:
    """The state with this fingerprint as this operator was shown it, if still kept."""
    store: dict = request.session.get(SESSION_KEY, {})
    for kept_fingerprint, state in store.get(_conversation_key(environment, user_id), []):
        if kept_fingerprint == state_fingerprint:
            return state
    return None
