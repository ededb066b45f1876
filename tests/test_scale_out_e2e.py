"""The production shape end to end: gunicorn (the Procfile's web line, two workers), two separate
Celery worker processes and one beat on Redis and PostgreSQL. A 400-user preload uploaded over
HTTP with an API token is shared by both workers, every user is written exactly once, and the
shared request budget holds (Voiceflow's limiter, doubled by the sandbox, refuses nothing).

The Redis is one of the test's own, so that no other test run's workers take its messages."""

import io

import httpx
import pytest
from django.conf import settings
from knox.models import AuthToken
from reliability_support import CeleryProcess, RedisServer, WebServer, process_env, wait_for

from sessions_app.models import BulkItem, BulkJob, Project

# Sized to finish in a fraction of the wait below on a loaded 2-core machine: the budget makes
# it last at least 2 * USERS / BUDGET_PER_MINUTE minutes (32 s). Speed belongs in bench/.
USERS = 400
BUDGET_PER_MINUTE = 1500

pytestmark = [
    pytest.mark.worker,
    pytest.mark.production_path,
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="the production shape needs PostgreSQL (make test runs it there)",
    ),
]


@pytest.fixture
def production_shape(transactional_db, tmp_path):
    """gunicorn with two workers, two worker processes (one job task each) and one beat."""
    redis = RedisServer(tmp_path).start()
    env = process_env(
        {"CELERY_BROKER_URL": redis.url},
        BULK_TASKS_PER_JOB="2",
        BULK_CONCURRENCY="8",
        WORKER_CONCURRENCY="1",
        BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
    )
    processes = [
        CeleryProcess("worker", env | {"WORKER_NAME": "one"}, tmp_path / "worker-one.log"),
        CeleryProcess("worker", env | {"WORKER_NAME": "two"}, tmp_path / "worker-two.log"),
        CeleryProcess("beat", env, tmp_path / "beat.log"),
        WebServer(env, tmp_path / "web.log", workers=2),
    ]
    try:
        for process in processes:
            process.start()
        yield processes[-1]
    finally:
        for process in processes:
            process.kill()
        redis.kill()


def test_a_400_user_preload_is_shared_by_two_workers_done_once_each_within_the_budget(
    production_shape, clean_knobs, sandbox_project, environment, ops
):
    sandbox = clean_knobs
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        budget_per_minute=BUDGET_PER_MINUTE,
        window_seconds=60,
        latency_ms=20,
    )
    Project.objects.filter(pk=environment.project_id).update(budget_per_minute=BUDGET_PER_MINUTE)
    user_ids = [f"scale-{n:04d}" for n in range(USERS)]
    upload = io.StringIO()
    upload.write("userID,segment:string,score:integer\n")
    for n, user_id in enumerate(user_ids):
        upload.write(f"{user_id},wave-{n % 7},{n}\n")
    _, token = AuthToken.objects.create(ops, expiry=None)
    api = httpx.Client(
        base_url=f"{production_shape.url}/api/v1",
        headers={"Authorization": f"Token {token}"},
        timeout=120,
    )

    created = api.post(
        "/jobs",
        data={"environment": str(environment.pk), "kind": "preload", "start": "true"},
        files={"file": ("campaign.csv", upload.getvalue().encode(), "text/csv")},
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]

    def finished() -> dict | None:
        progress = api.get(f"/jobs/{job_id}").json()["progress"]
        return progress if progress["is_finished"] else None

    progress = wait_for(finished, timeout_s=420, what="the 400-user job to finish")

    assert (progress["status"], progress["done"], progress["failed"]) == ("completed", USERS, 0)
    job = BulkJob.objects.get(pk=job_id)
    worker_processes = {
        holder.rsplit(":", 1)[0]
        for holder in BulkItem.objects.filter(job=job).values_list("claimed_by", flat=True)
    }
    assert len(worker_processes) == 2, worker_processes
    stats = sandbox.stats(sandbox_project["api_key"])
    assert stats["writes_by_user"] == dict.fromkeys(user_ids, 1)
    assert stats["rate_limited"] == 0, stats["by_status"]
    minutes = (job.finished_at - job.started_at).total_seconds() / 60
    assert stats["requests"] == 2 * USERS
    assert stats["requests"] / minutes <= BUDGET_PER_MINUTE
    sample = sandbox.state(sandbox_project["project_id"], "scale-0242")["variables"]
    assert sample == {"segment": "wave-4", "score": 242}
