"""A distinctive key and token are set on a project; after exercising the product they appear
nowhere: not in any page or API answer (lists, details, errors), log line (everything at DEBUG,
HTTP client and Celery included), audit row (every column), bulk job results file, or exception
report (the page or JSON a person gets, the logged error, and Django's e-mailed report).

tests/test_credentials.py covers the project pages' forms and the client's calls in detail;
this file sweeps every surface at once.
"""

import json
import logging
import secrets
import sys

import httpx
import pytest
from api_support import token_client
from bulk_support import preload_for_users
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.views.debug import ExceptionReporter
from url_access_support import ACCESS, kwargs_for, url_patterns

from sessions_app import bulk, schedules, segments
from sessions_app.actions import WriteContext, do_set_variables
from sessions_app.bulk.engine import run_job
from sessions_app.known_sessions import note_session
from sessions_app.models import AuditEntry, BulkJob, Environment, KnownSession, Project

KEY_PART = "SecretLeakKey" + secrets.token_hex(8)
TOKEN_PART = "SecretLeakToken" + secrets.token_hex(8)
USER = "leak-user"
LOGGERS = ("", "django", "sessions_app", "httpx", "httpcore", "celery", "kombu", "axes")


@pytest.fixture
def leaky(sandbox, transactional_db) -> Environment:
    project_id = secrets.token_hex(12)
    registration = {
        "project_id": project_id,
        "api_key": f"VF.DM.{project_id}.{KEY_PART}",
        "access_token": f"vfp_{secrets.token_hex(4)}_{TOKEN_PART}",
        "name": "Leak canary",
        "versions": {"development": secrets.token_hex(12), "production": None},
    }
    sandbox.control.post("/_sandbox/projects", json=registration).raise_for_status()
    project = Project.objects.create(
        name="Leak canary",
        voiceflow_project_id=project_id,
        api_key=registration["api_key"],
        access_token=registration["access_token"],
        runtime_url=sandbox.url,
        realtime_url=sandbox.url,
        analytics_url=sandbox.url,
        budget_per_minute=100_000,
    )
    sandbox.set_state(project_id, USER, {"stack": [], "storage": {}, "variables": {"plan": "gold"}})
    return Environment.objects.create(project=project, label="Development")


@pytest.fixture
def everything_logged(caplog):
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def forbidden(environment: Environment) -> list[str]:
    """The secret parts, and the ciphertexts at rest (which must not travel either)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, access_token FROM sessions_app_project WHERE id = %s",
            [environment.project_id],
        )
        ciphertexts = list(cursor.fetchone())
    return [KEY_PART, TOKEN_PART, *ciphertexts]


def assert_clean(text: str, secrets_: list[str], where: str) -> None:
    for secret in secrets_:
        assert secret not in text, f"a secret appears in {where}"


def test_no_page_api_answer_log_line_audit_row_or_results_file_carries_them(
    client_for_user, leaky, everything_logged, admin_user, ops, viewer
):
    environment = leaky
    # Work that touches the key: a read, a write, a test connection, a bulk job, a token.
    admin_pages = client_for_user(admin_user)
    admin_pages.get(reverse("session_inspect", args=[environment.pk]), {"user": USER})
    do_set_variables(
        environment, USER, {"plan": "platinum"}, context=WriteContext(actor=ops, source="page")
    )
    admin_pages.post(reverse("environment_test_connection", args=[environment.pk]))
    job = preload_for_users(environment, ops, [USER, "leak-user-2"], {"tier": "gold"})
    BulkJob.objects.filter(pk=job.pk).update(status=BulkJob.Status.QUEUED, started_by=ops)
    run_job(job.pk)
    admin_pages.post(reverse("api_tokens"), {"expires_in_days": "30"})
    secrets_ = forbidden(environment)

    entry = AuditEntry.objects.filter(environment=environment).first()
    segment = segments.save_segment(environment, ops, name="leak", conditions=[])
    objects = {
        "segment": segment,
        "schedule": schedules.save_schedule(
            environment, ops, name="leak", kind="reset", segment=segment, cron="0 2 * * *"
        ),
        "environment": environment,
        "job": job,
        "entry": entry,
        "token": admin_user.auth_token_set.first(),
        "known": KnownSession.objects.filter(environment=environment).first()
        or note_session(environment, "leak-check", {"variables": {}}),
    }
    shown: list[tuple[str, str]] = []
    for user in (admin_user, viewer):
        pages = client_for_user(user)
        api = token_client(user)
        for (name, method), _ in ACCESS.items():
            if method != "GET" or name in ("logout",):
                continue
            route = next(route for route, pattern in url_patterns() if pattern.name == name)
            url = reverse(name, kwargs=kwargs_for(name, route, objects))
            client = api if route.startswith("api/") else pages
            response = client.get(url, {"user": USER})
            body = b"".join(response.streaming_content) if response.streaming else response.content
            shown.append((f"GET {url} as {user}", body.decode(errors="replace")))
    # Error answers: not found, invalid input (with the key in the body), refused.
    api = token_client(admin_user)
    shown += [
        ("API 404", api.get("/api/v1/projects/999999").content.decode()),
        (
            "API validation error",
            api.post(
                "/api/v1/projects",
                {"name": "x", "runtime_url": "not a url", "api_key": f"VF.DM.x.{KEY_PART}"},
                format="json",
            ).content.decode(),
        ),
        (
            "API refusal",
            token_client(viewer)
            .patch(f"/api/v1/projects/{environment.project_id}", {"name": "y"}, format="json")
            .content.decode(),
        ),
    ]
    results_file = "".join(bulk.iter_results_csv(job))

    assert len(shown) > 60
    for where, text in shown:
        assert_clean(text, secrets_, where)
    assert USER in results_file
    assert_clean(results_file, secrets_, "the results file")
    for row in AuditEntry.objects.all():
        columns = {
            field.attname: getattr(row, field.attname) for field in AuditEntry._meta.concrete_fields
        }
        assert_clean(json.dumps(columns, default=str), secrets_, f"audit row {row.pk}")
    assert any(r.name.startswith("httpx") for r in everything_logged.records)
    assert_clean(everything_logged.text, secrets_, "the log")


def test_an_upstream_failure_shows_a_message_and_logs_no_key(
    client_for_user, leaky, everything_logged, viewer, clean_knobs
):
    environment = leaky
    clean_knobs.knobs(
        api_key=environment.project.api_key, failures={"mode": "5xx", "status": 500, "count": 2}
    )

    page = client_for_user(viewer).get(
        reverse("session_inspect", args=[environment.pk]), {"user": USER}
    )
    api = token_client(viewer).get(
        f"/api/v1/environments/{environment.pk}/sessions/state", {"user": USER}
    )

    assert "Voiceflow failed (500)" in page.content.decode()
    assert api.status_code == 502
    secrets_ = forbidden(environment)
    assert_clean(page.content.decode(), secrets_, "the page")
    assert_clean(api.content.decode(), secrets_, "the API answer")
    assert_clean(everything_logged.text, secrets_, "the log")


@pytest.fixture
def http_library_breaks(monkeypatch):
    """An unexpected failure deep in the HTTP library, after the headers (with the key) were
    built: the frames of the report hold them."""

    def broken_send(self, request, **kwargs):
        raise RuntimeError("the HTTP library broke")

    monkeypatch.setattr(httpx.Client, "send", broken_send)


def test_an_unexpected_error_report_carries_no_key(
    leaky, everything_logged, viewer, http_library_breaks
):
    environment = leaky
    browser = Client(raise_request_exception=False)
    browser.force_login(viewer, backend="sessions_app.access.PermissionsBackend")

    page = browser.get(reverse("session_inspect", args=[environment.pk]), {"user": USER})
    api = token_client(viewer).get(
        f"/api/v1/environments/{environment.pk}/sessions/state", {"user": USER}
    )

    assert page.status_code == 500
    assert api.status_code == 500
    secrets_ = forbidden(environment)
    assert_clean(page.content.decode(), secrets_, "the error page")
    assert_clean(api.content.decode(), secrets_, "the API's error answer")
    assert "Traceback" not in page.content.decode()
    assert_clean(everything_logged.text, secrets_, "the log")
    reported = [r for r in everything_logged.records if r.exc_info and hasattr(r, "request")]
    assert reported, "Django logged no error report for the failed page"
    for record in reported:
        # What AdminEmailHandler sends: the full report, frames' variables included.
        reporter = ExceptionReporter(record.request, *record.exc_info, is_email=True)
        text, html = reporter.get_traceback_text(), reporter.get_traceback_html()
        assert "broken_send" in text
        assert_clean(text, secrets_, "the e-mailed error report (text)")
        assert_clean(html, secrets_, "the e-mailed error report (HTML)")


def test_a_report_of_a_failed_form_post_hides_the_key_typed_into_it(rf):
    request = rf.post(
        "/projects/new",
        {"name": "Pizzeria", "api_key": f"VF.DM.x.{KEY_PART}", "access_token": TOKEN_PART},
    )
    try:
        raise ValueError("saving the project failed")
    except ValueError:
        reporter = ExceptionReporter(request, *sys.exc_info(), is_email=True)
        text, html = reporter.get_traceback_text(), reporter.get_traceback_html()

    assert "Pizzeria" in text  # the report still shows the rest of the form
    for report in (text, html):
        assert_clean(report, [KEY_PART, TOKEN_PART], "the report of a failed form")
