"""The web server (gunicorn, as the production Procfile runs it) killed with SIGKILL: a job started
over HTTP finishes without it, each item applied once; an upload cut short leaves no job behind."""

import io
import threading
import time

import httpx
import pytest
from knox.models import AuthToken
from reliability_support import WebServer, wait_for

from sessions_app.models import AuditEntry, BulkItem, BulkJob

# Once, on the default path: gunicorn on PostgreSQL and Redis runs in tests/test_scale_out_e2e.py.
pytestmark = pytest.mark.worker


@pytest.fixture
def web(celery_worker, tmp_path):
    server = WebServer(celery_worker.env, tmp_path / "web.log").start()
    yield server
    server.kill()


@pytest.fixture
def api(web, ops):
    _, token = AuthToken.objects.create(ops, expiry=None)
    with httpx.Client(
        base_url=f"{web.url}/api/v1", headers={"Authorization": f"Token {token}"}, timeout=60
    ) as client:
        yield client


def finished_progress(api, job_id: int) -> dict | None:
    try:
        progress = api.get(f"/jobs/{job_id}").json()["progress"]
    except httpx.TransportError:
        return None
    return progress if progress["is_finished"] else None


def test_a_job_started_over_http_finishes_while_the_web_server_is_killed_and_restarted(
    web, api, clean_knobs, sandbox_project, environment
):
    sandbox = clean_knobs
    sandbox.knobs(api_key=sandbox_project["api_key"], latency_ms=150)
    user_ids = [f"web-kill-{n}" for n in range(40)]

    created = api.post(
        "/jobs",
        json={
            "environment": environment.pk,
            "kind": "preload",
            "user_ids": user_ids,
            "variables": {"offer": "winter"},
            "start": True,
        },
    )
    assert created.status_code == 201, created.text
    job = BulkJob.objects.get(pk=created.json()["id"])
    wait_for(
        lambda: job.items.filter(status=BulkItem.Status.SUCCEEDED).count() >= 5,
        timeout_s=60,
        what="the job to be under way",
    )

    web.kill()
    with pytest.raises(httpx.TransportError):
        api.get(f"/jobs/{job.pk}")
    web.start()

    progress = wait_for(
        lambda: finished_progress(api, job.pk), timeout_s=120, what="the job to finish"
    )
    assert (progress["status"], progress["done"], progress["failed"]) == ("completed", 40, 0)
    assert sandbox.stats(sandbox_project["api_key"])["writes_by_user"] == dict.fromkeys(user_ids, 1)
    succeeded = AuditEntry.objects.filter(job=job, outcome=AuditEntry.Outcome.SUCCEEDED)
    assert sorted(succeeded.values_list("user_id", flat=True)) == sorted(user_ids)


class SlowFile(io.BytesIO):
    """A file sent as over a slow line: each piece the client reads takes half a second."""

    def read(self, size: int = -1) -> bytes:
        time.sleep(0.5)
        return super().read(min(size, 16 * 1024) if size and size > 0 else 16 * 1024)


def test_an_upload_cut_short_by_a_killed_web_server_leaves_no_job_and_sends_nothing(
    web, api, clean_knobs, sandbox_project, environment
):
    sandbox = clean_knobs
    rows = "".join(f"cut-{n},{n}\n" for n in range(20_000))
    upload = SlowFile(("userID,credits:integer\n" + rows).encode())
    answers: list[object] = []

    def post() -> None:
        try:
            answers.append(
                api.post(
                    "/jobs",
                    data={"environment": str(environment.pk), "kind": "preload", "start": "true"},
                    files={"file": ("cut.csv", upload, "text/csv")},
                )
            )
        except httpx.TransportError as error:
            answers.append(error)

    uploading = threading.Thread(target=post)
    uploading.start()
    # The server is receiving the file (a client on a slow line) when it dies; it stores an
    # upload only once the whole of it has arrived, in one transaction.
    time.sleep(1.5)
    web.kill()
    uploading.join(timeout=30)

    assert len(answers) == 1 and isinstance(answers[0], httpx.TransportError), answers
    assert not BulkJob.objects.exists()
    assert not BulkItem.objects.exists()
    web.start()
    assert api.get("/jobs").json()["count"] == 0
    assert sandbox.stats(sandbox_project["api_key"])["requests"] == 0
