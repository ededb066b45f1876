"""JSON as Voiceflow hands it over, stored without loss, shown without surprise, and JSON from
people checked before it goes anywhere.

A conversation state is whatever its end user and its flow put in it. Three kinds of value in it
cannot go into a database column as they are:

- `\\u0000` (NUL) in a string or a key: PostgreSQL's `jsonb` and `text` refuse it ("\\u0000
  cannot be converted to text").
- A lone surrogate (`\\ud800` without its pair): not Unicode text at all, so it cannot be encoded
  as UTF-8 for PostgreSQL, and SQLite's `JSON_VALID` check refuses it.
- `NaN`, `Infinity`, `-Infinity` (and numbers such as `1e400`, which Python reads as infinity):
  not JSON, so both databases refuse them.

`StoredJSONEncoder` / `StoredJSONDecoder` are the pair every JSON column that holds states or
values uses (`models.py`). The encoder writes such a string or number as a marked string (a
Unicode noncharacter, `MARK`, then a kind and an escaped form); the decoder restores it. A string
that itself begins with `MARK` is marked too, so decoding is never ambiguous. The audit trail's
states, which undo and restore write back, use `OrderKeepingJSONEncoder`: an object whose keys
PostgreSQL's `jsonb` would reorder also carries their order.

`check_input` / `parse_input` are the one validator for JSON that people send (the API, pages,
management commands, bulk files): standard JSON only, finite numbers, no lone surrogates, at most
`MAX_DEPTH` levels. NUL characters are accepted: Voiceflow holds them, and they are stored as
above.
"""

import json
import math
import re
from collections.abc import Iterator
from typing import Any

# U+FDD0 is a noncharacter: reserved for a program's internal use, never in text people type.
MARK = "\ufdd0"
_STRING = "s"
_NUMBER = "n"
# The key under which an object keeps its keys' order (never a key of the data: a key that
# begins with MARK is stored marked, `MARK` + `_STRING` + …).
_KEY_ORDER = MARK + "o"
# In a Python string, any surrogate code point is a lone one: json.loads joins valid pairs.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_NEEDS_ESCAPE = re.compile("[\\\\\x00\ud800-\udfff]")
# Nesting levels a value may have, counted from the body or cell that carries it. MongoDB, where
# Voiceflow keeps states, refuses documents nested deeper than 100 levels, and a state wraps
# variables two levels deep; 64 leaves room and keeps every recursive reader far from its limit.
MAX_DEPTH = 64


# ---- storage ----


_ESCAPED = re.compile(r"\\(?:u([0-9a-f]{4})|(0)|(\\))")


def _escape_code_point(match: re.Match) -> str:
    char = match.group()
    return "\\\\" if char == "\\" else "\\0" if char == "\x00" else f"\\u{ord(char):04x}"


def _unescape(match: re.Match) -> str:
    code, nul, _backslash = match.groups()
    return chr(int(code, 16)) if code else "\x00" if nul else "\\"


def _storable_string(text: str) -> str:
    if "\x00" in text or text.startswith(MARK) or _LONE_SURROGATE.search(text):
        # Backslash, NUL and each surrogate escaped one by one (not as JSON, whose decoder would
        # join two lone surrogates that happen to stand side by side into one character).
        return MARK + _STRING + _NEEDS_ESCAPE.sub(_escape_code_point, text)
    return text


def to_storable(value: Any, *, keep_order: bool = False) -> Any:
    """`value` with every string and number a database refuses replaced by its marked form.

    `keep_order`: an object whose keys PostgreSQL's `jsonb` would put in another order also
    carries its keys' order under `_KEY_ORDER`, which `from_storable` follows."""
    if isinstance(value, str):
        return _storable_string(value)
    if isinstance(value, float) and not math.isfinite(value):
        return MARK + _NUMBER + json.dumps(value)
    if isinstance(value, dict):
        stored = {
            _storable_string(key) if isinstance(key, str) else key: to_storable(
                item, keep_order=keep_order
            )
            for key, item in value.items()
        }
        if keep_order:
            keys = [str(key) for key in stored]
            if keys != sorted(keys, key=_jsonb_key_order):
                stored[_KEY_ORDER] = keys
        return stored
    if isinstance(value, list | tuple):
        return [to_storable(item, keep_order=keep_order) for item in value]
    return value


def _jsonb_key_order(key: str) -> tuple[int, bytes]:
    """Where `jsonb` puts a key: shorter keys first, keys of one length by their bytes."""
    encoded = key.encode()
    return len(encoded), encoded


def _restored_string(text: str) -> Any:
    if not text.startswith(MARK):
        return text
    kind, payload = text[1:2], text[2:]
    if kind == _NUMBER:
        return float(payload)
    return _ESCAPED.sub(_unescape, payload)


def from_storable(value: Any) -> Any:
    """The inverse of `to_storable`."""
    if isinstance(value, str):
        return _restored_string(value)
    if isinstance(value, dict):
        order = value.get(_KEY_ORDER)
        if isinstance(order, list):
            # The keys as they came (to_storable's keep_order), then any the list does not name.
            value = {key: value[key] for key in order if key in value} | value
        return {
            _restored_string(key): from_storable(item)
            for key, item in value.items()
            if key != _KEY_ORDER
        }
    if isinstance(value, list):
        return [from_storable(item) for item in value]
    return value


class StoredJSONEncoder(json.JSONEncoder):
    """The `encoder` of JSON model fields: any value Voiceflow can hand over becomes JSON both
    databases accept."""

    def encode(self, o: Any) -> str:
        return super().encode(to_storable(o))


class OrderKeepingJSONEncoder(StoredJSONEncoder):
    """The encoder of the audit trail's states, which undo and restore write back: as
    `StoredJSONEncoder`, and each object keeps its keys' order, which PostgreSQL's `jsonb` does
    not (it orders keys by length, then bytes). SQLite keeps the text as written."""

    def encode(self, o: Any) -> str:
        return json.JSONEncoder.encode(self, to_storable(o, keep_order=True))


class StoredJSONDecoder(json.JSONDecoder):
    """The `decoder` of JSON model fields: gives back exactly what was stored."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        return from_storable(super().decode(s, *args, **kwargs))


def storable_text(text: str) -> str:
    """Text for a plain text column (a search index, an error message): NUL characters and lone
    surrogates become U+FFFD, the replacement character."""
    if "\x00" in text or _LONE_SURROGATE.search(text):
        return _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", "\ufffd"))
    return text


# ---- showing ----


def printable(text: str) -> str:
    """Text a page can show: a lone surrogate as its `\\uXXXX` escape (it cannot be sent as
    UTF-8), a NUL character as `\\u0000` (browsers would drop it)."""
    text = text.replace("\x00", "\\u0000")
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def escape_lone_surrogates(json_text: str) -> str:
    """JSON text with each lone surrogate written as its `\\uXXXX` escape, as JavaScript's
    JSON.stringify writes it: the text can then be encoded as UTF-8, and reads back unchanged.
    (Outside strings JSON text has no surrogates, so each one found is inside a string.)"""
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON text of `value` for a page or a form: readable (not ASCII-escaped), lone
    surrogates escaped."""
    separators = None if indent else (",", ":")
    text = json.dumps(value, indent=indent, ensure_ascii=False, separators=separators)
    return escape_lone_surrogates(text)


def name_to_json(name: str) -> str:
    """A name as a JSON string in ASCII, for a page to send back (`name_from_json`): a form field
    carries neither a NUL character nor a lone surrogate as it is, and `printable` shows a NUL and
    the six characters `\\u0000` alike. Every such character is escaped here, each kind its own
    way (`\\u0000`, `\\\\u0000`). Built for every variable row on every read: json.dumps's
    ASCII default is several times faster than `json_text`."""
    return json.dumps(name)


def name_from_json(text: str) -> str:
    """The name a page sent back as `name_to_json(name)`: exactly the name. Raises ValueError
    when `text` is not one JSON string."""
    name = json.loads(text)
    if not isinstance(name, str):
        raise ValueError("not a JSON string")
    return name


def oddities(value: Any, path: str = "") -> Iterator[str]:
    """What in `value` is unusual enough to mention: where it is and what it is."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield from _string_oddities(where or "the value", item)
        elif isinstance(item, float) and not math.isfinite(item):
            yield f"{where or 'the value'} is {json.dumps(item)}, which is not a JSON number"
        elif isinstance(item, dict):
            for key in reversed(list(item)):
                inner = f"{where}.{printable(str(key))}" if where else printable(str(key))
                yield from _string_oddities(f"the name {inner}", str(key))
                stack.append((inner, item[key]))
        elif isinstance(item, list):
            for position in reversed(range(len(item))):
                stack.append((f"{where}[{position}]", item[position]))


def _string_oddities(where: str, text: str) -> Iterator[str]:
    if "\x00" in text:
        yield f"{where} contains a NUL character (shown as \\u0000)"
    surrogate = _LONE_SURROGATE.search(text)
    if surrogate:
        yield (
            f"{where} contains a lone surrogate (shown as \\u{ord(surrogate.group()):04x}), "
            "which is not Unicode text"
        )


def as_javascript_would(value: Any) -> Any:
    """`value` with NaN and Infinity as null, as JavaScript's JSON.stringify writes them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: as_javascript_would(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_javascript_would(item) for item in value]
    return value


# ---- input from people ----


class UnsafeJSON(ValueError):
    """JSON that is not standard or that Voiceflow cannot hold; the message names the problem
    and where it is."""


def _refuse_constant(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not standard JSON; use a number or null")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise UnsafeJSON(
            f"the number {text[:40]} is too large for Voiceflow (at most about 1.8e308)"
        )
    return number


def _finite_int(text: str) -> int:
    # Beyond a finite double Voiceflow (JavaScript) reads infinity; the length is checked first
    # because Python refuses to convert integers of more than 4,300 digits at all.
    if len(text.lstrip("-")) > 309 or not math.isfinite(float(text)):
        raise UnsafeJSON(
            f"the number {text[:40]}… is too large for Voiceflow (at most about 1.8e308)"
        )
    return int(text)


# A whole string (escapes included) or one bracket: strings are skipped, brackets counted.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _nesting_depth_over(text: str, limit: int) -> bool:
    """Whether JSON text nests deeper than `limit`, found without parsing (a parser would
    recurse that deep)."""
    depth = 0
    for match in _STRUCTURE.finditer(text):
        found = match.group()
        if found in "[{":
            depth += 1
            if depth > limit:
                return True
        elif found in "]}":
            depth -= 1
    return False


def parse_input(text: str, what: str = "The JSON") -> Any:
    """Parse JSON from a person and check it (`check_input`). Refused values raise UnsafeJSON
    naming the problem; text that is not JSON at all raises json.JSONDecodeError, which callers
    word with its line and column as they always have."""
    if _nesting_depth_over(text, MAX_DEPTH):
        raise UnsafeJSON(f"{what} is nested more than {MAX_DEPTH} levels deep.")
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_finite_int,
        )
    except UnsafeJSON as error:
        raise UnsafeJSON(f"{what} is refused: {error}.") from None
    return check_input(value, what)


def check_input(value: Any, what: str = "The JSON") -> Any:
    """Refuse a value Voiceflow cannot hold: nested more than MAX_DEPTH levels, a number that
    is not finite, a lone surrogate in a string or a name. Returns the value."""
    stack = [("", value, 0)]
    while stack:
        where, item, depth = stack.pop()
        place = f" at {where}" if where else ""
        if isinstance(item, dict | list) and depth >= MAX_DEPTH:
            raise UnsafeJSON(f"{what} is nested more than {MAX_DEPTH} levels deep{place}.")
        if isinstance(item, float) and not math.isfinite(item):
            raise UnsafeJSON(
                f"{what} holds {json.dumps(item)}{place}, which is not a JSON number; "
                "use a number or null."
            )
        if isinstance(item, str) and _LONE_SURROGATE.search(item):
            raise UnsafeJSON(
                f"{what} holds a lone surrogate{place} (half of a UTF-16 pair), which is not "
                "text Voiceflow can store."
            )
        if isinstance(item, dict):
            for key, member in item.items():
                inner = f"{where}.{printable(str(key))}" if where else printable(str(key))
                if _LONE_SURROGATE.search(str(key)):
                    raise UnsafeJSON(
                        f"{what} has a name with a lone surrogate ({inner}), which is not "
                        "text Voiceflow can store."
                    )
                stack.append((inner, member, depth + 1))
        elif isinstance(item, list | tuple):
            for position, member in enumerate(item):
                stack.append((f"{where}[{position}]", member, depth + 1))
    return value
