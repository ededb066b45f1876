"""The index of sessions seen in an environment, since Voiceflow's state API cannot list users."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics

from ...known_sessions import search_known_sessions
from ...models import Environment
from ..errors import AUTH_ERRORS, error_responses
from ..permissions import RolePermission
from ..serializers import KnownSessionSerializer


@extend_schema_view(
    get=extend_schema(
        operation_id="known_sessions_list",
        summary="List and search the sessions seen in an environment",
        description="Voiceflow cannot list users, so this is every userID the product has read or "
        "written, newest first.",
        parameters=[
            OpenApiParameter(
                "user_prefix", OpenApiTypes.STR, description="userIDs starting with this."
            ),
            OpenApiParameter(
                "variable",
                OpenApiTypes.STR,
                description="Sessions whose variables contain this text (name or value, any case), "
                "e.g. `plan=pro` or `pro`.",
            ),
        ],
        responses={200: KnownSessionSerializer(many=True), **error_responses(*AUTH_ERRORS, 404)},
        tags=["sessions"],
    )
)
class KnownSessionListView(generics.ListAPIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": "inspect_session"}
    serializer_class = KnownSessionSerializer

    def get_queryset(self):
        environment = get_object_or_404(Environment, pk=self.kwargs["environment_id"])
        return search_known_sessions(
            environment,
            user_id_prefix=self.request.query_params.get("user_prefix", ""),
            variable_value=self.request.query_params.get("variable", ""),
        ).order_by("-last_seen_at", "-pk")
