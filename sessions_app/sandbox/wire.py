"""What travels between the HTTP handler and the routes: requests, responses, event streams, and
the runtime's three error envelopes (voiceflow-api.md §7.1 item 2).
"""

import base64
import hashlib
import html
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
# helmet 4's defaults, as gr-src installs it (observed on every answer but the 431, §9).
HELMET_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self';base-uri 'self';block-all-mixed-content;font-src 'self' https: data:;"
        "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';"
        "script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests"
    ),
    "X-DNS-Prefetch-Control": "off",
    "Expect-CT": "max-age=0",
    "X-Frame-Options": "SAMEORIGIN",
    "Strict-Transport-Security": "max-age=15552000; includeSubDomains",
    "X-Download-Options": "noopen",
    "X-Content-Type-Options": "nosniff",
    "X-Permitted-Cross-Domain-Policies": "none",
    "Referrer-Policy": "no-referrer",
    "X-XSS-Protection": "0",
}


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
    # Express's res.json(undefined) (DELETE): no body and no Content-Length, so Node sends the
    # answer chunked (§9).
    chunked: bool = False
    # Express gives every body it sends a weak ETag; its default 404 page and 204s have none.
    etag: bool = True


def weak_etag(body: bytes) -> str:
    """Express's default ETag (the `etag` package, weak): length in hex and a SHA-1 prefix."""
    digest = base64.b64encode(hashlib.sha1(body, usedforsecurity=False).digest()).decode()
    return f'W/"{len(body):x}-{digest[:27]}"'


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


_request_ids = itertools.count(1)
_request_ids_lock = threading.Lock()


def next_request_id() -> str:
    """gr-src numbers its requests with an integer counter, sent as a string (§9)."""
    with _request_ids_lock:
        return str(next(_request_ids))


def named_error(status: int, name: str, message: str) -> Response:
    """The envelope of errors passed to the error handler: verror, SyntaxError, PayloadTooLarge."""
    return json_response(status, {"name": name, "message": message, "requestID": next_request_id()})


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
        etag=False,
    )


def is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def _syntax_error(message: str) -> Refused:
    return Refused(named_error(400, "SyntaxError", message))


def parse_body(request: Request) -> None:
    """Express's body-parser json(): only application/json bodies are read, anything else is
    ignored (§9); strict mode refuses a top-level value that is not an object or array. The
    messages are those of Node 20's JSON.parse, which body-parser passes on."""
    if not is_json(request.header("content-type")) or not request.raw_body:
        return
    text = request.raw_body.decode("utf-8", errors="replace")
    stripped = text.lstrip(" \t\n\r")
    if not stripped:
        return
    if stripped[0] not in "{[":
        # body-parser's strict check parses the text up to the first character, with that
        # character replaced by `#`, and puts the character back in the message's token only.
        position = len(text) - len(stripped)
        raise _syntax_error(
            f"Unexpected token '{stripped[0]}', \"{text[:position]}#\" is not valid JSON"
        )
    try:
        request.body = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise _syntax_error(v8_json_error(text)) from error


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def v8_json_error(text: str) -> str:
    """The message V8 (Node 20) gives for JSON.parse(text), for a text that does not parse."""
    try:
        _V8JsonChecker(text).check()
    except _V8JsonError as error:
        return str(error)
    except RecursionError:
        return "Maximum call stack size exceeded"
    return "Unexpected end of JSON input"


class _V8JsonError(Exception):
    pass


class _V8JsonChecker:
    """Just enough of V8's JSON parser to word its first error as V8 does."""

    CONTEXT = 10  # V8's kMaxContextCharacters

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def check(self) -> None:
        self._skip()
        self._value()
        self._skip()
        if self.pos < len(self.text):
            self._fail(f"Unexpected non-whitespace character after JSON at position {self.pos}")

    def _fail(self, message: str) -> None:
        raise _V8JsonError(message)

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n\r":
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _unexpected(self, expected: str | None = None) -> None:
        # Where V8 expects a given token it says so, even at the end of the text.
        if expected is not None:
            self._fail(f"{expected} in JSON at position {self.pos}")
        char = self._peek()
        if not char:
            self._fail("Unexpected end of JSON input")
        if char == '"':
            self._fail(f"Unexpected string in JSON at position {self.pos}")
        if char.isdigit() or char == "-":
            self._fail(f"Unexpected number in JSON at position {self.pos}")
        source, pos, limit = self.text, self.pos, self.CONTEXT
        if len(source) < 2 * limit + 1:
            self._fail(f"Unexpected token '{char}', \"{source}\" is not valid JSON")
        if pos < limit:
            self._fail(
                f"Unexpected token '{char}', \"{source[: pos + limit]}\"... is not valid JSON"
            )
        if pos < len(source) - limit:
            excerpt = source[pos - limit : pos + limit]
            self._fail(f"Unexpected token '{char}', ...\"{excerpt}\"... is not valid JSON")
        self._fail(f"Unexpected token '{char}', ...\"{source[pos - limit :]}\" is not valid JSON")

    def _value(self) -> None:
        char = self._peek()
        if char == "{":
            self._object()
        elif char == "[":
            self._array()
        elif char == '"':
            self._string()
        elif char == "-" or char.isdigit():
            self._number()
        else:
            for word in ("true", "false", "null"):
                if self.text.startswith(word, self.pos):
                    self.pos += len(word)
                    return
            if char and char in "tfn":
                # A literal that starts right but does not finish: V8 points past what matched.
                word = {"t": "true", "f": "false", "n": "null"}[char]
                while self.pos < len(self.text) and self.text[self.pos] == word[0]:
                    self.pos += 1
                    word = word[1:]
            self._unexpected()

    def _object(self) -> None:
        self.pos += 1
        self._skip()
        if self._peek() == "}":
            self.pos += 1
            return
        first = True
        while True:
            if self._peek() != '"':
                self._unexpected(
                    "Expected property name or '}'"
                    if first
                    else "Expected double-quoted property name"
                )
            self._string()
            self._skip()
            if self._peek() != ":":
                self._unexpected("Expected ':' after property name")
            self.pos += 1
            self._skip()
            self._value()
            self._skip()
            if self._peek() == ",":
                self.pos += 1
                self._skip()
                first = False
                continue
            if self._peek() == "}":
                self.pos += 1
                return
            self._unexpected("Expected ',' or '}' after property value")

    def _array(self) -> None:
        self.pos += 1
        self._skip()
        if self._peek() == "]":
            self.pos += 1
            return
        while True:
            self._value()
            self._skip()
            if self._peek() == ",":
                self.pos += 1
                self._skip()
                continue
            if self._peek() == "]":
                self.pos += 1
                return
            self._unexpected("Expected ',' or ']' after array element")

    def _string(self) -> None:
        self.pos += 1
        while True:
            if self.pos >= len(self.text):
                self._fail(f"Unterminated string in JSON at position {self.pos}")
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return
            if char < " ":
                self._fail(
                    f"Bad control character in string literal in JSON at position {self.pos}"
                )
            if char == "\\":
                escaped = self.text[self.pos + 1 : self.pos + 2]
                if escaped == "u":
                    digits = self.text[self.pos + 2 : self.pos + 6]
                    if len(digits) < 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                        self._fail(f"Bad Unicode escape in JSON at position {self.pos}")
                    self.pos += 6
                    continue
                if not escaped or escaped not in '"\\/bfnrt':
                    self._fail(f"Bad escaped character in JSON at position {self.pos}")
                self.pos += 2
                continue
            self.pos += 1

    def _number(self) -> None:
        if self._peek() == "-":
            self.pos += 1
            if not self._peek().isdigit():
                self._fail(f"No number after minus sign in JSON at position {self.pos}")
        while self._peek().isdigit():
            self.pos += 1
        if self._peek() == ".":
            self.pos += 1
            if not self._peek().isdigit():
                self._fail(f"Unterminated fractional number in JSON at position {self.pos}")
            while self._peek().isdigit():
                self.pos += 1
        if self._peek() in ("e", "E"):
            self.pos += 1
            if self._peek() in ("+", "-"):
                self.pos += 1
            if not self._peek().isdigit():
                self._fail(f"Exponent part is missing a number in JSON at position {self.pos}")
            while self._peek().isdigit():
                self.pos += 1
