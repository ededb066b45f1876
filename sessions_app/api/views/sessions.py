"""A conversation's state: read it with its ETag, replace, merge variables, reset, send a turn.

The userID travels in the `user` query parameter, so any character it may hold (`/`, `?`, `#`,
spaces, unicode) is addressable with ordinary query encoding.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import actions
from ...access import environment_or_404
from ...known_sessions import note_session
from ...models import AuditEntry, Environment
from ...personal_data import mask_state
from ...voiceflow import client_for, user_id_warning, validate_user_id
from ..errors import (
    AUTH_ERRORS,
    UPSTREAM_ERRORS,
    InvalidInput,
    PreconditionRequired,
    error_responses,
)
from ..permissions import RolePermission
from ..serializers import (
    InteractRequestSerializer,
    InteractResultSerializer,
    SessionStateSerializer,
    SessionWriteSerializer,
)

USER_PARAMETER = OpenApiParameter(
    "user",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=True,
    description="The userID, percent-encoded like any query value: `a/b c#1` is sent as "
    "`?user=a%2Fb%20c%231`. No control characters; longer than 128 characters (the hosted "
    "API's documented limit) is accepted with a warning, and refused only when it cannot be "
    "sent (over 14,336 bytes percent-encoded).",
    examples=[OpenApiExample("A userID", value="customer-42")],
)
ETAG_HEADER = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=True,
    description='The state\'s fingerprint in quotes, e.g. "3f2a…". Send it back in If-Match.',
)


IF_MATCH_REQUIRED = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    examples=[OpenApiExample("Whatever the state holds now", value="*")],
    description="The ETag of the state this replacement is based on. Required: without it the answer is "
    "428; when the conversation moved since, 412 with the current state. `*` skips the check.",
)
IF_MATCH_OPTIONAL = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Optional. When given, the write happens only if the state still has this ETag "
    "(else 412).",
)
ENVIRONMENT_ERRORS = error_responses(*AUTH_ERRORS, 404, *UPSTREAM_ERRORS)


def based_on(request: Request, *, required: bool) -> str | None:
    """The fingerprint named by If-Match; None for `*` or (when optional) no header."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        if required:
            raise PreconditionRequired(
                "Send If-Match with the ETag of the state you edited (GET the state first), "
                "or `If-Match: *` to replace it whatever it holds now."
            )
        return None
    if header == "*":
        return None
    if "," in header:
        raise InvalidInput("If-Match takes one ETag.")
    return header.removeprefix("W/").strip('"')


def _user_id(request: Request) -> str:
    if "user" not in request.query_params:
        raise InvalidInput("The user query parameter (the userID) is required.")
    return validate_user_id(request.query_params["user"])


def state_response(
    request: Request, environment: Environment, user_id: str, state: dict, *, entry=None
) -> Response:
    etag = actions.fingerprint(state)
    body = {
        "environment": environment.pk,
        "user_id": user_id,
        "etag": etag,
        "state": mask_state(state, request.user),
    }
    warning = user_id_warning(user_id)
    if warning:
        body["warnings"] = [warning]
    if entry is not None:
        body["audit_entry"] = entry.pk
    return Response(body, headers={"ETag": f'"{etag}"'})


class SessionView(APIView):
    """Views addressed by environment and `?user=`."""

    permission_classes = [RolePermission]

    def environment(self) -> Environment:
        # The permission was checked by RolePermission, as `access.environment_for` does on pages.
        return environment_or_404(self.kwargs["environment_id"])


class SessionStateView(SessionView):
    required_permissions = {
        "GET": "inspect_session",
        "PUT": "replace_state",
        "DELETE": "reset_session",
    }

    @extend_schema(
        operation_id="session_state_read",
        summary="Read a session's state",
        description="The state Voiceflow holds for the userID (`{}` when none), with its ETag. "
        "Reading notes the userID in the known-sessions index.",
        parameters=[USER_PARAMETER, ETAG_HEADER],
        responses={200: SessionStateSerializer, **ENVIRONMENT_ERRORS},
        tags=["sessions"],
    )
    def get(self, request: Request, environment_id: int) -> Response:
        environment = self.environment()
        user_id = _user_id(request)
        state = client_for(environment).get_state(user_id)
        note_session(environment, user_id, state)
        return state_response(request, environment, user_id, state)

    @extend_schema(
        operation_id="session_state_replace",
        summary="Replace a session's state",
        description="The body is the whole new state: `stack`, `storage` and `variables` "
        "(a `turn` key, which reads may carry, is dropped). Requires the replace_state "
        "permission (Ops).",
        parameters=[USER_PARAMETER, IF_MATCH_REQUIRED, ETAG_HEADER],
        request={"application/json": {"type": "object", "additionalProperties": True}},
        examples=[
            OpenApiExample(
                "A state",
                value={
                    "stack": [{"diagramID": "66b0c1d2e3f4a5b6c7d8e9f0", "nodeID": "start"}],
                    "storage": {},
                    "variables": {"plan": "pro"},
                },
                request_only=True,
            )
        ],
        responses={
            200: SessionWriteSerializer,
            **ENVIRONMENT_ERRORS,
            **error_responses(412, 428),
        },
        tags=["sessions"],
    )
    def put(self, request: Request, environment_id: int) -> Response:
        environment = self.environment()
        user_id = _user_id(request)
        fingerprint = based_on(request, required=True)
        state = request.data
        if isinstance(state, dict):
            state = {key: value for key, value in state.items() if key != "turn"}
        entry = actions.do_replace_state(
            environment,
            user_id,
            state,
            context=actions.WriteContext(
                actor=request.user, source=AuditEntry.Source.API, based_on=fingerprint
            ),
        )
        return state_response(request, environment, user_id, entry.state_after or {}, entry=entry)

    @extend_schema(
        operation_id="session_state_reset",
        summary="Reset a session (delete its state)",
        description="The state before is kept in the audit record, so it can be restored. "
        "Requires the reset_session permission (Ops).",
        parameters=[USER_PARAMETER, IF_MATCH_OPTIONAL, ETAG_HEADER],
        responses={200: SessionWriteSerializer, **ENVIRONMENT_ERRORS, **error_responses(412)},
        tags=["sessions"],
    )
    def delete(self, request: Request, environment_id: int) -> Response:
        environment = self.environment()
        user_id = _user_id(request)
        entry = actions.do_reset_session(
            environment,
            user_id,
            context=actions.WriteContext(
                actor=request.user,
                source=AuditEntry.Source.API,
                based_on=based_on(request, required=False),
            ),
        )
        return state_response(request, environment, user_id, {}, entry=entry)


class SessionVariablesView(SessionView):
    required_permissions = {"PATCH": "edit_variables"}

    @extend_schema(
        operation_id="session_variables_merge",
        summary="Merge variables into a session",
        description="The body is a flat object of variables: each named variable is replaced "
        "whole, the others are untouched (a user without state gets one holding only these "
        "variables). Requires the edit_variables permission (Support).",
        parameters=[USER_PARAMETER, IF_MATCH_OPTIONAL, ETAG_HEADER],
        request={
            "application/json": {"type": "object", "minProperties": 1, "additionalProperties": True}
        },
        responses={200: SessionWriteSerializer, **ENVIRONMENT_ERRORS, **error_responses(412)},
        tags=["sessions"],
    )
    def patch(self, request: Request, environment_id: int) -> Response:
        environment = self.environment()
        user_id = _user_id(request)
        if not isinstance(request.data, dict):
            raise InvalidInput('The body must be a JSON object of variables, e.g. {"plan": "pro"}.')
        entry = actions.do_set_variables(
            environment,
            user_id,
            dict(request.data),
            context=actions.WriteContext(
                actor=request.user,
                source=AuditEntry.Source.API,
                based_on=based_on(request, required=False),
            ),
        )
        return state_response(request, environment, user_id, entry.state_after or {}, entry=entry)


class SessionInteractView(SessionView):
    required_permissions = {"POST": "interact_session"}

    @extend_schema(
        operation_id="session_interact",
        summary="Send an action (one conversation turn)",
        description="Runs one turn as the user would and returns Voiceflow's traces. The turn "
        "changes the state, so it is audited. Requires the interact_session permission (Support).",
        parameters=[USER_PARAMETER, IF_MATCH_OPTIONAL, ETAG_HEADER],
        request=InteractRequestSerializer,
        examples=[
            OpenApiExample(
                "Start the conversation", value={"action": {"type": "launch"}}, request_only=True
            ),
            OpenApiExample(
                "Say something",
                value={"action": {"type": "text", "payload": "a large pepperoni"}},
                request_only=True,
            ),
        ],
        responses={200: InteractResultSerializer, **ENVIRONMENT_ERRORS, **error_responses(412)},
        tags=["sessions"],
    )
    def post(self, request: Request, environment_id: int) -> Response:
        environment = self.environment()
        user_id = _user_id(request)
        turn = InteractRequestSerializer(data=request.data)
        turn.is_valid(raise_exception=True)
        entry, traces = actions.do_interact(
            environment,
            user_id,
            turn.validated_data["action"],
            config=turn.validated_data.get("config"),
            context=actions.WriteContext(
                actor=request.user,
                source=AuditEntry.Source.API,
                based_on=based_on(request, required=False),
            ),
        )
        etag = actions.fingerprint(entry.state_after)
        return Response(
            {"traces": traces, "etag": etag, "audit_entry": entry.pk},
            headers={"ETag": f'"{etag}"'},
        )
