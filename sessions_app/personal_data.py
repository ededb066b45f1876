"""Personal data in conversation state: the values of the variables named in
PERSONAL_DATA_VARIABLES are hidden from roles without `see_personal_data` (Ops and Admin have it).

Masking happens where a value is read for showing (pages, downloads, API answers), never where
it is stored or sent: fingerprints (ETags, `based_on`) are computed on the real state, so a
masked reader can still make a conflict-checked write. A role that may edit variables may set a
masked variable (a customer dictates a corrected phone number) without ever seeing its value.

A name is masked wherever it appears as a key: the top-level variables, a stack frame's
variables, storage, an audit row's request, a known session's snapshot.
"""

import re
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

MASK = "•••• (hidden)"
PERMISSION = "sessions_app.see_personal_data"


def may_see(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.has_perm(PERMISSION)


def _masked(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            key: MASK if isinstance(key, str) and key.lower() in names else _masked(item, names)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item, names) for item in value]
    return value


def mask_state(state: Any, user: AbstractBaseUser | AnonymousUser) -> Any:
    """A copy of `state` (or any JSON) with the personal-data values hidden from `user`;
    `state` itself when `user` may see them or nothing is configured."""
    names = frozenset(settings.PERSONAL_DATA_VARIABLES)
    if state is None or not names or may_see(user):
        return state
    return _masked(state, names)


def mask_entry(entry, user: AbstractBaseUser | AnonymousUser):
    """The audit entry with its recorded states and request masked for showing to `user`.

    Changes the in-memory object only; it is for display and is never saved.
    """
    if may_see(user):
        return entry
    entry.state_before = mask_state(entry.state_before, user)
    entry.state_after = mask_state(entry.state_after, user)
    entry.request_sent = mask_state(entry.request_sent, user)
    return entry


def exclude_hidden_matches(sessions, needle: str, user: AbstractBaseUser | AnonymousUser):
    """Known sessions matching a value search only outside the hidden variables, for a reader
    who may not see them: otherwise searching for `alice@` would reveal whose email it is.

    Works on `KnownSession.search_text`, one lower-cased `name=value` line per variable.
    """
    names = settings.PERSONAL_DATA_VARIABLES
    if not needle or not names or may_see(user):
        return sessions
    hidden = "|".join(re.escape(name) for name in names)
    return sessions.filter(
        search_text__regex=rf"(^|\n)(?!({hidden})=)[^\n]*{re.escape(needle.lower())}"
    )


def is_mask(value: Any) -> bool:
    """Whether a submitted value is the mask itself, sent back from a form unchanged."""
    return value == MASK
