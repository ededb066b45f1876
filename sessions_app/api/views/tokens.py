"""API tokens (knox), each person's own: created and shown once, listed by prefix, revoked.

A token is created by a signed-in session or with the person's username and password, never by
another token, so a leaked token cannot mint fresh ones that outlive its revocation.
"""

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema, extend_schema_view
from knox.models import AuthToken
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from ... import step_up
from ...account_actions import do_create_token, do_revoke_token
from ...models import AuditEntry
from ..errors import StepUpRequired, error_responses
from ..filters import KnownFiltersOnly
from ..serializers import TokenCreatedSerializer, TokenCreateSerializer, TokenSerializer


def tokens_of(user):
    return AuthToken.objects.filter(user=user).order_by("-created")


@extend_schema_view(
    get=extend_schema(
        operation_id="tokens_list",
        summary="List your API tokens",
        description="Each token by its prefix (its first characters); the token itself is never "
        "shown again after creation.",
        responses={200: TokenSerializer(many=True), **error_responses(401)},
    ),
    post=extend_schema(
        operation_id="tokens_create",
        summary="Create an API token",
        description="Authenticate with your session (browser) or with `username` and `password` "
        "in the body; a token cannot create tokens. The token is in the answer this once.",
        request=TokenCreateSerializer,
        responses={201: TokenCreatedSerializer, **error_responses(400, 401, 403, 429)},
        auth=[{"cookieAuth": []}, {}],
    ),
)
class TokenListView(KnownFiltersOnly, generics.ListAPIView):
    serializer_class = TokenSerializer

    def get_permissions(self):
        # Creating checks its own credentials (session or password) in `post`.
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_queryset(self):
        return tokens_of(self.request.user)

    def post(self, request: Request) -> Response:
        body = TokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if "username" in body.validated_data:
            user = authenticate(
                request._request,
                username=body.validated_data["username"],
                password=body.validated_data["password"],
            )
            if user is None:
                raise AuthenticationFailed("The username or password is not right.")
        elif request.user.is_authenticated and isinstance(
            request.successful_authenticator, SessionAuthentication
        ):
            if step_up.api_caller_needs_step_up(request):
                raise StepUpRequired()
            user = request.user
        elif request.user.is_authenticated:
            raise PermissionDenied(
                "A token cannot create tokens; sign in, or send your username and password."
            )
        else:
            raise NotAuthenticated("Sign in, or send your username and password.")
        token, plain = do_create_token(
            user,
            expires_in_days=body.validated_data.get("expires_in_days"),
            source=AuditEntry.Source.API,
        )
        answer = TokenSerializer(token).data | {"token": plain, "username": user.get_username()}
        return Response(answer, status=status.HTTP_201_CREATED)


class TokenDetailView(generics.DestroyAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="tokens_revoke",
        summary="Revoke one of your API tokens",
        responses={204: None, **error_responses(401, 404)},
    )
    def delete(self, request: Request, prefix: str) -> Response:
        if not do_revoke_token(request.user, prefix, source=AuditEntry.Source.API):
            raise NotFound("You have no token with this prefix.")
        return Response(status=status.HTTP_204_NO_CONTENT)
