"""Segments: saved conditions over the known-sessions index, their count and sample, a refresh
from Voiceflow, and jobs built from them (`sessions_app.segments`, `sessions_app.bulk`).

Reading a segment, its preview and refreshing it need inspect_session (reads only, like the
find page); saving one and starting jobs from it need run_bulk_jobs.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import bulk, segments
from ...models import BulkJob, Environment, Segment, WriteMode
from ...schedules import SCHEDULABLE_KIND_CHOICES
from ..errors import AUTH_ERRORS, ConflictingState, InvalidInput, error_responses
from ..filters import query_id
from ..permissions import RolePermission
from .jobs import JobSerializer, _start

VIEW = "inspect_session"
CONTROL = "run_bulk_jobs"

CONDITIONS_HELP = (
    "A list of conditions, all of which must hold: "
    '{"field": "variable", "path": "profile.tier", "op": "equals|contains|exists|missing|gt|lt", '
    '"value": …}, {"field": "last_active", "op": "before|after", "value": "30d" or an ISO '
    'moment}, {"field": "user_id", "op": "prefix", "value": "web-"}, {"field": "position", '
    '"flow": "<diagramID>", "block": "<nodeID>"} or, once the project\'s flow map is loaded, '
    '{"field": "position", "flow_name": "Checkout", "block_name": "Pay"} (resolved into IDs '
    "when saved; both are kept). See docs/segments.md."
)


class SegmentSerializer(serializers.ModelSerializer):
    conditions = serializers.JSONField(help_text=CONDITIONS_HELP)
    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())

    class Meta:
        model = Segment
        fields = ["id", "name", "environment", "conditions", "created_at", "refreshed_at"]
        read_only_fields = ["id", "created_at", "refreshed_at"]


class SampleSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    last_activity_at = serializers.DateTimeField(allow_null=True)
    read_at = serializers.DateTimeField(help_text="When the index last read this state.")
    flow = serializers.CharField()
    block = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    conditions = serializers.ListField(
        child=serializers.DictField(),
        help_text="The conditions as counted: a flow or block named by name with the IDs it "
        "resolved to (`flow`, `block_ids`).",
    )
    count = serializers.IntegerField()
    sample = SampleSerializer(many=True)
    oldest_read_at = serializers.DateTimeField(allow_null=True)
    newest_read_at = serializers.DateTimeField(allow_null=True)
    not_read = serializers.IntegerField(
        help_text="Imported sessions of the environment whose state was never read."
    )


class RefreshSerializer(serializers.Serializer):
    read = serializers.IntegerField()
    failed = serializers.IntegerField()
    stopped_by = serializers.CharField(allow_blank=True)


class SegmentJobSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=SCHEDULABLE_KIND_CHOICES,
        help_text="preload (set `variables` on every member), reset, or remove_variables.",
    )
    variables = serializers.DictField(required=False, help_text="For preload.")
    variable_names = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=100,
        help_text="For remove_variables.",
    )
    campaign_ends_at = serializers.DateTimeField(
        required=False,
        help_text="For preload: at this moment the values set are taken off again, where the "
        "conversation has not changed them since.",
    )
    notify_emails = serializers.CharField(required=False, allow_blank=True, max_length=500)
    notify_webhook_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    start = serializers.BooleanField(default=False)
    confirm_production = serializers.BooleanField(default=False)
    skip_bad_rows = serializers.BooleanField(default=False)
    write_mode = serializers.ChoiceField(
        choices=WriteMode.choices,
        default=WriteMode.READ_FIRST,
        help_text="Always read_first: each member's state is read to re-check it against the "
        "segment before the write.",
    )

    def validate_write_mode(self, write_mode):
        if write_mode != WriteMode.READ_FIRST:
            raise serializers.ValidationError(
                "A segment job reads each member's state first to check it still belongs to "
                "the segment; it cannot run without undo (single_request)."
            )
        return write_mode


def _segment(pk: int) -> Segment:
    return get_object_or_404(Segment.objects.select_related("environment__project"), pk=pk)


SEGMENT_ERRORS = error_responses(*AUTH_ERRORS, 404)


@extend_schema_view(
    get=extend_schema(
        operation_id="segments_list",
        summary="List segments",
        responses={200: SegmentSerializer(many=True), **error_responses(*AUTH_ERRORS)},
    ),
    post=extend_schema(
        operation_id="segments_create",
        summary="Save a segment (its conditions are validated; nothing is sent to Voiceflow)",
        examples=[
            OpenApiExample(
                "Everyone stuck at a block",
                value={
                    "name": "stuck at payment",
                    "environment": 1,
                    "conditions": [{"field": "position", "flow": "65f0c…", "block": "pay01"}],
                },
                request_only=True,
            ),
            OpenApiExample(
                "A block by name (the project's flow map is loaded)",
                value={
                    "name": "asked for a size",
                    "environment": 1,
                    "conditions": [
                        {"field": "position", "flow_name": "Order pizza", "block_name": "Ask size"}
                    ],
                },
                request_only=True,
            ),
        ],
        responses={201: SegmentSerializer, **error_responses(*AUTH_ERRORS, 400)},
    ),
)
class SegmentListView(generics.ListCreateAPIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": VIEW, "POST": CONTROL}
    serializer_class = SegmentSerializer

    def get_queryset(self):
        found = Segment.objects.order_by("name", "pk")
        environment = query_id(self.request, "environment")
        return found.filter(environment_id=environment) if environment is not None else found

    def create(self, request: Request, *args, **kwargs) -> Response:
        order = SegmentSerializer(data=request.data)
        order.is_valid(raise_exception=True)
        try:
            segment = segments.save_segment(
                order.validated_data["environment"],
                request.user,
                name=order.validated_data["name"],
                conditions=order.validated_data["conditions"],
            )
        except segments.ConditionError as error:
            raise InvalidInput(str(error)) from None
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        operation_id="segments_read", responses={200: SegmentSerializer, **SEGMENT_ERRORS}
    ),
    put=extend_schema(
        operation_id="segments_update",
        responses={200: SegmentSerializer, **error_responses(*AUTH_ERRORS, 400, 404)},
    ),
    delete=extend_schema(
        operation_id="segments_delete",
        responses={204: None, **error_responses(*AUTH_ERRORS, 404, 409)},
    ),
)
class SegmentDetailView(generics.RetrieveUpdateDestroyAPIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": VIEW, "PUT": CONTROL, "DELETE": CONTROL}
    serializer_class = SegmentSerializer
    http_method_names = ["get", "put", "delete", "head", "options"]

    def get_object(self) -> Segment:
        return _segment(self.kwargs["pk"])

    def update(self, request: Request, *args, **kwargs) -> Response:
        segment = self.get_object()
        order = SegmentSerializer(data=request.data)
        order.is_valid(raise_exception=True)
        if order.validated_data["environment"] != segment.environment:
            raise InvalidInput("A segment stays in its environment; save a new one instead.")
        try:
            segments.save_segment(
                segment.environment,
                request.user,
                name=order.validated_data["name"],
                conditions=order.validated_data["conditions"],
                segment=segment,
            )
        except segments.ConditionError as error:
            raise InvalidInput(str(error)) from None
        return Response(SegmentSerializer(segment).data)

    def perform_destroy(self, instance: Segment) -> None:
        if instance.schedules.exists():
            raise ConflictingState("Schedules use this segment; delete them first.")
        instance.delete()


class SegmentPreviewView(APIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": VIEW}

    @extend_schema(
        operation_id="segments_preview",
        summary="Count the segment's members in the index and show a sample",
        responses={200: PreviewSerializer, **SEGMENT_ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        segment = _segment(pk)
        return Response(
            PreviewSerializer(
                segments.preview(segment.environment, segment.conditions).as_dict()
            ).data
        )


class SegmentRefreshView(APIView):
    permission_classes = [RolePermission]
    required_permissions = {"POST": VIEW}

    @extend_schema(
        operation_id="segments_refresh",
        summary="Read the candidates' states from Voiceflow into the index (reads only)",
        request=None,
        responses={200: RefreshSerializer, **SEGMENT_ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        report = segments.refresh_segment(_segment(pk))
        return Response(RefreshSerializer(report).data)


class SegmentJobView(APIView):
    permission_classes = [RolePermission]
    required_permissions = {"POST": CONTROL}

    @extend_schema(
        operation_id="segments_create_job",
        summary="Create a job over the segment's members (a draft unless `start`)",
        description="Each member's live state is checked against the segment again when the job "
        "runs; a member that moved since the index was read is skipped and reported.",
        request=SegmentJobSerializer,
        responses={201: JobSerializer, **error_responses(*AUTH_ERRORS, 400, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        segment = _segment(pk)
        order = SegmentJobSerializer(data=request.data)
        order.is_valid(raise_exception=True)
        options = order.validated_data
        job = create_segment_job(segment, request.user, options)
        if options["start"]:
            _start(job, request, options)
        job.refresh_from_db()
        return Response(
            JobSerializer(job, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


def create_segment_job(segment: Segment, actor, options: dict) -> BulkJob:
    try:
        return bulk.create_job_from_segment(
            segment,
            actor,
            kind=options["kind"],
            variables=options.get("variables"),
            variable_names=options.get("variable_names"),
            campaign_ends_at=options.get("campaign_ends_at"),
            notify_emails=options.get("notify_emails", ""),
            notify_webhook_url=options.get("notify_webhook_url", ""),
        )
    except ValueError as error:
        raise InvalidInput(str(error)) from None
