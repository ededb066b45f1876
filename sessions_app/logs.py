"""Request ids and the fields every log line carries.

Each request gets an id: the proxy's `X-Request-ID` when it sent a plausible one (so the proxy's
access log and ours can be joined), otherwise a new one. The response echoes it, every log line
written while the request is handled carries it (`request_id`), and one line per request records
method, path (never the query string, which can hold userIDs), status and duration.

With `LOG_FORMAT=json` (settings) each line is one JSON object; extra fields passed by callers
(`job_id`, `item_id`, `outcome`…) become keys of that object.

Values never reach a log line. Callers log ids, never userIDs or variable values; what the
database says about a failed statement is another matter: PostgreSQL's messages quote the data
(`DETAIL: Key (user_id)=(maria@example.com) already exists`, `CONTEXT: JSON data, line 1: …`),
and Django's SQL debug lines carry the parameters. `ValueFreeFilter` (on every handler) and the
formatters' `formatException` withhold both, keeping the kind of error and its SQLSTATE.
"""

import contextvars
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable, Iterator

from django.core.signals import request_finished
from django.db import Error as DatabaseError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_PLAUSIBLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

request_logger = logging.getLogger("sessions_app.requests")


def current_request_id() -> str:
    return _current_request_id.get()


class RequestIdMiddleware:
    """First in the middleware list, so every response (redirects and errors too) carries the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = offered if _PLAUSIBLE_ID.fullmatch(offered) else uuid.uuid4().hex
        request.request_id = request_id
        # Kept until the response is closed (below), so that Django's own lines about the
        # response (django.request) carry it too.
        _current_request_id.set(request_id)
        started = time.monotonic()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        request_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs) -> None:
    _current_request_id.set("")


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record (empty outside a request, e.g. in a worker)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current_request_id.get()
        return True


# ---- keeping values out ----

WITHHELD = "[withheld: it may quote the data]"
_SQL_STRING = re.compile(r"'(?:[^']|'')*'")


def _database_errors(error: BaseException | None) -> Iterator[BaseException]:
    """The database errors in an exception's chain (Django wraps the driver's error)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        module = type(error).__module__
        if isinstance(error, DatabaseError) or module.startswith(("psycopg", "sqlite3")):
            yield error
        error = error.__cause__ or error.__context__


def _withhold(text: str, error: BaseException | None) -> str:
    database_errors = list(_database_errors(error))
    # The driver's error (the cause of Django's) knows the SQLSTATE.
    sqlstate = next(
        (getattr(e, "sqlstate", None) for e in database_errors if getattr(e, "sqlstate", None)),
        None,
    )
    withheld = f"{WITHHELD} (SQLSTATE {sqlstate})" if sqlstate else WITHHELD
    # What the error says, as a whole, as Celery's repr() quotes it, and line by line (a repr
    # escapes the line breaks between DETAIL and CONTEXT).
    said: set[str] = set()
    for database_error in database_errors:
        message = str(database_error)
        said |= {message, repr(database_error)} if message else set()
        said |= {line.strip() for line in message.splitlines() if len(line.strip()) > 3}
    for quoted in sorted(said, key=len, reverse=True):
        text = text.replace(quoted, withheld)
    return text


def value_free_exception(exc_info) -> str:
    """A formatted traceback without what the database said about the data."""
    text = "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    return _withhold(text, exc_info[1])


class ValueFreeFilter(logging.Filter):
    """Withholds what a log line would quote of the data: the database's messages about a
    failed statement (in the message as well as the traceback), and the SQL parameters of
    Django's query debug lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.db.backends") and hasattr(record, "params"):
            sql = _SQL_STRING.sub("'…'", str(getattr(record, "sql", "")))
            record.msg = "(%.3f) %s; args=%s; alias=%s"
            record.args = (getattr(record, "duration", 0) or 0, sql, WITHHELD, record.alias)
            record.sql, record.params = sql, WITHHELD
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and any(True for _ in _database_errors(error)):
            record.msg, record.args = _withhold(record.getMessage(), error), None
            record.exc_text = value_free_exception(record.exc_info)
        return True


class PlainFormatter(logging.Formatter):
    def formatException(self, ei) -> str:
        return value_free_exception(ei)


class JsonFormatter(BaseJsonFormatter):
    """python-json-logger's formatter without Django's `request` field, whose text holds the
    query string (userIDs travel there)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, reserved_attrs=[*RESERVED_ATTRS, "request"], **kwargs)

    def formatException(self, ei) -> str:
        return value_free_exception(ei)


class ForbiddenWithoutTraceback(logging.Filter):
    """Django logs a denied permission with the whole traceback of the PermissionDenied, which
    is an answer, not a fault: keep its one line ("Forbidden (Permission denied): /path")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
