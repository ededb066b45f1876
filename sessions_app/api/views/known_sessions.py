"""The index of sessions seen in an environment, since Voiceflow's state API cannot list users."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers

from ...access import environment_or_404
from ...known_sessions import search_known_sessions
from ...models import USER_ID_MAX_LENGTH
from ...personal_data import exclude_hidden_matches, exclude_hidden_user_ids
from ..errors import AUTH_ERRORS, error_responses
from ..filters import KnownFiltersOnly
from ..permissions import RolePermission
from ..serializers import KnownSessionSerializer


class KnownSessionSearchSerializer(serializers.Serializer):
    user_prefix = serializers.CharField(
        required=False,
        max_length=USER_ID_MAX_LENGTH,
        trim_whitespace=False,
        help_text="userIDs starting with this.",
    )
    variable = serializers.CharField(
        required=False,
        max_length=200,
        help_text="Sessions whose variables contain this text (name or value, any case), "
        "e.g. `plan=pro` or `pro`.",
    )


@extend_schema_view(
    get=extend_schema(
        operation_id="known_sessions_list",
        summary="List and search the sessions seen in an environment",
        description="Voiceflow cannot list users, so this is every userID the product has read or "
        "written, newest first.",
        parameters=[KnownSessionSearchSerializer],
        responses={200: KnownSessionSerializer(many=True), **error_responses(*AUTH_ERRORS, 404)},
        tags=["sessions"],
    )
)
class KnownSessionListView(KnownFiltersOnly, generics.ListAPIView):
    known_filters = tuple(KnownSessionSearchSerializer().fields)
    permission_classes = [RolePermission]
    required_permissions = {"GET": "inspect_session"}
    serializer_class = KnownSessionSerializer

    def get_queryset(self):
        environment = environment_or_404(self.kwargs["environment_id"])
        search = KnownSessionSearchSerializer(data=self.request.query_params)
        search.is_valid(raise_exception=True)
        value = search.validated_data.get("variable", "")
        prefix = search.validated_data.get("user_prefix", "")
        found = search_known_sessions(environment, user_id_prefix=prefix, variable_value=value)
        found = exclude_hidden_matches(found, value, self.request.user)
        return exclude_hidden_user_ids(found, prefix, self.request.user).order_by(
            "-last_seen_at", "-pk"
        )
