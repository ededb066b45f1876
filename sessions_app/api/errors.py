"""The API's one error shape: `{"error": {"code", "message", "details"?, "retry_after"?}}`.

`api_exception_handler` (settings `REST_FRAMEWORK["EXCEPTION_HANDLER"]`) turns every exception a
view raises into that shape: Voiceflow's typed errors by their `.code`, the action layer's
`Conflict` and `StateShapeError`, Django's 404 and PermissionDenied, DRF's own exceptions, and
anything unexpected (logged, answered as `server_error` without a trace).
"""

import logging
import math

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import ProtectedError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from ..actions import Conflict, StateShapeError
from ..encryption import UndecryptableSecret
from ..personal_data import mask_state
from ..voiceflow import RateLimited, VoiceflowError

logger = logging.getLogger(__name__)

# Voiceflow's failures, by `VoiceflowError.code`. Problems on Voiceflow's side (or with the
# stored credentials) are gateway errors; a refused request is the caller's to fix.
UPSTREAM_STATUS = {
    "validation": status.HTTP_400_BAD_REQUEST,
    "upstream_validation": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "upstream_rate_limited": status.HTTP_429_TOO_MANY_REQUESTS,
    "upstream_unauthorized": status.HTTP_502_BAD_GATEWAY,
    "upstream_unknown_environment": status.HTTP_502_BAD_GATEWAY,
    "upstream_error": status.HTTP_502_BAD_GATEWAY,
    "upstream_timeout": status.HTTP_504_GATEWAY_TIMEOUT,
    # Another write to the same session did not finish in time (session_lock.SessionBusy).
    "conflict": status.HTTP_409_CONFLICT,
}

ERROR_CODES = [
    "validation",
    "not_found",
    "conflict",
    "precondition_failed",
    "precondition_required",
    "permission_denied",
    "step_up_required",
    "not_authenticated",
    "method_not_allowed",
    "not_acceptable",
    "unsupported_media_type",
    "payload_too_large",
    "upstream_unauthorized",
    "upstream_rate_limited",
    "upstream_error",
    "upstream_timeout",
    "upstream_validation",
    "upstream_unknown_environment",
    "locked_out",
    "credentials_unreadable",
    "server_error",
]


class ApiError(exceptions.APIException):
    """An error a view raises on purpose, with its code and optional details."""

    code = "validation"

    def __init__(self, message: str, *, details: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class PreconditionRequired(ApiError):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    code = "precondition_required"


class StepUpRequired(ApiError):
    """A browser session asks for high-impact work without a recent password confirmation."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "step_up_required"

    def __init__(self) -> None:
        super().__init__(
            "Confirm your password first (it covers high-impact work for a few minutes): "
            "open /account/confirm in the browser, or use an API token."
        )


class InvalidInput(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "validation"


class ConflictingState(ApiError):
    """The request is well formed but the object is not in a state that allows it."""

    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details=None,
    retry_after: float | None = None,
    headers: dict | None = None,
) -> Response:
    body: dict = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    headers = dict(headers or {})
    if retry_after is not None:
        seconds = max(math.ceil(retry_after), 1)
        body["retry_after"] = seconds
        headers["Retry-After"] = str(seconds)
    return Response({"error": body}, status=status_code, headers=headers)


def _first_message(detail) -> str:
    """The first human sentence of a DRF validation detail, prefixed by its field."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


_DRF_CODES = [
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "not_authenticated"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.ParseError, "validation"),
]


def _masked_for(context: dict, state):
    """A state in an error answer, as the caller may see it (personal_data.py)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return state if user is None else mask_state(state, user)


def api_exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, ApiError):
        return error_response(
            exc.status_code, exc.code, exc.message, details=exc.details, headers=exc.headers
        )
    if isinstance(exc, Conflict):
        return error_response(
            status.HTTP_412_PRECONDITION_FAILED,
            "precondition_failed",
            "The conversation changed since the ETag you sent; nothing was sent. The current "
            "state and its ETag are in details.",
            details={
                "etag": exc.fingerprint_now,
                "state": _masked_for(context, exc.state_now),
                "audit_entry": exc.entry.pk,
            },
            headers={"ETag": f'"{exc.fingerprint_now}"'},
        )
    if isinstance(exc, VoiceflowError):
        return error_response(
            UPSTREAM_STATUS.get(exc.code, status.HTTP_502_BAD_GATEWAY),
            exc.code,
            exc.message,
            retry_after=exc.retry_after_s if exc.code == "upstream_rate_limited" else None,
            # Voiceflow's own limit or this product's budget for the project (docs/api.md).
            details={"limited_by": exc.limited_by} if isinstance(exc, RateLimited) else None,
        )
    if isinstance(exc, StateShapeError):
        return error_response(status.HTTP_400_BAD_REQUEST, "validation", str(exc))
    if isinstance(exc, Http404):
        return error_response(status.HTTP_404_NOT_FOUND, "not_found", "No such object.")
    if isinstance(exc, PermissionDenied):
        return error_response(
            status.HTTP_403_FORBIDDEN,
            "permission_denied",
            str(exc) or "Your role does not allow this.",
        )
    if isinstance(exc, ProtectedError):
        return error_response(
            status.HTTP_409_CONFLICT,
            "conflict",
            "Bulk jobs refer to it; it cannot be deleted while their history is kept.",
        )
    if isinstance(exc, UndecryptableSecret):
        return error_response(
            status.HTTP_500_INTERNAL_SERVER_ERROR, "credentials_unreadable", str(exc)
        )
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            status.HTTP_400_BAD_REQUEST,
            "validation",
            _first_message(exc.detail),
            details=exc.detail if isinstance(exc.detail, dict) else {"errors": exc.detail},
        )
    if isinstance(exc, exceptions.APIException):
        code = next((code for kind, code in _DRF_CODES if isinstance(exc, kind)), "validation")
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        return error_response(
            exc.status_code,
            code,
            _first_message(exc.detail),
            headers=headers,
        )
    logger.exception("Unexpected error in %s", context.get("view").__class__.__name__)
    return error_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "server_error",
        "Something went wrong on our side; it has been logged. Nothing is known to have changed.",
    )


def error_json(status_code: int, code: str, message: str) -> JsonResponse:
    """The error shape outside DRF (middleware, Django's own handlers)."""
    return JsonResponse({"error": {"code": code, "message": message}}, status=status_code)


def lockout_response(request: HttpRequest, original_response, credentials) -> HttpResponse:
    """django-axes' answer once a username and address are locked out (AXES_LOCKOUT_CALLABLE):
    the error shape for the API, the locked-out page for people."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "error": {
                    "code": "locked_out",
                    "message": "Too many failed sign-ins for this username from this address; "
                    "wait and try again, or ask an administrator to unlock it.",
                }
            },
            status=settings.AXES_HTTP_RESPONSE_CODE,
        )
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, status=settings.AXES_HTTP_RESPONSE_CODE)


# ---- the shape, for the OpenAPI schema ----


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ERROR_CODES)
    message = serializers.CharField()
    details = serializers.DictField(
        required=False, help_text="Field errors, or the current state and ETag on a 412."
    )
    retry_after = serializers.IntegerField(
        required=False, help_text="Seconds to wait (also in the Retry-After header)."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


_DESCRIPTIONS = {
    400: "validation: the input is malformed; nothing changed.",
    401: "not_authenticated: no valid session or token.",
    403: "permission_denied: your role does not allow this.",
    404: "not_found: no such object.",
    409: "conflict: the object is not in a state that allows this.",
    412: "precondition_failed: the conversation moved since the If-Match ETag; nothing was sent.",
    413: "payload_too_large: the body is over API_MAX_BODY_MB (an upload: BULK_UPLOAD_MAX_MB).",
    422: "upstream_validation: Voiceflow refused the request.",
    428: "precondition_required: send If-Match with the ETag of the state you edited.",
    429: "upstream_rate_limited: retry after `retry_after` seconds (Retry-After header); "
    "locked_out when creating a token after repeated wrong passwords.",
    502: "upstream_unauthorized, upstream_unknown_environment or upstream_error.",
    504: "upstream_timeout: Voiceflow did not answer in time.",
}


def error_responses(*status_codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, all in the one error shape."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code])
        for code in status_codes
    }


AUTH_ERRORS = (400, 401, 403)
UPSTREAM_ERRORS = (422, 429, 502, 504)
