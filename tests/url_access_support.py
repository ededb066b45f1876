"""Every URL of the product outside Django admin and who may use it (ACCESS), for the tests that
visit every URL: the permission matrix, sign-in protection, the secret-leak check.

A URL pattern without an entry in ACCESS fails `test_every_url_has_an_entry`
(test_permission_matrix.py), so a new page or endpoint cannot ship without a decision about who may
use it.
"""

from django.urls import URLResolver, get_resolver

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed in"  # any signed-in person, whatever their role

# (url name, method) → who may: PUBLIC, SIGNED_IN, or the permission codename it needs.
ACCESS: dict[tuple[str, str], str] = {
    ("login", "GET"): PUBLIC,
    ("login", "POST"): PUBLIC,
    ("logout", "POST"): SIGNED_IN,
    ("healthz", "GET"): PUBLIC,
    ("favicon", "GET"): PUBLIC,
    ("home", "GET"): SIGNED_IN,  # without a role it says so, and shows nothing
    ("step_up", "GET"): SIGNED_IN,
    ("step_up", "POST"): SIGNED_IN,
    ("api_tokens", "GET"): SIGNED_IN,  # each person's own tokens
    ("api_tokens", "POST"): SIGNED_IN,
    ("api_token_revoke", "POST"): SIGNED_IN,
    ("password_change", "GET"): SIGNED_IN,  # each person's own password
    ("password_change", "POST"): SIGNED_IN,
    ("switch_environment", "POST"): "inspect_session",
    ("session_inspect", "GET"): "inspect_session",
    ("session_watch", "GET"): "inspect_session",
    ("session_download", "GET"): "inspect_session",
    ("session_set_variable", "POST"): "edit_variables",
    ("session_remove_variable", "POST"): "edit_variables",
    ("session_edit_state", "GET"): "replace_state",
    ("session_edit_state", "POST"): "replace_state",
    ("session_reset", "GET"): "reset_session",
    ("session_reset", "POST"): "reset_session",
    ("session_turns", "GET"): "inspect_session",
    ("session_timeline", "GET"): "inspect_session",
    ("session_compare", "GET"): "view_audit",  # the states come from the audit trail
    ("session_link", "GET"): "inspect_session",
    ("session_console_send", "POST"): "interact_session",
    ("session_console_stream", "POST"): "interact_session",
    ("session_console_emit", "POST"): "interact_session",
    ("session_console_state", "GET"): "interact_session",
    ("find_by_activity", "GET"): "inspect_session",
    ("known_session_open", "GET"): "inspect_session",
    ("audit_entry_session", "GET"): "view_audit",  # and inspect_session, which every role has
    ("import_transcripts", "POST"): "inspect_session",
    ("audit_list", "GET"): "view_audit",
    ("audit_detail", "GET"): "view_audit",
    ("audit_restore", "GET"): "replace_state",
    ("audit_restore", "POST"): "replace_state",
    ("projects", "GET"): "manage_projects",
    ("project_create", "GET"): "manage_projects",
    ("project_create", "POST"): "manage_projects",
    ("project_edit", "GET"): "manage_projects",
    ("project_edit", "POST"): "manage_projects",
    ("project_delete", "GET"): "manage_projects",
    ("project_delete", "POST"): "manage_projects",
    ("project_flow_map_upload", "POST"): "manage_projects",
    ("project_flow_map_refresh", "POST"): "manage_projects",
    ("environment_test_connection", "POST"): "manage_projects",
    ("team", "GET"): "manage_team",
    ("team_new", "GET"): "manage_team",
    ("team_new", "POST"): "manage_team",
    ("team_role", "POST"): "manage_team",
    ("team_deactivate", "POST"): "manage_team",
    ("team_reactivate", "POST"): "manage_team",
    ("worker_list", "GET"): "run_bulk_jobs",
    ("job_list", "GET"): "inspect_session",
    ("job_new", "GET"): "run_bulk_jobs",
    ("job_new", "POST"): "run_bulk_jobs",
    ("job_detail", "GET"): "inspect_session",
    ("job_progress", "GET"): "inspect_session",
    ("job_preview", "GET"): "run_bulk_jobs",
    ("job_results", "GET"): "run_bulk_jobs",
    ("job_start", "POST"): "run_bulk_jobs",
    ("job_pause", "POST"): "run_bulk_jobs",
    ("job_resume", "POST"): "run_bulk_jobs",
    ("job_cancel", "POST"): "run_bulk_jobs",
    ("job_retry", "POST"): "run_bulk_jobs",
    ("job_undo", "POST"): "run_bulk_jobs",
    ("job_discard", "POST"): "run_bulk_jobs",
    ("segment_list", "GET"): "inspect_session",
    ("segment_list", "POST"): "run_bulk_jobs",
    ("segment_detail", "GET"): "inspect_session",
    ("segment_edit", "POST"): "run_bulk_jobs",
    ("segment_refresh", "POST"): "inspect_session",  # reads states only, like an import
    ("segment_job", "POST"): "run_bulk_jobs",
    ("segment_schedule", "POST"): "run_bulk_jobs",
    ("schedule_list", "GET"): "run_bulk_jobs",
    ("schedule_edit", "GET"): "run_bulk_jobs",
    ("schedule_edit", "POST"): "run_bulk_jobs",
    ("schedule_pause", "POST"): "run_bulk_jobs",
    ("schedule_resume", "POST"): "run_bulk_jobs",
    ("schedule_delete", "POST"): "run_bulk_jobs",
    # ---- the API ----
    ("api-schema", "GET"): SIGNED_IN,
    ("api-docs", "GET"): SIGNED_IN,
    ("api-projects", "GET"): "inspect_session",
    ("api-projects", "POST"): "manage_projects",
    ("api-project", "GET"): "inspect_session",
    ("api-project", "PATCH"): "manage_projects",
    ("api-project", "DELETE"): "manage_projects",
    ("api-environments", "GET"): "inspect_session",
    ("api-environments", "POST"): "manage_projects",
    ("api-environment", "GET"): "inspect_session",
    ("api-environment", "PATCH"): "manage_projects",
    ("api-environment", "DELETE"): "manage_projects",
    ("api-environment-test-connection", "POST"): "manage_projects",
    ("api-session-state", "GET"): "inspect_session",
    ("api-session-state", "PUT"): "replace_state",
    ("api-session-state", "DELETE"): "reset_session",
    ("api-session-variables", "PATCH"): "edit_variables",
    ("api-session-interact", "POST"): "interact_session",
    ("api-known-sessions", "GET"): "inspect_session",
    ("api-audit", "GET"): "view_audit",
    ("api-audit-entry", "GET"): "view_audit",
    ("api-audit-restore", "POST"): "replace_state",
    ("api-jobs", "GET"): "inspect_session",
    ("api-jobs", "POST"): "run_bulk_jobs",
    ("api-job", "GET"): "inspect_session",
    ("api-job", "DELETE"): "run_bulk_jobs",
    ("api-job-start", "POST"): "run_bulk_jobs",
    ("api-job-pause", "POST"): "run_bulk_jobs",
    ("api-job-resume", "POST"): "run_bulk_jobs",
    ("api-job-cancel", "POST"): "run_bulk_jobs",
    ("api-job-retry-failed", "POST"): "run_bulk_jobs",
    ("api-job-undo", "POST"): "run_bulk_jobs",
    ("api-job-results", "GET"): "run_bulk_jobs",
    ("api-segments", "GET"): "inspect_session",
    ("api-segments", "POST"): "run_bulk_jobs",
    ("api-segment", "GET"): "inspect_session",
    ("api-segment", "PUT"): "run_bulk_jobs",
    ("api-segment", "DELETE"): "run_bulk_jobs",
    ("api-segment-preview", "GET"): "inspect_session",
    ("api-segment-refresh", "POST"): "inspect_session",
    ("api-segment-jobs", "POST"): "run_bulk_jobs",
    ("api-schedules", "GET"): "run_bulk_jobs",
    ("api-schedules", "POST"): "run_bulk_jobs",
    ("api-schedule", "GET"): "run_bulk_jobs",
    ("api-schedule", "PUT"): "run_bulk_jobs",
    ("api-schedule", "DELETE"): "run_bulk_jobs",
    ("api-tokens", "GET"): SIGNED_IN,
    ("api-tokens", "POST"): SIGNED_IN,  # or anonymous with a username and password in the body
    ("api-token", "DELETE"): SIGNED_IN,
}


def url_patterns(patterns=None, prefix: str = ""):
    """(route, pattern) of every URL outside Django admin, recursively."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route != "django-admin/":
                yield from url_patterns(pattern.url_patterns, route)
        else:
            yield route, pattern


def kwargs_for(name: str, route: str, objects: dict) -> dict:
    """The arguments that reverse `route` to the objects of `objects_of_every_route`."""
    kwargs = {}
    if "<int:environment_id>" in route or "<id:environment_id>" in route:
        kwargs["environment_id"] = objects["environment"].pk
    if "<str:project_id>" in route:  # the stable session link
        kwargs["project_id"] = objects["environment"].project.voiceflow_project_id
        kwargs["environment"] = objects["environment"].label
    if "entry_id>" in route:
        kwargs["entry_id"] = objects["entry"].pk
    if "prefix>" in route:
        kwargs["prefix"] = objects["token"].token_key
    if "account_id>" in route:
        kwargs["account_id"] = objects["account"].pk
    if ":pk>" in route:
        owner = route.split("/<")[0].rsplit("/", 1)[-1]
        kwargs["pk"] = {
            "projects": objects["environment"].project_id,
            "environments": objects["environment"].pk,
            "jobs": objects["job"].pk,
            "audit": objects["entry"].pk,
            "known": objects["known"].pk,
            "segments": objects["segment"].pk,
            "schedules": objects["schedule"].pk,
        }[owner]
    return kwargs
