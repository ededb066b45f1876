"""Request ids and the fields every log line carries.

Each request gets an id: the proxy's `X-Request-ID` when it sent a plausible one (so the proxy's
access log and ours can be joined), otherwise a new one. The response echoes it, every log line
written while the request is handled carries it (`request_id`), and one line per request records
method, path (never the query string, which can hold userIDs), status and duration.

With `LOG_FORMAT=json` (settings) each line is one JSON object; extra fields passed by callers
(`job_id`, `item_id`, `outcome`…) become keys of that object.
"""

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
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


class JsonFormatter(BaseJsonFormatter):
    """python-json-logger's formatter without Django's `request` field, whose text holds the
    query string (userIDs travel there)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, reserved_attrs=[*RESERVED_ATTRS, "request"], **kwargs)


class ForbiddenWithoutTraceback(logging.Filter):
    """Django logs a denied permission with the whole traceback of the PermissionDenied, which
    is an answer, not a fault: keep its one line ("Forbidden (Permission denied): /path")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
