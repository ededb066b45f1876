"""Workers you can see: each worker's heartbeat, what it runs and the queue on the Workers page; a
job whose worker was killed (SIGKILL) is marked stalled with what to do, and /healthz?queue=1
reports it until a worker is back."""

import html

import pytest
from bulk_support import preload_for_users, wait_for, wait_until_finished
from django.urls import reverse

from sessions_app import bulk
from sessions_app.models import BulkItem, WorkerHeartbeat

pytestmark = [pytest.mark.worker, pytest.mark.production_path]


@pytest.fixture
def fast_heartbeat(settings):
    settings.WORKER_HEARTBEAT_S = 1  # as the worker processes of the tests (process_env)


def page_of(client, name: str, *args) -> str:
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_a_killed_worker_is_seen_and_its_running_job_is_marked_stalled_until_one_is_back(
    fast_heartbeat, celery_worker, clean_knobs, sandbox_project, environment, ops, ops_client
):
    sandbox = clean_knobs
    sandbox.knobs(api_key=sandbox_project["api_key"], latency_ms=400)
    job = preload_for_users(environment, ops, [f"w-{n}" for n in range(40)], {"wave": 1})
    bulk.start_job(job, ops)

    def running_on_a_live_worker():
        worker = WorkerHeartbeat.objects.filter(stopped_at__isnull=True).first()
        return worker if worker and any(t["job_id"] == job.pk for t in worker.active) else None

    worker = wait_for(running_on_a_live_worker, timeout_s=60, what="the worker to report the job")
    page = page_of(ops_client, "worker_list")
    assert f'data-worker="{worker.hostname}" data-state="live"' in page
    assert f"Preload variables #{job.pk}" in page
    assert 'data-count="live">1<' in page
    assert "Stalled" not in page_of(ops_client, "job_detail", job.pk)
    assert ops_client.get("/healthz?queue=1").status_code == 200

    celery_worker.kill()  # SIGKILL of the worker's whole process group
    wait_for(lambda: bulk.job_progress(job)["stalled"], timeout_s=30, what="the job to be stalled")
    assert job.items.exclude(status=BulkItem.Status.SUCCEEDED).exists()

    job_page = page_of(ops_client, "job_detail", job.pk)
    assert 'id="job-stalled"' in job_page
    assert f"The last worker ({worker.hostname}) was last seen at" in job_page
    assert "Start one: stop and run `make start` again" in job_page
    workers_page = page_of(ops_client, "worker_list")
    assert f'data-worker="{worker.hostname}" data-state="lost"' in workers_page
    assert 'data-count="live">0<' in workers_page
    assert 'id="stalled-jobs"' in workers_page
    health = ops_client.get("/healthz?queue=1")
    assert health.status_code == 503
    assert health.json() | {"queue_length": None} == {
        "ok": False,
        "database": "ok",
        "queue": "stalled",
        "workers": 0,
        "stalled_jobs": [job.pk],
        "queue_length": None,
    }
    assert ops_client.get("/healthz").status_code == 200  # the pages themselves are fine

    sandbox.knobs(api_key=sandbox_project["api_key"], latency_ms=0)
    celery_worker.start()
    progress = wait_until_finished(job, timeout_s=120)

    assert (progress["done"], progress["stalled"]) == (40, None)
    assert ops_client.get("/healthz?queue=1").json()["queue"] == "ok"


def test_the_workers_page_is_for_ops(viewer_client, support_client, ops_client):
    assert viewer_client.get(reverse("worker_list")).status_code == 403
    assert support_client.get(reverse("worker_list")).status_code == 403
    page = page_of(ops_client, "worker_list")
    assert "No worker has reported in the last day." in page
    assert 'data-count="stalled">0<' in page
