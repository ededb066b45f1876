"""`manage.py bulk_job`: validate a file, start the job, follow it to the end."""

import pytest
from cli_support import run, run_json

from sessions_app.models import AuditEntry, BulkJob


@pytest.fixture
def rows(tmp_path):
    def write(name: str, *lines: str):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    return write


def test_a_dry_run_reports_the_rows_and_creates_nothing(environment, ops, rows):
    file = rows("users.csv", "userID,plan:string", "a,gold", "b,silver")

    status, body = run_json(
        "bulk_job",
        "--environment",
        str(environment.pk),
        "--as-user",
        ops.username,
        file,
        "--dry-run",
    )

    assert status == 0
    assert (body["valid_rows"], body["bad_rows"], body["dry_run"]) == (2, 0, True)
    assert not BulkJob.objects.exists()


def test_a_file_with_problems_exits_2_naming_the_line(environment, ops, rows):
    file = rows("users.csv", "userID,credits:integer", "a,1", "b,many")

    status, body = run_json(
        "bulk_job", "--environment", str(environment.pk), "--as-user", ops.username, file
    )

    assert status == 2
    assert body["error"]["details"]["problems"][0]["line"] == 3
    assert "--skip-bad-rows" in body["error"]["message"]
    assert not BulkJob.objects.exists()


def test_without_follow_it_queues_the_job(environment, ops, rows):
    file = rows("ids.txt", "a", "b")

    status, body = run_json(
        "bulk_job",
        "--environment",
        str(environment.pk),
        "--as-user",
        ops.username,
        "--kind",
        "reset",
        file,
    )

    assert status == 0
    job = BulkJob.objects.get(pk=body["job"])
    assert (job.kind, job.status, job.total_items, job.started_by) == ("reset", "queued", 2, ops)


def test_production_needs_confirmation(production_environment, ops, rows):
    file = rows("ids.txt", "a")

    status, _ = run(
        "bulk_job",
        "--environment",
        str(production_environment.pk),
        "--as-user",
        ops.username,
        "--kind",
        "reset",
        file,
    )

    assert status == 2
    assert not BulkJob.objects.exists()


def test_a_missing_file_exits_2(environment, ops):
    status, body = run_json(
        "bulk_job",
        "--environment",
        str(environment.pk),
        "--as-user",
        ops.username,
        "/no/such/file.csv",
    )

    assert status == 2
    assert "Cannot read" in body["error"]["message"]


def test_support_may_not_run_jobs(environment, support, rows):
    status, _ = run(
        "bulk_job",
        "--environment",
        str(environment.pk),
        "--as-user",
        support.username,
        rows("ids.txt", "a"),
    )

    assert status == 6
    assert not BulkJob.objects.exists()


@pytest.mark.worker
def test_it_follows_a_job_to_the_end(celery_worker, sandbox, environment, ops, rows):
    file = rows("users.csv", "userID,plan:string,visits:integer", "a,gold,1", "b,silver,2")

    status, printed = run(
        "bulk_job",
        "--environment",
        str(environment.pk),
        "--as-user",
        ops.username,
        file,
        "--follow",
        "--interval",
        "0.3",
    )

    assert status == 0, printed
    assert "Completed: 100.0% · 2 done, 0 failed" in printed.splitlines()[-1]
    assert sandbox.state(environment.project.voiceflow_project_id, "b")["variables"] == {
        "plan": "silver",
        "visits": 2,
    }
    assert AuditEntry.objects.filter(source="bulk", job__isnull=False).count() == 2


@pytest.mark.worker
def test_a_job_with_failed_items_exits_7(celery_worker, clean_knobs, environment, ops, rows):
    clean_knobs.knobs(
        api_key=environment.project.api_key,
        failures={"mode": "5xx", "status": 400, "routes": ["state.patch"], "user_ids": ["b"]},
    )
    file = rows("users.csv", "userID,plan:string", "a,gold", "b,silver")

    status, body = run_json(
        "bulk_job",
        "--environment",
        str(environment.pk),
        "--as-user",
        ops.username,
        file,
        "--follow",
        "--interval",
        "0.3",
    )

    assert status == 7
    assert body["error"]["code"] == "job_incomplete"
    assert (body["error"]["details"]["done"], body["error"]["details"]["failed"]) == (1, 1)
