"""Scheduled jobs (`sessions_app.schedules`): listed, created, changed, paused and deleted.

Every method needs run_bulk_jobs: a schedule starts jobs. A run acts as the schedule's owner,
whose role is checked again when it runs.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from ... import schedules, step_up
from ...models import BulkJob, Environment, Schedule, Segment
from ..errors import AUTH_ERRORS, InvalidInput, StepUpRequired, error_responses
from ..permissions import RolePermission

CONTROL = "run_bulk_jobs"


class ScheduleSerializer(serializers.ModelSerializer):
    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), required=False, allow_null=True
    )
    template_job = serializers.PrimaryKeyRelatedField(
        queryset=BulkJob.objects.all(),
        required=False,
        allow_null=True,
        help_text="Instead of a segment: an earlier job whose rows run again.",
    )
    kind = serializers.ChoiceField(choices=schedules.SCHEDULABLE_KIND_CHOICES)
    variables = serializers.DictField(required=False, allow_null=True)
    variable_names = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100
    )
    cron = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Repeat: minute hour day-of-month month day-of-week, in `timezone`.",
    )
    run_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Start once.")
    timezone = serializers.CharField(required=False, default="UTC")
    owner = serializers.CharField(source="created_by.get_username", read_only=True)
    runs = serializers.SerializerMethodField()
    when = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        fields = [
            "id",
            "name",
            "environment",
            "kind",
            "segment",
            "template_job",
            "variables",
            "variable_names",
            "run_at",
            "cron",
            "timezone",
            "when",
            "confirmed_production",
            "paused",
            "notify_emails",
            "notify_webhook_url",
            "owner",
            "last_refusal",
            "runs",
        ]
        read_only_fields = ["id", "owner", "last_refusal", "runs", "when"]

    def get_runs(self, schedule: Schedule) -> list[int]:
        return list(schedule.runs.order_by("-pk").values_list("pk", flat=True)[:20])

    def get_when(self, schedule: Schedule) -> str:
        return schedules.next_runs(schedule)


def _save(request: Request, schedule: Schedule | None) -> Schedule:
    # Its runs start unattended, so scheduling is high-impact work, whatever the job does.
    if step_up.api_caller_needs_step_up(request):
        raise StepUpRequired()
    order = ScheduleSerializer(data=request.data)
    order.is_valid(raise_exception=True)
    data = order.validated_data
    try:
        saved = schedules.save_schedule(
            data["environment"],
            request.user,
            name=data["name"],
            kind=data["kind"],
            segment=data.get("segment"),
            template_job=data.get("template_job"),
            variables=data.get("variables"),
            variable_names=data.get("variable_names"),
            run_at=data.get("run_at"),
            cron=data.get("cron", ""),
            time_zone=data.get("timezone", "UTC"),
            confirmed_production=data.get("confirmed_production", False),
            notify_emails=data.get("notify_emails", ""),
            notify_webhook_url=data.get("notify_webhook_url", ""),
            schedule=schedule,
        )
    except schedules.ScheduleError as error:
        raise InvalidInput(str(error)) from None
    if "paused" in data:
        schedules.set_paused(saved, data["paused"])
    return saved


@extend_schema_view(
    get=extend_schema(
        operation_id="schedules_list",
        responses={200: ScheduleSerializer(many=True), **error_responses(*AUTH_ERRORS)},
    ),
    post=extend_schema(
        operation_id="schedules_create",
        summary="Schedule a job at a time or repeating (each run is a job of its own)",
        examples=[
            OpenApiExample(
                "Every night at 02:00, reset sessions idle for more than 30 days",
                value={
                    "name": "nightly clean-up",
                    "environment": 1,
                    "kind": "reset",
                    "segment": 3,
                    "cron": "0 2 * * *",
                    "timezone": "Europe/Berlin",
                },
                request_only=True,
            )
        ],
        responses={201: ScheduleSerializer, **error_responses(*AUTH_ERRORS, 400)},
    ),
)
class ScheduleListView(generics.ListCreateAPIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": CONTROL, "POST": CONTROL}
    serializer_class = ScheduleSerializer

    def get_queryset(self):
        return Schedule.objects.select_related("created_by").order_by("name", "pk")

    def create(self, request: Request, *args, **kwargs) -> Response:
        return Response(
            ScheduleSerializer(_save(request, None)).data, status=status.HTTP_201_CREATED
        )


@extend_schema_view(
    get=extend_schema(
        operation_id="schedules_read",
        responses={200: ScheduleSerializer, **error_responses(*AUTH_ERRORS, 404)},
    ),
    put=extend_schema(
        operation_id="schedules_update",
        summary="Change a schedule (set `paused` to pause or resume it)",
        responses={200: ScheduleSerializer, **error_responses(*AUTH_ERRORS, 400, 404)},
    ),
    delete=extend_schema(
        operation_id="schedules_delete",
        summary="Delete a schedule; its runs stay on record",
        responses={204: None, **error_responses(*AUTH_ERRORS, 404)},
    ),
)
class ScheduleDetailView(generics.RetrieveUpdateDestroyAPIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": CONTROL, "PUT": CONTROL, "DELETE": CONTROL}
    serializer_class = ScheduleSerializer
    http_method_names = ["get", "put", "delete", "head", "options"]

    def get_object(self) -> Schedule:
        return get_object_or_404(
            Schedule.objects.select_related("created_by"), pk=self.kwargs["pk"]
        )

    def update(self, request: Request, *args, **kwargs) -> Response:
        return Response(ScheduleSerializer(_save(request, self.get_object())).data)

    def perform_destroy(self, instance: Schedule) -> None:
        schedules.delete_schedule(instance)
