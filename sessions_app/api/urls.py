"""The REST API, versioned under /api/v1/. The schema is at schema/, browsable docs at docs/;
both need a signed-in person or a token, like everything else."""

from django.contrib.auth.decorators import login_required
from django.urls import path, re_path, register_converter
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated

from .errors import error_response
from .views import audit, jobs, known_sessions, projects, schedules, segments, sessions, tokens


class IdConverter:
    """A database id: digits that fit a 64-bit column; anything longer is simply not found."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
def no_such_endpoint(request, path: str = ""):
    return error_response(404, "not_found", "No such API endpoint; see /api/v1/docs/.")


ENVIRONMENT = "environments/<id:environment_id>"

urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="api-schema",
    ),
    path(
        "docs/",
        # A page for people: an anonymous visitor is sent to the sign-in page, not answered 401.
        login_required(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema",
                template_name="api/swagger_ui.html",
                permission_classes=[IsAuthenticated],
            )
        ),
        name="api-docs",
    ),
    path("projects", projects.ProjectListView.as_view(), name="api-projects"),
    path("projects/<id:pk>", projects.ProjectDetailView.as_view(), name="api-project"),
    path("environments", projects.EnvironmentListView.as_view(), name="api-environments"),
    path("environments/<id:pk>", projects.EnvironmentDetailView.as_view(), name="api-environment"),
    path(
        "environments/<id:pk>/test-connection",
        projects.TestConnectionView.as_view(),
        name="api-environment-test-connection",
    ),
    path(
        f"{ENVIRONMENT}/sessions/state",
        sessions.SessionStateView.as_view(),
        name="api-session-state",
    ),
    path(
        f"{ENVIRONMENT}/sessions/state/variables",
        sessions.SessionVariablesView.as_view(),
        name="api-session-variables",
    ),
    path(
        f"{ENVIRONMENT}/sessions/interact",
        sessions.SessionInteractView.as_view(),
        name="api-session-interact",
    ),
    path(
        f"{ENVIRONMENT}/known-sessions",
        known_sessions.KnownSessionListView.as_view(),
        name="api-known-sessions",
    ),
    path("audit", audit.AuditListView.as_view(), name="api-audit"),
    path("audit/<id:pk>", audit.AuditDetailView.as_view(), name="api-audit-entry"),
    path("audit/<id:pk>/restore", audit.AuditRestoreView.as_view(), name="api-audit-restore"),
    path("jobs", jobs.JobListView.as_view(), name="api-jobs"),
    path("jobs/<id:pk>", jobs.JobDetailView.as_view(), name="api-job"),
    path("jobs/<id:pk>/start", jobs.JobStartView.as_view(), name="api-job-start"),
    path("jobs/<id:pk>/pause", jobs.JobPauseView.as_view(), name="api-job-pause"),
    path("jobs/<id:pk>/resume", jobs.JobResumeView.as_view(), name="api-job-resume"),
    path("jobs/<id:pk>/cancel", jobs.JobCancelView.as_view(), name="api-job-cancel"),
    path(
        "jobs/<id:pk>/retry-failed", jobs.JobRetryFailedView.as_view(), name="api-job-retry-failed"
    ),
    path("jobs/<id:pk>/undo", jobs.JobUndoView.as_view(), name="api-job-undo"),
    path("jobs/<id:pk>/results", jobs.JobResultsView.as_view(), name="api-job-results"),
    path("segments", segments.SegmentListView.as_view(), name="api-segments"),
    path("segments/<id:pk>", segments.SegmentDetailView.as_view(), name="api-segment"),
    path(
        "segments/<id:pk>/preview",
        segments.SegmentPreviewView.as_view(),
        name="api-segment-preview",
    ),
    path(
        "segments/<id:pk>/refresh",
        segments.SegmentRefreshView.as_view(),
        name="api-segment-refresh",
    ),
    path("segments/<id:pk>/jobs", segments.SegmentJobView.as_view(), name="api-segment-jobs"),
    path("schedules", schedules.ScheduleListView.as_view(), name="api-schedules"),
    path("schedules/<id:pk>", schedules.ScheduleDetailView.as_view(), name="api-schedule"),
    path("tokens", tokens.TokenListView.as_view(), name="api-tokens"),
    path("tokens/<str:prefix>", tokens.TokenDetailView.as_view(), name="api-token"),
    # Any path at all, a newline (`%0A`) included: `.` alone would stop at it and leave the
    # request to Django's HTML 404.
    re_path(r"^(?P<path>[\s\S]*)$", no_such_endpoint),
]
