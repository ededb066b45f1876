"""Variable values with an explicit type, so the number 5 stays a number and "5" stays a string."""

import json
import math
from typing import Any

from ..stored_json import UnsafeJSON, json_text, parse_input, printable

TYPE_CHOICES = [
    ("string", "Text (string)"),
    ("number", "Number"),
    ("boolean", "True / false (boolean)"),
    ("null", "Empty (null)"),
    ("object", "JSON object"),
    ("list", "JSON list"),
]


class TypedValueError(ValueError):
    """A value that does not match the type the operator chose; the message says why."""


def type_name(value: Any) -> str:
    """The type of a JSON value in the words the inspector uses."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _described(value: Any) -> str:
    kind = type_name(value)
    return {"null": "null", "boolean": "true/false", "object": "an object", "list": "a list"}.get(
        kind, f"a {kind}"
    )


def json_error_message(error: json.JSONDecodeError) -> str:
    return f"Line {error.lineno}, column {error.colno}: {error.msg}."


def parse_typed_value(kind: str, text: str) -> Any:
    """The value `text` means under the type `kind`; raises TypedValueError with a message."""
    if kind == "string":
        return text
    if kind == "null":
        if text.strip() not in ("", "null"):
            raise TypedValueError("An empty (null) value takes no text; clear the value field.")
        return None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise TypedValueError("A true/false value must be true or false.")
        return lowered == "true"
    if kind == "number":
        stripped = text.strip()
        try:
            number = json.loads(stripped)
        except json.JSONDecodeError:
            number = None
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
        ):
            raise TypedValueError(
                f"{stripped or 'An empty value'!r} is not a number (e.g. 5, -2.5, 1e3)."
            )
        return number
    if kind in ("object", "list"):
        try:
            parsed = parse_input(text, "The value")
        except UnsafeJSON as error:
            raise TypedValueError(str(error)) from error
        except json.JSONDecodeError as error:
            raise TypedValueError(f"Not valid JSON. {json_error_message(error)}") from error
        expected = dict if kind == "object" else list
        if not isinstance(parsed, expected):
            wanted = "object ({…})" if kind == "object" else "list ([…])"
            raise TypedValueError(f"Expected a JSON {wanted}, got {_described(parsed)}.")
        return parsed
    raise TypedValueError(f"Unknown type {kind!r}.")


def editable_text(value: Any) -> str:
    """The text that, with the value's type, gives back the same value in the edit form."""
    kind = type_name(value)
    if kind == "string":
        return printable(value)
    if kind == "null":
        return ""
    if kind in ("object", "list"):
        return json_text(value, indent=2)
    return json.dumps(value)


def describe_value(value: Any) -> str:
    """The value in a few words, for messages and the audit of what an operator asked for."""
    kind = type_name(value)
    if kind == "string":
        shown = printable(value if len(value) <= 60 else value[:60] + "…")
        return f"the text “{shown}”"
    if kind == "number":
        return f"the number {json.dumps(value)}"
    if kind in ("boolean", "null"):
        return json.dumps(value)
    size = len(value)
    if kind == "object":
        return f"an object with {size} key{'' if size == 1 else 's'}"
    return f"a list of {size} item{'' if size == 1 else 's'}"
