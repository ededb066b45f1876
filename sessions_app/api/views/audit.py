"""The audit trail: list with filters, read one record, restore the state a record kept."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import actions
from ...models import AuditEntry
from ...personal_data import exclude_hidden_user_ids
from ..errors import AUTH_ERRORS, UPSTREAM_ERRORS, error_responses
from ..filters import KnownFiltersOnly
from ..permissions import RolePermission
from ..serializers import AuditEntrySerializer, SessionWriteSerializer
from .sessions import ETAG_HEADER, IF_MATCH_OPTIONAL, based_on, state_response


class AuditFilterSerializer(serializers.Serializer):
    actor = serializers.CharField(required=False, help_text="Username of who acted.")
    action = serializers.ChoiceField(choices=AuditEntry.Action.choices, required=False)
    outcome = serializers.ChoiceField(choices=AuditEntry.Outcome.choices, required=False)
    source = serializers.ChoiceField(choices=AuditEntry.Source.choices, required=False)
    environment = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    user = serializers.CharField(required=False, help_text="The conversation's userID, exactly.")
    user_contains = serializers.CharField(
        required=False, help_text="userIDs containing this text, in any case."
    )
    job = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="The bulk job that wrote."
    )
    since = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive.")


FILTER_LOOKUPS = {
    "actor": "actor_name",
    "action": "action",
    "outcome": "outcome",
    "source": "source",
    "environment": "environment_id",
    "user": "user_id",
    "user_contains": "user_id__icontains",
    "job": "job_id",
    "since": "created_at__gte",
    "until": "created_at__lt",
}


@extend_schema_view(
    get=extend_schema(
        operation_id="audit_list",
        summary="List audit records, newest first",
        parameters=[AuditFilterSerializer],
        responses={200: AuditEntrySerializer(many=True), **error_responses(*AUTH_ERRORS)},
    )
)
class AuditListView(KnownFiltersOnly, generics.ListAPIView):
    known_filters = tuple(AuditFilterSerializer().fields)
    permission_classes = [RolePermission]
    required_permissions = {"GET": "view_audit"}
    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        filters = AuditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        entries = AuditEntry.objects.filter(
            **{FILTER_LOOKUPS[name]: value for name, value in filters.validated_data.items()}
        )
        # Part of a userID must not spell out a personal one the answer then masks.
        typed = filters.validated_data.get("user_contains", "")
        return exclude_hidden_user_ids(entries, typed, self.request.user)


@extend_schema_view(
    get=extend_schema(
        operation_id="audit_read",
        summary="Read one audit record",
        responses={200: AuditEntrySerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
)
class AuditDetailView(generics.RetrieveAPIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": "view_audit"}
    serializer_class = AuditEntrySerializer
    queryset = AuditEntry.objects.all()


class AuditRestoreView(APIView):
    permission_classes = [RolePermission]
    required_permissions = {"POST": "replace_state"}

    @extend_schema(
        operation_id="audit_restore",
        summary="Restore the state recorded before an audited write",
        description="Puts back `state_before` of the record (a PUT, or a reset when there was "
        "no state), as a new audited write. Requires the replace_state permission (Ops).",
        request=None,
        parameters=[IF_MATCH_OPTIONAL, ETAG_HEADER],
        responses={
            200: SessionWriteSerializer,
            **error_responses(*AUTH_ERRORS, 404, 412, *UPSTREAM_ERRORS),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        entry = get_object_or_404(AuditEntry.objects.select_related("environment__project"), pk=pk)
        restored = actions.do_restore(
            entry,
            context=actions.WriteContext(
                actor=request.user,
                source=AuditEntry.Source.API,
                based_on=based_on(request, required=False),
            ),
        )
        return state_response(
            request, entry.environment, restored.user_id, restored.state_after or {}, entry=restored
        )
