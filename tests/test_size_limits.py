"""Documented size limits (README, Configuration): API bodies over API_MAX_BODY_MB and uploads
over BULK_UPLOAD_MAX_MB are answered 413 before anything is read or sent; a job input of more
than BULK_MAX_ROWS rows is refused with a 400 that names the limit, on the page and in the API.
Nothing is created, sent or audited."""

import io

import pytest
from api_support import error_of, token_client
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sessions_app.models import AuditEntry, BulkJob

pytestmark = pytest.mark.production_path

USER = "size-limit-user"


def csv_upload(rows: int, *, padding: int = 0) -> io.BytesIO:
    lines = ["userID,plan:string"] + [f"user-{n},{'x' * padding}gold" for n in range(rows)]
    upload = io.BytesIO(("\n".join(lines) + "\n").encode())
    upload.name = "users.csv"
    return upload


def test_an_api_body_over_the_limit_is_413_and_nothing_is_sent(
    sandbox, environment, support, settings
):
    settings.API_MAX_BODY_MB = 1
    project_id = environment.project.voiceflow_project_id
    sandbox.set_state(project_id, USER, {"stack": [], "storage": {}, "variables": {"a": 1}})

    response = token_client(support).patch(
        f"/api/v1/environments/{environment.pk}/sessions/state/variables?user={USER}",
        {"notes": "x" * (1536 * 1024)},
        format="json",
    )

    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert "API_MAX_BODY_MB" in error["message"]
    assert sandbox.state(project_id, USER)["variables"] == {"a": 1}
    assert not AuditEntry.objects.exists()


def test_an_api_upload_over_the_limit_is_413(environment, ops, settings):
    settings.BULK_UPLOAD_MAX_MB = 1

    response = token_client(ops).post(
        "/api/v1/jobs",
        {"environment": environment.pk, "kind": "preload", "file": csv_upload(800, padding=3000)},
        format="multipart",
    )

    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert not BulkJob.objects.exists()


def test_a_page_upload_over_the_limit_is_413(environment, ops_client, settings):
    settings.BULK_UPLOAD_MAX_MB = 1

    response = ops_client.post(
        reverse("job_new"),
        {
            "mode": "file",
            "format": "csv",
            "environment": environment.pk,
            "file": SimpleUploadedFile("users.csv", csv_upload(800, padding=3000).getvalue()),
        },
    )

    assert response.status_code == 413
    assert "BULK_UPLOAD_MAX_MB" in response.content.decode()
    assert not BulkJob.objects.exists()


def test_an_api_upload_with_too_many_rows_is_refused(environment, ops, settings):
    settings.BULK_MAX_ROWS = 5

    response = token_client(ops).post(
        "/api/v1/jobs",
        {"environment": environment.pk, "kind": "preload", "file": csv_upload(10)},
        format="multipart",
    )

    assert response.status_code == 400
    assert "BULK_MAX_ROWS" in error_of(response)["message"]
    assert not BulkJob.objects.exists()


def test_an_api_user_list_with_too_many_rows_is_refused(environment, ops, settings):
    settings.BULK_MAX_ROWS = 5

    response = token_client(ops).post(
        "/api/v1/jobs",
        {"environment": environment.pk, "kind": "reset", "user_ids": [f"u{n}" for n in range(6)]},
        format="json",
    )

    assert response.status_code == 400
    assert "BULK_MAX_ROWS" in error_of(response)["message"]
    assert not BulkJob.objects.exists()


@pytest.mark.parametrize("mode", ["file", "pasted"])
def test_a_page_input_with_too_many_rows_is_refused(environment, ops_client, settings, mode):
    settings.BULK_MAX_ROWS = 5
    if mode == "file":
        form = {
            "mode": "file",
            "format": "csv",
            "file": SimpleUploadedFile("users.csv", csv_upload(10).getvalue()),
        }
    else:
        form = {"mode": "reset", "user_ids": "\n".join(f"u{n}" for n in range(6))}

    response = ops_client.post(reverse("job_new"), {**form, "environment": environment.pk})

    assert response.status_code == 400
    assert "at most 5 rows" in response.content.decode()
    assert not BulkJob.objects.exists()


def test_an_input_within_the_limits_is_accepted(environment, ops, settings):
    settings.BULK_MAX_ROWS = 5

    response = token_client(ops).post(
        "/api/v1/jobs",
        {"environment": environment.pk, "kind": "preload", "file": csv_upload(5)},
        format="multipart",
    )

    assert response.status_code == 201, response.content
