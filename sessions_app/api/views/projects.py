"""Projects and their environments. Reading needs inspect_session; changes need manage_projects
and go through the audited functions of `admin_actions`, like the project pages."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ... import step_up
from ...admin_actions import (
    check_connection,
    do_delete_environment,
    do_delete_project,
    do_save_environment,
    do_save_project,
)
from ...models import AuditEntry, Environment, Project
from ..errors import AUTH_ERRORS, StepUpRequired, error_responses
from ..filters import KnownFiltersOnly, query_id
from ..permissions import RolePermission
from ..serializers import ConnectionCheckSerializer, EnvironmentSerializer, ProjectSerializer

READ_AND_MANAGE = {
    "GET": "inspect_session",
    "POST": "manage_projects",
    "PATCH": "manage_projects",
    "DELETE": "manage_projects",
}
SECRETS = ("api_key", "access_token")


def _confirmed(request: Request) -> None:
    """A project or environment changes (its credentials, where writes go, whether production
    asks for confirmation): a browser session must have confirmed its password recently, as on
    the project pages. Token-authenticated scripts are not asked (step_up.py)."""
    if step_up.api_caller_needs_step_up(request):
        raise StepUpRequired()


def _projects():
    # Secrets are never read to answer a request; a key that no longer decrypts cannot break it.
    return Project.objects.defer(*SECRETS).prefetch_related("environments")


@extend_schema_view(
    get=extend_schema(
        operation_id="projects_list",
        summary="List projects",
        responses={200: ProjectSerializer(many=True), **error_responses(*AUTH_ERRORS)},
    ),
    post=extend_schema(
        operation_id="projects_create",
        summary="Create a project",
        responses={201: ProjectSerializer, **error_responses(*AUTH_ERRORS)},
    ),
)
class ProjectListView(KnownFiltersOnly, generics.ListCreateAPIView):
    permission_classes = [RolePermission]
    required_permissions = READ_AND_MANAGE
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return _projects()

    def perform_create(self, serializer: ProjectSerializer) -> None:
        _confirmed(self.request)
        project = Project(**serializer.validated_data)
        do_save_project(project, actor=self.request.user, source=AuditEntry.Source.API)
        serializer.instance = project


@extend_schema_view(
    get=extend_schema(
        operation_id="projects_read",
        summary="Read a project",
        responses={200: ProjectSerializer, **error_responses(*AUTH_ERRORS, 404)},
    ),
    patch=extend_schema(
        operation_id="projects_update",
        summary="Change a project",
        description="Only the fields sent change. A secret left out keeps its stored value.",
        responses={200: ProjectSerializer, **error_responses(*AUTH_ERRORS, 404)},
    ),
    delete=extend_schema(
        operation_id="projects_delete",
        summary="Delete a project and its environments",
        responses={204: None, **error_responses(*AUTH_ERRORS, 404, 409)},
    ),
)
class ProjectDetailView(generics.RetrieveUpdateDestroyAPIView):
    permission_classes = [RolePermission]
    required_permissions = READ_AND_MANAGE
    serializer_class = ProjectSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return _projects()

    def perform_update(self, serializer: ProjectSerializer) -> None:
        _confirmed(self.request)
        project = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(project, name, value)
        do_save_project(project, actor=self.request.user, source=AuditEntry.Source.API)

    def perform_destroy(self, instance: Project) -> None:
        _confirmed(self.request)
        do_delete_project(instance, actor=self.request.user, source=AuditEntry.Source.API)


@extend_schema_view(
    get=extend_schema(
        operation_id="environments_list",
        summary="List environments",
        parameters=[
            OpenApiParameter("project", OpenApiTypes.INT, description="Only this project's.")
        ],
        responses={200: EnvironmentSerializer(many=True), **error_responses(*AUTH_ERRORS)},
    ),
    post=extend_schema(
        operation_id="environments_create",
        summary="Add an environment to a project",
        responses={201: EnvironmentSerializer, **error_responses(*AUTH_ERRORS)},
    ),
)
class EnvironmentListView(KnownFiltersOnly, generics.ListCreateAPIView):
    known_filters = ("project",)
    permission_classes = [RolePermission]
    required_permissions = READ_AND_MANAGE
    serializer_class = EnvironmentSerializer

    def get_queryset(self):
        environments = Environment.objects.select_related("project").order_by(
            "project__name", "label"
        )
        project = query_id(self.request, "project")
        return environments if project is None else environments.filter(project_id=project)

    def perform_create(self, serializer: EnvironmentSerializer) -> None:
        _confirmed(self.request)
        environment = Environment(**serializer.validated_data)
        do_save_environment(environment, actor=self.request.user, source=AuditEntry.Source.API)
        serializer.instance = environment


@extend_schema_view(
    get=extend_schema(
        operation_id="environments_read",
        summary="Read an environment",
        responses={200: EnvironmentSerializer, **error_responses(*AUTH_ERRORS, 404)},
    ),
    patch=extend_schema(
        operation_id="environments_update",
        summary="Change an environment",
        responses={200: EnvironmentSerializer, **error_responses(*AUTH_ERRORS, 404)},
    ),
    delete=extend_schema(
        operation_id="environments_delete",
        summary="Delete an environment",
        responses={204: None, **error_responses(*AUTH_ERRORS, 404, 409)},
    ),
)
class EnvironmentDetailView(generics.RetrieveUpdateDestroyAPIView):
    permission_classes = [RolePermission]
    required_permissions = READ_AND_MANAGE
    serializer_class = EnvironmentSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]
    queryset = Environment.objects.select_related("project")

    def perform_update(self, serializer: EnvironmentSerializer) -> None:
        _confirmed(self.request)
        environment = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(environment, name, value)
        do_save_environment(environment, actor=self.request.user, source=AuditEntry.Source.API)

    def perform_destroy(self, instance: Environment) -> None:
        _confirmed(self.request)
        do_delete_environment(instance, actor=self.request.user, source=AuditEntry.Source.API)


class TestConnectionView(APIView):
    permission_classes = [RolePermission]
    required_permissions = {"POST": "manage_projects"}

    @extend_schema(
        operation_id="environments_test_connection",
        summary="Test an environment's connection to Voiceflow",
        description="A harmless read with the stored credentials. The answer is 200 either way; "
        "`ok` says whether Voiceflow accepted them and `message` what happened.",
        request=None,
        responses={200: ConnectionCheckSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def post(self, request: Request, pk: int) -> Response:
        environment = get_object_or_404(Environment.objects.select_related("project"), pk=pk)
        ok, message = check_connection(environment)
        return Response({"ok": ok, "message": message}, status=status.HTTP_200_OK)
