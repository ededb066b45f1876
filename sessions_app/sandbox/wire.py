"""What travels between the HTTP handler and the routes: requests, responses, event streams, and
the runtime's three error envelopes (voiceflow-api.md §7.1 item 2).
"""

import html
import json
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
    # The parsed JSON body; None when there was none or it was not sent as application/json.
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
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


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
