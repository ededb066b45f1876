"""Request body limits, before any view reads a body: an API body over API_MAX_BODY_MB, or a
file upload (pages and API) over BULK_UPLOAD_MAX_MB, is answered 413 at once; nothing is read,
stored or sent on. The API answers in its error shape, pages in words."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .errors import error_json

# A multipart form carries a few fields besides its file.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def body_limit_bytes(request: HttpRequest) -> int | None:
    """The largest body `request` may carry, or None when Django's own limits apply."""
    if request.content_type == "multipart/form-data":
        return settings.BULK_UPLOAD_MAX_MB * 1024 * 1024 + MULTIPART_OVERHEAD_BYTES
    if request.path.startswith("/api/"):
        return settings.API_MAX_BODY_MB * 1024 * 1024
    return None


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_limit_bytes(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            upload = request.content_type == "multipart/form-data"
            message = (
                f"The request body is {length / 1024 / 1024:.1f} MB; "
                + (
                    f"an upload is at most {settings.BULK_UPLOAD_MAX_MB} MB (BULK_UPLOAD_MAX_MB)."
                    if upload
                    else f"an API body is at most {settings.API_MAX_BODY_MB} MB (API_MAX_BODY_MB)."
                )
                + " Nothing was done."
            )
            if request.path.startswith("/api/"):
                return error_json(413, "payload_too_large", message)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
