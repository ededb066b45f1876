"""Personal data in conversation state, hidden from roles without `see_personal_data` (Ops and
Admin have it). Every surface that shows a value, a state, a userID or a transcript's words asks
this module.

Two rules, both case-insensitive:

- By name: the value of a variable (any key, anywhere in a state: top-level variables, a stack
  frame's variables, storage, an audit row's request, a known session's snapshot) whose name
  matches one of the PERSONAL_DATA_VARIABLES patterns (shell-style, `*address*`, `customer_*`,
  `email`) is replaced by MASK, nested objects and lists included.
- By shape: a string that contains something looking like an email address or a phone number is
  replaced by MASK wherever it is, whatever its variable is called; a userID of that shape is
  shown partly (`m•••@example.com`, `•••••23`) so that lists stay readable.

A transcript's turns have no names to go by: their words are hidden whole (`mask_turns`). The
console's answers (`mask_traces`) are hidden text by text: a text holding something of personal
shape, or a value the rules above hide in the conversation's state, is hidden whole.

Masking happens where a value is read for showing (pages, downloads, API answers, Django admin),
never where it is stored or sent: fingerprints (ETags, `based_on`) are computed on the real state
(keyed, so they cannot be used to check a guess), so a masked reader can still make a
conflict-checked write. A role that may edit variables may set a masked variable (a customer
dictates a corrected phone number) without ever seeing its value.

Searches must not find what is masked: a value search looks past masked lines, and a userID
search finds a userID of personal shape only when typed in full (docs/security.md).
"""

import json
import re
from contextlib import suppress
from dataclasses import replace
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

MASK = "•••• (hidden)"
MASK_MARK = "•••"
PERMISSION = "sessions_app.see_personal_data"

# Bounded repetitions keep a search linear in the text's length (a variable may hold a megabyte).
EMAIL = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}\.\w{2,24}")
# A phone number: 7 to 15 digits (E.164's maximum) with the usual separators, optionally after
# `+` or `00`, not glued to letters, dots or slashes (so UUIDs, hex ids, versions, paths and
# decimal numbers are left alone).
PHONE = re.compile(r"(?<![\w./-])(?:\+|00)?\(?\d[\d ().-]{5,20}\d(?![\w/-]|\.\d)")
# Dates and IPv4 addresses have a phone number's digits; they are not one.
DATE_OR_ADDRESS = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3}"
)
# The same shapes for the database (SQLite's REGEXP and PostgreSQL's `~` both understand them),
# broader rather than narrower: a `name=value` line holding an `@`, a `+digit` or a long run of
# digits and separators is not searched (dates included); a userID holding an `@` or `+digits`,
# or made of phone characters only, is found only when typed in full.
_PERSONAL_LINE_SQL = r"@|\+[0-9]|[0-9][0-9 ().-]{6,}[0-9]"
_PERSONAL_USER_ID_SQL = r"@|^(\+|00)?[0-9 ().-]{7,}$|\+[0-9]{6,}"


def may_see(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.has_perm(PERMISSION)


# ---- what counts as personal ----


@lru_cache(maxsize=16)
def _patterns(configured: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(pattern.strip().lower() for pattern in configured if pattern.strip())


def personal_name_patterns() -> tuple[str, ...]:
    return _patterns(tuple(settings.PERSONAL_DATA_VARIABLES))


def is_personal_name(name: Any) -> bool:
    """Whether a variable (or key) of this name holds personal data, by PERSONAL_DATA_VARIABLES."""
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return any(fnmatchcase(lowered, pattern) for pattern in personal_name_patterns())


def _phone_numbers(text: str) -> list[re.Match]:
    found = []
    for match in PHONE.finditer(text):
        candidate = match.group()
        digits = sum(character.isdigit() for character in candidate)
        if 7 <= digits <= 15 and not DATE_OR_ADDRESS.fullmatch(candidate):
            found.append(match)
    return found


def looks_personal(text: Any) -> bool:
    """Whether a string contains something shaped like an email address or a phone number."""
    if not isinstance(text, str):
        return False
    return bool(("@" in text and EMAIL.search(text)) or _phone_numbers(text))


# ---- masking ----


def _column_name(column: str) -> str:
    """`email:string` (a typed CSV header) names the variable `email`."""
    return column.split(":", 1)[0]


def _masked_json_text(text: str) -> str:
    """A value stored as JSON text (the known-sessions snapshot keeps nested values so, possibly
    cut short): masked inside; wholly masked when cut short and a personal name appears."""
    try:
        parsed = json.loads(text)
    except ValueError:
        keys = re.findall(r'"((?:[^"\\]|\\.)*)"\s*:', text)
        personal = looks_personal(text) or any(is_personal_name(key) for key in keys)
        return MASK if personal else text
    masked = _masked(parsed)
    return text if masked == parsed else json.dumps(masked, ensure_ascii=False)


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: MASK if is_personal_name(key) else _masked(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item) for item in value]
    if isinstance(value, str):
        if value[:1] in ("{", "["):
            return _masked_json_text(value)
        if looks_personal(value):
            return MASK
    return value


def mask_state(state: Any, user: AbstractBaseUser | AnonymousUser) -> Any:
    """A copy of `state` (or any JSON) with the personal data hidden from `user`; `state`
    itself when `user` may see it."""
    if state is None or may_see(user):
        return state
    return _masked(state)


def mask_value(name: str, value: Any, user: AbstractBaseUser | AnonymousUser) -> Any:
    """One variable's value as `user` may see it."""
    if may_see(user):
        return value
    return MASK if is_personal_name(name) else _masked(value)


def _partly_masked_email(match: re.Match) -> str:
    local, _, domain = match.group().partition("@")
    return f"{local[:1]}{MASK_MARK}@{domain}"


def _partly_masked_phone(text: str) -> str:
    for match in reversed(_phone_numbers(text)):
        digits = [character for character in match.group() if character.isdigit()]
        shown = "•" * (len(digits) - 2) + "".join(digits[-2:])
        text = text[: match.start()] + shown + text[match.end() :]
    return text


def shown_user_id(user_id: str, user: AbstractBaseUser | AnonymousUser) -> str:
    """A userID as `user` may see it: an email or phone number in it partly hidden, enough to
    tell rows apart (`m•••@example.com`, `whatsapp:••••••00`), not to contact anyone."""
    if may_see(user) or not isinstance(user_id, str):
        return user_id
    return _partly_masked_phone(EMAIL.sub(_partly_masked_email, user_id))


def mask_entry(entry, user: AbstractBaseUser | AnonymousUser):
    """The audit entry with its recorded states, request and userID masked for showing to
    `user`. Changes the in-memory object only; it is for display and is never saved."""
    if may_see(user):
        return entry
    entry.state_before = mask_state(entry.state_before, user)
    entry.state_after = mask_state(entry.state_after, user)
    entry.request_sent = mask_state(entry.request_sent, user)
    entry.user_id = shown_user_id(entry.user_id, user)
    entry.error = MASK if looks_personal(entry.error) else entry.error
    return entry


def mask_turns(turns: list, user: AbstractBaseUser | AnonymousUser) -> list:
    """A conversation's turns from the transcripts (`flows.turns.Turn`) for `user`: the words
    of every turn (what the user typed or clicked, what the agent said or offered) wholly hidden,
    who spoke, when and the kind of turn kept. `turns` itself when `user` may see them.

    Not by name or shape as in a state: a transcript has no names, and free text carries what no
    shape gives away (a name, a street), including what a variable hidden by name holds (the
    user typed it; the agent may say it back)."""
    if may_see(user):
        return turns
    return [
        replace(turn, text=MASK if turn.text else "", options=[MASK] * len(turn.options))
        if turn.said
        else turn
        for turn in turns
    ]


# ---- what the agent answers ----

# A hidden value shorter than this (`no`, `42`) is too common a word or number to give anything
# away, and looking for it would hide half of what the agent says.
SAID_VALUE_MIN_LENGTH = 3
# Which kind of trace or request a dict is (`text`, `path-…`): Voiceflow's vocabulary, never the
# agent's words; kept so that a masked answer is still drawn as its kind, and a button still sends.
_ANSWER_KIND_KEY = "type"


def _hidden_values(value: Any, found: set[str], *, by_name: bool = False) -> None:
    """Adds to `found` (lower-cased) each value in `value` that `mask_state` hides."""
    if isinstance(value, dict):
        for key, item in value.items():
            _hidden_values(item, found, by_name=by_name or is_personal_name(key))
    elif isinstance(value, list):
        for item in value:
            _hidden_values(item, found, by_name=by_name)
    elif isinstance(value, str):
        if value[:1] in ("{", "["):
            with suppress(ValueError):
                _hidden_values(json.loads(value), found, by_name=by_name)
        if by_name or _masked(value) == MASK:
            found.add(value.strip().lower())
    elif isinstance(value, int | float) and not isinstance(value, bool) and by_name:
        found.add(str(value))


class AnswerMask:
    """What one viewer may read of the agent's answers in one conversation (the console's
    traces, streamed text included): everything, or, without `see_personal_data`, each text
    masked whole when it contains an email address or a phone number, or a value that
    `mask_state` hides in `states` (a customer's name the agent says back has no shape).

    Built once per turn: the states are walked once, then every text is checked against them.
    """

    def __init__(self, viewer: AbstractBaseUser | AnonymousUser, states: tuple[Any, ...]):
        self.shows_all = may_see(viewer)
        found: set[str] = set()
        if not self.shows_all:
            for state in states:
                _hidden_values(state, found)
        self.hidden_values = {value for value in found if len(value) >= SAID_VALUE_MIN_LENGTH}

    def text(self, text: str) -> str:
        if self.shows_all or not isinstance(text, str):
            return text
        lowered = text.lower()
        hidden = looks_personal(text) or any(value in lowered for value in self.hidden_values)
        return MASK if hidden else text

    def _masked_item(self, key: str, item: Any) -> Any:
        if key == _ANSWER_KIND_KEY:
            return item
        return MASK if is_personal_name(key) else self._masked(item)

    def _masked(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self._masked_item(key, item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._masked(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return MASK if str(value) in self.hidden_values else value
        return value

    def trace(self, trace: Any) -> Any:
        """A copy of one trace with every text in it (payload, button requests) masked."""
        return trace if self.shows_all else self._masked(trace)


def mask_traces(
    traces: list, viewer: AbstractBaseUser | AnonymousUser, states: tuple[Any, ...]
) -> list:
    """The traces of a console turn as `viewer` may read them, `states` being the states the
    turn ran on and ended in (see AnswerMask); `traces` itself when `viewer` may see them."""
    mask = AnswerMask(viewer, states)
    return traces if mask.shows_all else [mask.trace(trace) for trace in traces]


def mask_known_session(known, user: AbstractBaseUser | AnonymousUser):
    """A known session for display (never saved): snapshot, search text and userID masked."""
    if may_see(user):
        return known
    known.variables_snapshot = mask_state(known.variables_snapshot, user)
    known.search_text = ""
    known.variables_index = _masked_paths(known.variables_index)
    known.variables_numbers = _masked_paths(known.variables_numbers)
    known.user_id = shown_user_id(known.user_id, user)
    return known


def _masked_paths(values: Any) -> Any:
    """Values keyed by dotted path (`profile.email`): masked where any part of the path is a
    personal name, or the value looks personal."""
    if not isinstance(values, dict):
        return values
    return {
        path: MASK
        if any(is_personal_name(part) for part in str(path).split("."))
        else _masked(value)
        for path, value in values.items()
    }


def mask_validation_report(report: dict | None, user: AbstractBaseUser | AnonymousUser):
    """A bulk job's validation report (problems name line, column and value) for `user`."""
    if not report or may_see(user):
        return report
    problems = []
    for problem in report.get("problems") or []:
        problem = dict(problem)
        if _personal_cell(str(problem.get("column") or ""), problem.get("value")):
            problem["value"] = MASK
        problem["message"] = MASK if looks_personal(problem.get("message")) else problem["message"]
        problems.append(problem)
    return {**report, "problems": problems}


def _personal_cell(column: str, value: Any) -> bool:
    """A cell of a job's input: personal by its column's name or by its value's shape."""
    return is_personal_name(_column_name(column)) or looks_personal(value)


def mask_rejected_rows(rows, user: AbstractBaseUser | AnonymousUser) -> list:
    """A job's rows refused at upload (`BulkRejectedRow`: userID, column, value, reason) for
    `user`, by the validation report's rule."""
    rows = list(rows)
    if may_see(user):
        return rows
    for row in rows:
        row.user_id = shown_user_id(row.user_id, user)
        if _personal_cell(row.column, row.value):
            row.value = MASK
        if looks_personal(row.reason):
            row.reason = MASK
    return rows


def mask_diffs(diffs: list[dict], user: AbstractBaseUser | AnonymousUser) -> list[dict]:
    """A dry run's changes (`{"user_id", "changes": [{"name", "before", "after"}]}`) for `user`."""
    if may_see(user):
        return diffs
    for diff in diffs:
        if "user_id" in diff:
            diff["user_id"] = shown_user_id(diff["user_id"], user)
        for change in diff.get("changes", []):
            change["before"] = mask_value(change["name"], change.get("before"), user)
            change["after"] = mask_value(change["name"], change.get("after"), user)
    return diffs


# ---- searching without finding what is masked ----


def _name_pattern_sql(pattern: str) -> str:
    """A shell-style name pattern as a regex over one `name=value` line's name."""
    translated = []
    for character in pattern:
        if character == "*":
            translated.append("[^=\n]*")
        elif character == "?":
            translated.append("[^=\n]")
        else:
            translated.append(re.escape(character))
    return "".join(translated)


def exclude_hidden_matches(sessions: QuerySet, needle: str, user) -> QuerySet:
    """Known sessions matching a value search only in lines `user` may see: not in a personal
    variable, nor in a value of personal shape (otherwise searching for `alice@` would reveal
    whose email it is).

    Works on `KnownSession.search_text`, one lower-cased `name=value` line per variable.
    """
    if not needle or may_see(user):
        return sessions
    hidden = "|".join(_name_pattern_sql(pattern) for pattern in personal_name_patterns())
    not_hidden_name = f"(?!({hidden})=)" if hidden else ""
    return sessions.filter(
        search_text__regex=(
            rf"(^|\n){not_hidden_name}(?![^\n]*({_PERSONAL_LINE_SQL}))"
            rf"[^\n]*{re.escape(needle.lower())}"
        )
    )


def exclude_hidden_user_ids(sessions: QuerySet, typed: str, user) -> QuerySet:
    """A userID search for `user`: a userID of personal shape is found only when typed in full
    (a support agent with the ticket finds it; nobody can spell one out prefix by prefix)."""
    if not typed or may_see(user):
        return sessions
    return sessions.filter(~Q(user_id__regex=_PERSONAL_USER_ID_SQL) | Q(user_id__iexact=typed))


def is_mask(value: Any) -> bool:
    """Whether a submitted value is (or holds) the mask, sent back from a form unchanged."""
    return isinstance(value, str) and (value == MASK or MASK_MARK in value)
