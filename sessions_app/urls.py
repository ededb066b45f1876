from django.urls import path

from .views import audit, edit_state, home, jobs, projects, reset, sessions, tokens, workspace

urlpatterns = [
    path("", home.home, name="home"),
    path("sessions/<int:environment_id>/inspect", sessions.inspect, name="session_inspect"),
    path("sessions/<int:environment_id>/watch", sessions.watch, name="session_watch"),
    path("sessions/<int:environment_id>/download", sessions.download, name="session_download"),
    path(
        "sessions/<int:environment_id>/set-variable",
        sessions.set_variable,
        name="session_set_variable",
    ),
    path(
        "sessions/<int:environment_id>/remove-variable",
        sessions.remove_variable,
        name="session_remove_variable",
    ),
    path(
        "sessions/<int:environment_id>/edit-state", edit_state.edit_state, name="session_edit_state"
    ),
    path("sessions/<int:environment_id>/reset", reset.reset_session, name="session_reset"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/<int:entry_id>/", audit.audit_detail, name="audit_detail"),
    path("audit/<int:entry_id>/restore", audit.audit_restore, name="audit_restore"),
    path("workspace/environment", workspace.switch_environment, name="switch_environment"),
    path("projects/", projects.project_list, name="projects"),
    path("projects/new", projects.project_create, name="project_create"),
    path("projects/<int:pk>/edit", projects.project_edit, name="project_edit"),
    path("projects/<int:pk>/delete", projects.project_delete, name="project_delete"),
    path(
        "environments/<int:pk>/test-connection",
        projects.environment_test_connection,
        name="environment_test_connection",
    ),
    path("account/tokens", tokens.token_list, name="api_tokens"),
    path("account/tokens/<str:prefix>/revoke", tokens.token_revoke, name="api_token_revoke"),
    path("jobs/", jobs.job_list, name="job_list"),
    path("jobs/new", jobs.job_new, name="job_new"),
    path("jobs/<int:pk>/", jobs.job_detail, name="job_detail"),
    path("jobs/<int:pk>/progress", jobs.job_progress, name="job_progress"),
    path("jobs/<int:pk>/preview", jobs.job_preview, name="job_preview"),
    path("jobs/<int:pk>/results.csv", jobs.job_results, name="job_results"),
    path("jobs/<int:pk>/start", jobs.job_start, name="job_start"),
    path("jobs/<int:pk>/pause", jobs.job_pause, name="job_pause"),
    path("jobs/<int:pk>/resume", jobs.job_resume, name="job_resume"),
    path("jobs/<int:pk>/cancel", jobs.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry", jobs.job_retry, name="job_retry"),
    path("jobs/<int:pk>/undo", jobs.job_undo, name="job_undo"),
    path("jobs/<int:pk>/discard", jobs.job_discard, name="job_discard"),
]
