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
    parser.add_argument("--mode", choices=["read_first", "single_request"], default="read_first")
    parser.add_argument("--reserve-percent", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=LATENCY_MS)
    parser.add_argument("--budget", type=int, default=BUDGET)
    args = parser.parse_args()

    sandbox = Sandbox("--latency-ms", str(args.latency_ms), "--budget-per-minute", str(args.budget))
    workers = []
    try:
        env = bench_environment(
            "two_workers",
            sandbox,
            broker_url=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13"),
        )
        env["BULK_BUDGET_RESERVE_PERCENT"] = str(args.reserve_percent)
        setup_django(env)
        from django.contrib.auth import get_user_model

        from sessions_app import bulk
        from sessions_app.models import BulkItem, BulkJob

        registration = sandbox.register_project("Bench two workers")
        environment = create_environment(sandbox, registration, args.budget)
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
            bulk.start_job(job, operator, write_mode=args.mode)
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
        holders = set(
            BulkItem.objects.filter(job__in=jobs)
            .exclude(claimed_by="")
            .values_list("claimed_by", flat=True)
            .distinct()
        )
        hosts = sorted({holder.split(":")[0] for holder in holders})
        worker_pids = sorted({holder.split(":")[1] for holder in holders})
        writes = stats["writes_by_user"]
        user_ids = [f"job{n}-user-{i}" for n in (1, 2) for i in range(args.users_per_job)]
        requests_per_minute = stats["requests"] / elapsed_s * 60
        job_share = args.budget * (100 - args.reserve_percent) / 100
        result = {
            "users": 2 * args.users_per_job,
            "mode": args.mode,
            "budget_per_minute": args.budget,
            "reserve_percent": args.reserve_percent,
            "sandbox_latency_ms": args.latency_ms,
            "broker": env["CELERY_BROKER_URL"],
            "database": env["DATABASE_URL"].split("@")[-1],
            "worker_processes_that_ran_items": len(worker_pids),
            "hosts": hosts,
            "succeeded": sum(bulk.job_progress(job)["done"] for job in jobs),
            "failed": sum(bulk.job_progress(job)["failed"] for job in jobs),
            "elapsed_s": round(elapsed_s, 1),
            "both_jobs_running_s": round(both_running_s, 1),
            "requests": stats["requests"],
            "combined_requests_per_minute": round(requests_per_minute, 1),
            "share_of_job_budget": round(requests_per_minute / job_share, 4),
            "share_of_budget_with_reserve": round(
                (requests_per_minute + args.budget - job_share) / args.budget, 4
            ),
            "within_budget": requests_per_minute <= args.budget,
            "answered_429": stats["rate_limited"],
            "share_429": round(stats["rate_limited"] / stats["requests"], 4),
            "doubled_items": sum(1 for u in user_ids if writes.get(u, 0) > 1),
            "lost_items": sum(1 for u in user_ids if writes.get(u, 0) == 0),
        }
        save_result("two_workers", result)
    finally:
        for worker in workers:
            worker.stop()
        sandbox.stop()
    if result["failed"] or result["lost_items"] or result["doubled_items"]:
        print("FAILED: items failed, were lost or were written twice")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
