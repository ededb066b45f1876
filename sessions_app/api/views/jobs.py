"""Bulk jobs over the same engine as the job pages (`sessions_app.bulk`).

Reading a job needs inspect_session; creating, controlling it and its results (which show
variable values) need run_bulk_jobs, as on the pages.
"""

import json

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import bulk, step_up
from ...access import require
from ...bulk import limits as bulk_limits
from ...bulk.parsing import text_lines_as_binary
from ...models import AuditEntry, BulkJob, Environment, WriteMode
from ...personal_data import mask_validation_report
from ..errors import AUTH_ERRORS, ConflictingState, InvalidInput, StepUpRequired, error_responses
from ..filters import KnownFiltersOnly, query_id
from ..json_io import CheckedJSONField, CheckedJSONParser, StateJSONRenderer
from ..permissions import RolePermission

VIEW = "inspect_session"
CONTROL = "run_bulk_jobs"


class ProgressSerializer(serializers.Serializer):
    """The progress contract the job page polls (`bulk.job_progress`)."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    remaining = serializers.IntegerField()
    percent = serializers.FloatField()
    rate_per_minute = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.IntegerField(allow_null=True)
    stop_reason = serializers.CharField(allow_blank=True)
    is_finished = serializers.BooleanField()


class JobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    created_by = serializers.CharField(
        source="created_by.get_username", default=None, read_only=True
    )
    notify_webhook_url = serializers.CharField(
        read_only=True,
        help_text="Where the job's end is posted (Slack-compatible JSON); empty: none.",
    )
    validation_report = serializers.JSONField(
        read_only=True,
        help_text="valid_rows, bad_rows, problem_count, fatal, and problems (line, column, "
        "value, message).",
    )

    class Meta:
        model = BulkJob
        fields = [
            "id",
            "kind",
            "status",
            "environment",
            "source_name",
            "source_format",
            "undo_of",
            "segment",
            "schedule",
            "variable_names",
            "campaign_ends_at",
            "campaign_end_job",
            "notify_emails",
            "notify_webhook_url",
            "total_items",
            "write_mode",
            "validation_report",
            "stop_reason",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "progress",
        ]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, job: BulkJob) -> dict:
        return bulk.job_progress(job)

    def to_representation(self, instance):
        shown = super().to_representation(instance)
        shown["validation_report"] = mask_validation_report(
            shown["validation_report"], self.context["request"].user
        )
        return shown


class JobCreateSerializer(serializers.Serializer):
    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())
    kind = serializers.ChoiceField(choices=[BulkJob.Kind.PRELOAD, BulkJob.Kind.RESET])
    file = serializers.FileField(
        required=False,
        help_text="Multipart only: a CSV (userID column + one column per variable, typed by "
        "`name:type` headers or by a type row of types under plain names, `#types` in its userID "
        'cell), JSON Lines ({"userID": …, "variables": {…}} a line), or a list of userIDs one a '
        "line.",
    )
    format = serializers.ChoiceField(
        choices=[bulk.Format.CSV, bulk.Format.JSONL, bulk.Format.USER_LIST],
        required=False,
        help_text="Of the file: csv, jsonl or list. Default: from the file name, else csv.",
    )
    user_ids = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False, allow_blank=True),
        required=False,
        max_length=100_000,
        help_text="Instead of a file: the userIDs, each gets `variables` (preload) or is reset.",
    )
    variables = CheckedJSONField(
        required=False,
        help_text="For a preload of a userID list: the variables every user gets (an object; in "
        "a multipart form, its JSON text).",
    )
    start = serializers.BooleanField(default=False, help_text="Start the job at once.")
    confirm_production = serializers.BooleanField(
        default=False, help_text="Required to start a job on a production environment."
    )
    skip_bad_rows = serializers.BooleanField(
        default=False, help_text="Start even though some rows had problems: run the valid rows."
    )
    write_mode = serializers.ChoiceField(
        choices=WriteMode.choices,
        default=WriteMode.READ_FIRST,
        help_text="read_first: each state is read before its write (audited, undoable; two "
        "requests a user). single_request: no undo for this job, one request a user.",
    )

    def validate_variables(self, variables):
        if not isinstance(variables, dict) or not variables:
            raise serializers.ValidationError(
                'The variables must be a JSON object with at least one name, e.g. {"plan": "gold"}.'
            )
        return variables

    def validate(self, attrs):
        if ("file" in attrs) == ("user_ids" in attrs):
            raise serializers.ValidationError(
                "Send either a file (multipart) or user_ids, not both."
            )
        if "user_ids" in attrs and not attrs["user_ids"]:
            raise serializers.ValidationError({"user_ids": "Give at least one userID."})
        broken = next((u for u in attrs.get("user_ids", []) if "\n" in u or "\r" in u), None)
        if broken is not None:
            raise serializers.ValidationError(
                {"user_ids": f"A userID cannot contain a line break: {broken!r}."}
            )
        return attrs


class StartSerializer(serializers.Serializer):
    confirm_production = serializers.BooleanField(default=False)
    skip_bad_rows = serializers.BooleanField(default=False)
    write_mode = serializers.ChoiceField(choices=WriteMode.choices, default=WriteMode.READ_FIRST)


class CSVRenderer(BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; an error is still JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


def environment_needs_confirmation(options: dict) -> bool:
    return options["environment"].is_production and not options["confirm_production"]


def _start(job: BulkJob, request: Request, options: dict) -> None:
    if step_up.job_needs_step_up(job) and step_up.api_caller_needs_step_up(request):
        raise StepUpRequired()
    user = request.user
    try:
        bulk.start_job(
            job,
            user,
            confirmed_production=options["confirm_production"],
            skip_bad_rows=options["skip_bad_rows"],
            write_mode=options.get("write_mode", WriteMode.READ_FIRST),
        )
    except bulk.JobStateError as error:
        raise ConflictingState(str(error), details={"job": job.pk}) from None


def _job(pk: int) -> BulkJob:
    return get_object_or_404(
        BulkJob.objects.select_related("environment__project", "created_by"), pk=pk
    )


JOB_ERRORS = error_responses(*AUTH_ERRORS, 404, 409)


@extend_schema_view(
    get=extend_schema(
        operation_id="jobs_list",
        summary="List bulk jobs, newest first",
        parameters=[
            OpenApiParameter("environment", OpenApiTypes.INT),
            OpenApiParameter("status", OpenApiTypes.STR, enum=BulkJob.Status.values),
        ],
        responses={200: JobSerializer(many=True), **error_responses(*AUTH_ERRORS)},
    ),
    post=extend_schema(
        operation_id="jobs_create",
        summary="Create a bulk job from a file or a list of userIDs",
        description="Stores the input and answers at once with the job in status `validating`; "
        "a worker checks every row (nothing is sent to Voiceflow) with progress in "
        "`progress.checking`, then the job is a `draft` with its validation report (or "
        "`refused` when no row can run). It stays a draft unless `start` is true, in which "
        "case it starts as soon as the check allows. An input whose first bytes show that no "
        "row can run (an image, an empty file, a header alone) is refused with 400. A multipart "
        "upload carries `file`; a JSON body carries `user_ids`.",
        request={
            "multipart/form-data": JobCreateSerializer,
            "application/json": JobCreateSerializer,
        },
        examples=[
            OpenApiExample(
                "Preload a list of userIDs",
                value={
                    "environment": 1,
                    "kind": "preload",
                    "user_ids": ["customer-1", "customer-2"],
                    "variables": {"plan": "gold"},
                },
                request_only=True,
                media_type="application/json",
            )
        ],
        responses={201: JobSerializer, **JOB_ERRORS},
    ),
)
class JobListView(KnownFiltersOnly, generics.ListCreateAPIView):
    known_filters = ("environment", "status")
    permission_classes = [RolePermission]
    required_permissions = {"GET": VIEW, "POST": CONTROL}
    serializer_class = JobSerializer
    parser_classes = [CheckedJSONParser, MultiPartParser]

    def get_queryset(self):
        jobs = BulkJob.objects.select_related("created_by").order_by("-created_at", "-pk")
        environment = query_id(self.request, "environment")
        if environment is not None:
            jobs = jobs.filter(environment_id=environment)
        if self.request.query_params.get("status"):
            jobs = jobs.filter(status=self.request.query_params["status"])
        return jobs

    def create(self, request: Request, *args, **kwargs) -> Response:
        order = JobCreateSerializer(data=request.data)
        order.is_valid(raise_exception=True)
        options = order.validated_data
        kind = options["kind"]
        variables = options.get("variables")
        if options["start"] and step_up.api_caller_needs_step_up(request):
            # Whether the job will need it is known only once its input is checked.
            raise StepUpRequired()
        if options["start"] and environment_needs_confirmation(options):
            raise ConflictingState(
                "This is a production environment: confirm that the job may change live "
                "conversations (confirm_production)."
            )
        start = (
            {
                "confirm_production": options["confirm_production"],
                "skip_bad_rows": options["skip_bad_rows"],
            }
            if options["start"]
            else None
        )
        if "file" in options:
            upload = options["file"]
            source_format = options.get("format") or bulk.format_for(upload.name, kind)
            binary, source_name = upload, upload.name
        else:
            text = "".join(f"{user_id}\n" for user_id in options["user_ids"])
            source_format, binary = bulk.Format.USER_LIST, text_lines_as_binary(text)
            source_name = "user_ids"
        try:
            if "file" in options:
                bulk_limits.check_upload(options["file"])
            else:
                bulk_limits.check_pasted(text)
            # Stored and checked by a worker: the answer comes at once, with status
            # "validating" and the check's progress; `start` starts it once checked.
            job = bulk.create_job(
                options["environment"],
                request.user,
                kind=kind,
                source_format=source_format,
                binary=binary,
                source_name=source_name,
                variables=variables,
                start=start,
            )
        except bulk.InputRefused as refusal:
            raise InvalidInput(str(refusal), details={"problems": refusal.problems}) from None
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        job.refresh_from_db()
        return Response(
            JobSerializer(job, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


@extend_schema_view(
    get=extend_schema(
        operation_id="jobs_read",
        summary="Read a job: status, counts, rate and ETA (the job page's progress)",
        responses={200: JobSerializer, **error_responses(*AUTH_ERRORS, 404)},
    ),
    delete=extend_schema(
        operation_id="jobs_discard",
        summary="Discard a draft job (a started job stays on record)",
        responses={204: None, **JOB_ERRORS},
    ),
)
class JobDetailView(generics.RetrieveDestroyAPIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": VIEW, "DELETE": CONTROL}
    serializer_class = JobSerializer

    def get_object(self) -> BulkJob:
        return _job(self.kwargs["pk"])

    def perform_destroy(self, instance: BulkJob) -> None:
        try:
            bulk.discard_draft(instance)
        except bulk.JobStateError as error:
            raise ConflictingState(str(error)) from None


class JobControlView(APIView):
    """POST /jobs/{id}/<control>: one class per control, named by `control`."""

    permission_classes = [RolePermission]
    required_permissions = {"POST": CONTROL}
    control: str = ""

    def post(self, request: Request, pk: int) -> Response:
        job = _job(pk)
        answer_status = status.HTTP_200_OK
        try:
            if self.control == "start":
                options = StartSerializer(data=request.data)
                options.is_valid(raise_exception=True)
                _start(job, request, options.validated_data)
            elif self.control == "undo":
                job = bulk.create_undo_job(job, request.user)
                answer_status = status.HTTP_201_CREATED
            elif self.control == "retry-failed":
                bulk.retry_failed(job, request.user)
            else:
                control = {
                    "pause": bulk.pause_job,
                    "resume": bulk.resume_job,
                    "cancel": bulk.cancel_job,
                }[self.control]
                control(job, request.user, source=AuditEntry.Source.API)
        except bulk.JobStateError as error:
            raise ConflictingState(str(error), details={"job": job.pk}) from None
        job.refresh_from_db()
        return Response(JobSerializer(job, context={"request": request}).data, status=answer_status)


def control_view(control: str, summary: str, description: str = ""):
    request = StartSerializer if control == "start" else None
    ok = 201 if control == "undo" else 200
    view = type(
        f"Job{control.title().replace('-', '')}View",
        (JobControlView,),
        {"control": control},
    )
    return extend_schema_view(
        post=extend_schema(
            operation_id=f"jobs_{control.replace('-', '_')}",
            summary=summary,
            description=description,
            request=request,
            responses={ok: JobSerializer, **JOB_ERRORS},
        )
    )(view)


JobStartView = control_view(
    "start",
    "Start a draft job",
    "A production environment needs confirm_production; a file with bad rows needs "
    "skip_bad_rows. Otherwise 409 with the reason.",
)
JobPauseView = control_view("pause", "Pause a queued or running job")
JobResumeView = control_view("resume", "Resume a paused job")
JobCancelView = control_view("cancel", "Cancel a job (items not started are skipped)")
JobRetryFailedView = control_view("retry-failed", "Run the failed items of a finished job again")
JobUndoView = control_view(
    "undo",
    "Create a draft job that undoes this one",
    "Puts back the state before each write the job applied. The undo job is a draft: start it "
    "with POST /jobs/{id}/start.",
)


class JobResultsView(APIView):
    permission_classes = [RolePermission]
    required_permissions = {"GET": CONTROL}
    renderer_classes = [StateJSONRenderer, CSVRenderer]

    @extend_schema(
        operation_id="jobs_results",
        summary="Download a job's results (CSV)",
        description="One line per item: userID, line, outcome, reason, upstream_status, "
        "variables_before, variables_after.",
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The results CSV."),
            **error_responses(*AUTH_ERRORS, 404),
        },
    )
    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        # The file holds the variables before and after every write, personal data included.
        require(request, "see_personal_data")
        job = _job(pk)
        response = StreamingHttpResponse(
            bulk.iter_results_csv(job), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-results.csv"'
        return response
