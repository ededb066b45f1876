"""The results CSV and the progress contract of a finished job."""

import csv
import io
import json

import pytest
from api_support import token_client
from bulk_support import preload_for_users, preload_from_csv, wait_until_finished
from django.urls import reverse

from sessions_app import bulk

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


def test_the_results_csv_has_one_line_per_user_with_outcome_reason_and_values(
    celery_worker, clean_knobs, sandbox_project, environment, ops, ops_client
):
    sandbox = clean_knobs
    sandbox.set_state(
        sandbox_project["project_id"],
        "had-state",
        {"stack": [], "storage": {}, "variables": {"tier": "bronze", "other": 1}},
    )
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        failures={"mode": "5xx", "status": 400, "user_ids": ["refused"], "routes": ["state.patch"]},
    )
    job = preload_from_csv(
        environment, ops, "userID,tier:string", "had-state,gold", "refused,gold", "new-user,silver"
    )
    bulk.start_job(job, ops)
    wait_until_finished(job)

    response = ops_client.get(reverse("job_results", args=[job.pk]))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="job-{job.pk}-results.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["userID"], r["line"], r["outcome"], r["upstream_status"]) for r in rows] == [
        ("had-state", "2", "succeeded", "200"),
        ("refused", "3", "failed", "400"),
        ("new-user", "4", "succeeded", "200"),
    ]
    assert json.loads(rows[0]["variables_before"]) == {"tier": "bronze"}
    assert json.loads(rows[0]["variables_after"]) == {"tier": "gold"}
    assert json.loads(rows[2]["variables_before"]) == {}
    assert rows[1]["reason"].startswith("Voiceflow refused the request")
    assert rows[1]["variables_before"] == rows[1]["variables_after"] == ""


def test_the_progress_contract_of_a_finished_job(celery_worker, environment, ops, viewer_client):
    job = preload_from_csv(environment, ops, "userID,n:integer", "a,1", "b,2")
    bulk.start_job(job, ops)
    wait_until_finished(job)

    progress = viewer_client.get(reverse("job_progress", args=[job.pk])).json()

    assert {
        k: progress[k]
        for k in (
            "status",
            "total",
            "done",
            "failed",
            "skipped",
            "remaining",
            "percent",
            "is_finished",
        )
    } == {
        "status": "completed",
        "total": 2,
        "done": 2,
        "failed": 0,
        "skipped": 0,
        "remaining": 0,
        "percent": 100.0,
        "is_finished": True,
    }
    assert set(progress) >= {"rate_per_minute", "eta_seconds", "status_label", "stop_reason"}


FORMULA_USER_IDS = ["=cmd|' /C calc'!A0", "+44 20 7946 0958", "-2+3", "@SUM(A1:A2)"]


@pytest.mark.parametrize("client_kind", ["page", "api"])
def test_the_results_csv_neutralises_formula_leading_cells(
    environment, ops, ops_client, client_kind
):
    job = preload_for_users(environment, ops, [*FORMULA_USER_IDS, "plain-user"], {"n": 1})

    if client_kind == "page":
        response = ops_client.get(reverse("job_results", args=[job.pk]))
    else:
        response = token_client(ops).get(f"/api/v1/jobs/{job.pk}/results")

    text = b"".join(response.streaming_content).decode()
    user_ids = [row["userID"] for row in csv.DictReader(io.StringIO(text))]
    assert user_ids == [*("'" + user_id for user_id in FORMULA_USER_IDS), "plain-user"]
    # Every cell is quoted, so a separator inside a value cannot start a new, unguarded cell.
    assert all(line.startswith('"') for line in text.splitlines())
