"""Two Celery workers on Redis, each running a preload for the same project: the request budget
is shared through the database, so their combined rate stays within it.

    .venv/bin/python bench/two_workers.py [--users-per-job 2000]

Needs Redis (BENCH_BROKER_URL, default redis://127.0.0.1:6379/13) and uses PostgreSQL when
BENCH_DATABASE_URL names one (SQLite otherwise).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Sandbox, Worker, bench_environment, create_environment, save_result, setup_django

LATENCY_MS = 100
BUDGET = 3000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users-per-job", type=int, default=2000)
    args = parser.parse_args()

    env = bench_environment(
        "two_workers", broker_url=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
    )
    setup_django(env)
    from django.contrib.auth import get_user_model

    from sessions_app import bulk
    from sessions_app.models import BulkItem, BulkJob

    sandbox = Sandbox("--latency-ms", str(LATENCY_MS), "--budget-per-minute", str(BUDGET))
    workers = []
    try:
        registration = sandbox.register_project("Bench two workers")
        environment = create_environment(sandbox, registration, BUDGET)
        operator, _ = get_user_model().objects.get_or_create(username="bench-operator")
        workers = [Worker(env, f"bench-two-{n}") for n in (1, 2)]
        jobs = []
        for n in (1, 2):
            user_ids = "\n".join(f"job{n}-user-{i}" for i in range(args.users_per_job))
            jobs.append(
                bulk.create_job_from_text(
                    environment,
                    operator,
                    kind=BulkJob.Kind.PRELOAD,
                    text=user_ids,
                    variables={"wave": n},
                )
            )
        for job in jobs:
            bulk.start_job(job, operator)
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            for job in jobs:
                job.refresh_from_db()
            if all(bulk.job_progress(job)["is_finished"] for job in jobs):
                break
            time.sleep(5)
        started = min(job.started_at for job in jobs)
        finished = max(job.finished_at for job in jobs)
        both_running_s = (
            min(job.finished_at for job in jobs) - max(job.started_at for job in jobs)
        ).total_seconds()
        elapsed_s = (finished - started).total_seconds()
        stats = sandbox.stats(registration["api_key"])
        hosts = sorted(
            {
                item.split(":")[0]
                for item in BulkItem.objects.filter(job__in=jobs)
                .values_list("claimed_by", flat=True)
                .distinct()
            }
        )
        processes = BulkItem.objects.filter(job__in=jobs).values_list("claimed_by", flat=True)
        worker_pids = sorted({claimed.split(":")[1] for claimed in processes.distinct()})
        writes = stats["writes_by_user"]
        save_result(
            "two_workers",
            {
                "users": 2 * args.users_per_job,
                "budget_per_minute": BUDGET,
                "sandbox_latency_ms": LATENCY_MS,
                "broker": env["CELERY_BROKER_URL"],
                "database": env["DATABASE_URL"].split("@")[-1],
                "worker_processes_that_ran_items": len(worker_pids),
                "hosts": hosts,
                "succeeded": sum(bulk.job_progress(job)["done"] for job in jobs),
                "elapsed_s": round(elapsed_s, 1),
                "both_jobs_running_s": round(both_running_s, 1),
                "requests": stats["requests"],
                "combined_requests_per_minute": round(stats["requests"] / elapsed_s * 60, 1),
                "within_budget": stats["requests"] / elapsed_s * 60 <= BUDGET,
                "answered_429": stats["rate_limited"],
                "duplicated_items": sum(1 for count in writes.values() if count > 1),
                "lost_items": 2 * args.users_per_job - len(writes),
            },
        )
    finally:
        for worker in workers:
            worker.stop()
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
