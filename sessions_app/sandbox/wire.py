"""What travels between the HTTP handler and the routes: requests, responses, event streams, and
the runtime's three error envelopes (voiceflow-api.md §7.1 item 2).
"""

import html
import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    method: str
    raw_path: str
    query: dict[str, str]
    headers: Message
    raw_body: bytes = b""
    # Set by parse_body: the JSON body, or None when there was none or it was not JSON.
    body: Any = None

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if value else None

    def json_object(self) -> Any:
        """The body as the runtime's validators see it: a missing body is `{}` (body-parser)."""
        return {} if self.body is None else self.body


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class EventStream:
    """A server-sent event stream: (event name, JSON data) pairs, written as they are produced."""

    events: Iterator[tuple[str, Any]]
    headers: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    """Raised by a route to answer at once with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def to_json(value: Any) -> bytes:
    # Compact like Express's res.json (JSON.stringify without spaces).
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except ValueError:
        # What JSON.stringify does with values a state may hold but JSON cannot: NaN and
        # Infinity become null, a lone surrogate is written as its \uXXXX escape.
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))
        return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text).encode()


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def json_response(status: int, value: Any) -> Response:
    return Response(status, to_json(value))


def iso_time(epoch_s: float) -> str:
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def coded_error(status: int, data: str) -> Response:
    """The envelope of errors thrown inside handlers (401, 404, 429, 500)."""
    now = time.time()
    return json_response(
        status,
        {
            "code": status,
            "status": status_phrase(status),
            "dateTime": iso_time(now),
            "timestamp": int(now * 1000),
            "data": data,
        },
    )


def named_error(status: int, name: str, message: str) -> Response:
    """The envelope of errors passed to the error handler: verror, SyntaxError, PayloadTooLarge."""
    return json_response(status, {"name": name, "message": message, "requestID": str(uuid.uuid4())})


def validation_error(field_name: str, message: str) -> Response:
    """The request-validation envelope; body-schema failures are reported under the key ""."""
    return json_response(400, {"errors": {field_name: {"message": message}}})


def html_not_found(method: str, raw_path: str) -> Response:
    """Express's default 404 page: unknown routes and wrong methods are not JSON (§9)."""
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
        f"</head>\n<body>\n<pre>Cannot {method} {html.escape(raw_path)}</pre>\n</body>\n</html>\n"
    )
    return Response(
        404,
        page.encode(),
        "text/html; charset=utf-8",
        {"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"},
    )


def is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Unexpected token {name[0]} in JSON")


def _syntax_error(message: str) -> Refused:
    return Refused(named_error(400, "SyntaxError", message))


def parse_body(request: Request) -> None:
    """Express's body-parser json(): only application/json bodies are read, anything else is
    ignored (§9); strict mode refuses a top-level value that is not an object or array."""
    if not is_json(request.header("content-type")) or not request.raw_body:
        return
    text = request.raw_body.decode("utf-8", errors="replace")
    stripped = text.lstrip(" \t\n\r")
    if not stripped:
        return
    if stripped[0] not in "{[":
        position = len(text) - len(stripped)
        raise _syntax_error(f"Unexpected token {stripped[0]} in JSON at position {position}")
    try:
        request.body = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        if error.pos >= len(text):
            raise _syntax_error("Unexpected end of JSON input") from error
        raise _syntax_error(
            f"Unexpected token {text[error.pos]} in JSON at position {error.pos}"
        ) from error
    except (ValueError, RecursionError) as error:
        raise _syntax_error(str(error)) from error
