"""Bulk jobs over the API: create from an upload or a JSON list, read progress, control, results."""

import csv
import io
import time

import pytest
from api_support import error_of, token_client

from sessions_app import bulk
from sessions_app.models import AuditEntry, BulkJob


def upload(name: str, *lines: str) -> io.BytesIO:
    file = io.BytesIO(("\n".join(lines) + "\n").encode())
    file.name = name
    return file


def create_from_csv(client, environment, *lines: str, **fields):
    return client.post(
        "/api/v1/jobs",
        {
            "environment": environment.pk,
            "kind": "preload",
            "file": upload("users.csv", *lines),
            **fields,
        },
        format="multipart",
    )


def checked(client, response) -> dict:
    """A created job once its input is checked: the API answered at once with the job in
    status "validating", and the worker's check (run here in-process) made it a draft."""
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "validating"
    assert response.json()["progress"]["checking"]["ready"] is False
    bulk.validate_upload(response.json()["id"])
    return client.get(f"/api/v1/jobs/{response.json()['id']}").json()


def checked_total(client, response) -> int:
    return client.get(f"/api/v1/jobs/{response.json()['id']}").json()["total_items"]


def create_job(client, order: dict) -> dict:
    return checked(client, client.post("/api/v1/jobs", order, format="json"))


def wait_until_finished(client, job_id: int, timeout_s: float = 90) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/jobs/{job_id}").json()
        if body["progress"]["is_finished"]:
            return body
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


# ---- creating ----


def test_it_creates_a_draft_from_an_uploaded_csv_and_reports_bad_rows(environment, ops):
    client = token_client(ops)
    response = create_from_csv(
        client, environment, "userID,plan:string,credits:integer", "u1,gold,3", "u2,silver,many"
    )

    body = checked(client, response)
    assert (body["status"], body["kind"], body["total_items"]) == ("draft", "preload", 1)
    assert body["source_name"] == "users.csv"
    assert body["validation_report"]["bad_rows"] == 1
    problem = body["validation_report"]["problems"][0]
    assert (problem["line"], problem["column"]) == (3, "credits:integer")
    assert body["progress"]["remaining"] == 1


def test_it_creates_a_draft_from_json_lines(environment, ops):
    client = token_client(ops)
    response = client.post(
        "/api/v1/jobs",
        {
            "environment": environment.pk,
            "kind": "preload",
            "file": upload("rows.jsonl", '{"userID": "a", "variables": {"x": 1}}'),
        },
        format="multipart",
    )

    assert checked(client, response)["source_format"] == "jsonl"
    assert checked_total(client, response) == 1


def test_it_creates_a_reset_from_an_uploaded_list(environment, ops):
    client = token_client(ops)
    response = client.post(
        "/api/v1/jobs",
        {
            "environment": environment.pk,
            "kind": "reset",
            "file": upload("ids.csv", "userID", "a", "b"),
        },
        format="multipart",
    )

    job = checked(client, response)
    assert (job["kind"], job["total_items"]) == ("reset", 2)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "preload", "user_ids": ["a"], "variables": {"x": 1}}, "environment"),
        (
            {"kind": "preload", "user_ids": ["a"]},
            "A preload for a list of userIDs needs the variables",
        ),
        ({"kind": "preload", "user_ids": ["a"], "variables": []}, "variables"),
        ({"kind": "undo", "user_ids": ["a"]}, "kind"),
        ({"kind": "reset"}, "either a file"),
        ({"kind": "reset", "user_ids": []}, "user_ids"),
        ({"kind": "reset", "user_ids": ["a\nb"]}, "line break"),
    ],
)
def test_it_refuses_an_order_it_cannot_run(environment, ops, body, field):
    body = {"environment": environment.pk, **body} if field != "environment" else body

    response = token_client(ops).post("/api/v1/jobs", body, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation"
    assert field in error["message"] or field in error.get("details", {})
    assert not BulkJob.objects.exists()


def test_a_job_with_bad_rows_starts_only_when_told_to_skip_them(environment, ops):
    client = token_client(ops)
    job = checked(client, create_from_csv(client, environment, "userID,n:integer", "a,1", "b,x"))

    refused = client.post(f"/api/v1/jobs/{job['id']}/start", {}, format="json")
    started = client.post(f"/api/v1/jobs/{job['id']}/start", {"skip_bad_rows": True}, format="json")

    assert refused.status_code == 409
    assert error_of(refused)["code"] == "conflict"
    assert "1 row has problems" in error_of(refused)["message"]
    assert started.status_code == 200
    assert started.json()["status"] == "queued"


def test_a_production_job_needs_confirmation(production_environment, ops):
    client = token_client(ops)
    order = {"environment": production_environment.pk, "kind": "reset", "user_ids": ["a"]}

    refused = client.post("/api/v1/jobs", {**order, "start": True}, format="json")
    assert refused.status_code == 409
    assert "production" in error_of(refused)["message"]
    assert not BulkJob.objects.exists()

    confirmed = create_job(client, {**order, "start": True, "confirm_production": True})
    assert confirmed["status"] == "queued"  # started as soon as the check allowed


# ---- controlling ----


def test_it_pauses_resumes_and_cancels(environment, ops):
    client = token_client(ops)
    job = create_job(
        client,
        {"environment": environment.pk, "kind": "reset", "user_ids": ["a", "b"], "start": True},
    )

    paused = client.post(f"/api/v1/jobs/{job['id']}/pause")
    resumed = client.post(f"/api/v1/jobs/{job['id']}/resume")
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel")

    assert [r.json()["status"] for r in (paused, resumed, cancelled)] == [
        "paused",
        "queued",
        "cancelled",
    ]
    assert cancelled.json()["progress"]["skipped"] == 2


@pytest.mark.parametrize("control", ["pause", "resume", "cancel", "retry-failed", "undo"])
def test_a_control_that_does_not_fit_the_jobs_state_is_a_conflict(environment, ops, control):
    client = token_client(ops)
    job = create_job(client, {"environment": environment.pk, "kind": "reset", "user_ids": ["a"]})

    response = client.post(f"/api/v1/jobs/{job['id']}/{control}")

    assert response.status_code == 409
    assert error_of(response)["code"] == "conflict"
    assert BulkJob.objects.get(pk=job["id"]).status == "draft"


def test_a_draft_can_be_discarded_but_a_started_job_stays(environment, ops):
    client = token_client(ops)
    order = {"environment": environment.pk, "kind": "reset", "user_ids": ["a"]}
    draft = create_job(client, order)
    started = create_job(client, {**order, "start": True})

    assert client.delete(f"/api/v1/jobs/{draft['id']}").status_code == 204
    assert client.delete(f"/api/v1/jobs/{started['id']}").status_code == 409
    assert list(BulkJob.objects.values_list("pk", flat=True)) == [started["id"]]


def test_jobs_are_listed_by_environment_and_status(
    environment, production_environment, ops, viewer
):
    client = token_client(ops)
    client.post(
        "/api/v1/jobs",
        {"environment": environment.pk, "kind": "reset", "user_ids": ["a"]},
        format="json",
    )
    client.post(
        "/api/v1/jobs",
        {"environment": production_environment.pk, "kind": "reset", "user_ids": ["a"]},
        format="json",
    )

    reader = token_client(viewer)
    assert reader.get("/api/v1/jobs").json()["count"] == 2
    assert reader.get(f"/api/v1/jobs?environment={environment.pk}").json()["count"] == 1
    assert reader.get("/api/v1/jobs?status=completed").json()["count"] == 0


# ---- roles ----


@pytest.mark.parametrize("persona", ["viewer", "support"])
def test_reading_is_open_to_inspectors_but_running_needs_the_bulk_permission(
    request, environment, ops, persona
):
    job = create_job(
        token_client(ops), {"environment": environment.pk, "kind": "reset", "user_ids": ["a"]}
    )
    client = token_client(request.getfixturevalue(persona))

    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 200
    for response in (
        client.post(
            "/api/v1/jobs",
            {"environment": environment.pk, "kind": "reset", "user_ids": ["b"]},
            format="json",
        ),
        client.post(f"/api/v1/jobs/{job['id']}/start"),
        client.get(f"/api/v1/jobs/{job['id']}/results"),
        client.delete(f"/api/v1/jobs/{job['id']}"),
    ):
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
    assert BulkJob.objects.get().status == "draft"


def test_a_person_without_a_role_cannot_see_jobs(environment, outsider):
    assert token_client(outsider).get("/api/v1/jobs").status_code == 403


# ---- running, with a real worker ----


@pytest.mark.worker
def test_a_job_runs_to_the_end_and_can_be_downloaded_and_undone(
    celery_worker, sandbox, environment, ops
):
    project_id = environment.project.voiceflow_project_id
    sandbox.set_state(project_id, "b", {"stack": [], "storage": {}, "variables": {"plan": "old"}})
    client = token_client(ops)

    created = client.post(
        "/api/v1/jobs",
        {
            "environment": environment.pk,
            "kind": "preload",
            "user_ids": ["a", "b"],
            "variables": {"plan": "gold"},
            "start": True,
        },
        format="json",
    )
    finished = wait_until_finished(client, created.json()["id"])
    results = client.get(f"/api/v1/jobs/{finished['id']}/results", HTTP_ACCEPT="text/csv")
    undo = client.post(f"/api/v1/jobs/{finished['id']}/undo")
    client.post(f"/api/v1/jobs/{undo.json()['id']}/start", {}, format="json")
    undone = wait_until_finished(client, undo.json()["id"])

    assert created.status_code == 201, created.json()
    assert (finished["progress"]["done"], finished["progress"]["failed"]) == (2, 0)
    assert AuditEntry.objects.filter(job_id=finished["id"], source="bulk").count() == 2
    assert results.status_code == 200
    assert results["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(results.streaming_content).decode())))
    assert {(row["userID"], row["outcome"]) for row in rows} == {
        ("a", "succeeded"),
        ("b", "succeeded"),
    }
    assert undo.status_code == 201
    assert (undo.json()["kind"], undo.json()["undo_of"]) == ("undo", finished["id"])
    assert undone["progress"]["done"] == 2
    assert sandbox.state(project_id, "b")["variables"] == {"plan": "old"}
    assert sandbox.state(project_id, "a") in (None, {})
