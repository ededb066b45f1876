"""A 10,000-user preload through a real Celery worker against a sandbox that adds 100 ms of
latency and allows 3,000 requests a minute; then the same preload as a naive sequential loop.

Reports the sustained request rate against the budget, the share of requests answered 429, lost
and duplicated items (read from the sandbox's counters), and the speed-up over the naive loop.

    .venv/bin/python bench/bulk_preload.py [--users 10000] [--naive-users 300]
"""

import argparse
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    Sandbox,
    Worker,
    bench_environment,
    create_environment,
    save_result,
    setup_django,
    wait_for_job,
)

LATENCY_MS = 100
BUDGET = 3000


def naive_loop(sandbox: Sandbox, registration: dict, users: int) -> float:
    """What a person would write: GET then PATCH for each user, one after the other."""
    headers = {"Authorization": registration["api_key"], "versionID": "development"}
    started = time.monotonic()
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=30) as client:
        for n in range(users):
            client.get(f"/state/user/naive-{n}").raise_for_status()
            client.patch(
                f"/state/user/naive-{n}/variables", json={"campaign": "spring", "n": n}
            ).raise_for_status()
    return users / (time.monotonic() - started) * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--naive-users", type=int, default=300)
    args = parser.parse_args()

    env = bench_environment("bulk_preload")
    setup_django(env)
    from django.contrib.auth import get_user_model

    from sessions_app import bulk
    from sessions_app.models import BulkJob

    sandbox = Sandbox("--latency-ms", str(LATENCY_MS), "--budget-per-minute", str(BUDGET))
    worker = None
    try:
        registration = sandbox.register_project("Bench preload")
        environment = create_environment(sandbox, registration, BUDGET)
        operator, _ = get_user_model().objects.get_or_create(username="bench-operator")
        user_ids = [f"bench-user-{n}" for n in range(args.users)]
        job = bulk.create_job_from_text(
            environment,
            operator,
            kind=BulkJob.Kind.PRELOAD,
            text="\n".join(user_ids),
            variables={"campaign": "spring", "eligible": True, "credits": 100},
        )
        worker = Worker(env, "bench-preload-worker")
        bulk.start_job(job, operator)
        progress = wait_for_job(
            job,
            timeout_s=3600,
            every_s=10,
            report=lambda p: print(
                f"  {p['done'] + p['failed']}/{p['total']} rate {p['rate_per_minute']}/min",
                flush=True,
            ),
        )
        job.refresh_from_db()
        elapsed_s = (job.finished_at - job.started_at).total_seconds()
        stats = sandbox.stats(registration["api_key"])
        writes = stats["writes_by_user"]
        requests = stats["requests"]
        bulk_users_per_minute = progress["done"] / elapsed_s * 60

        naive_registration = sandbox.register_project("Bench naive loop")
        naive_users_per_minute = naive_loop(sandbox, naive_registration, args.naive_users)

        save_result(
            "bulk_preload",
            {
                "users": args.users,
                "sandbox_latency_ms": LATENCY_MS,
                "budget_per_minute": BUDGET,
                "succeeded": progress["done"],
                "failed": progress["failed"],
                "elapsed_s": round(elapsed_s, 1),
                "requests": requests,
                "sustained_requests_per_minute": round(requests / elapsed_s * 60, 1),
                "share_of_budget": round(requests / elapsed_s * 60 / BUDGET, 3),
                "answered_429": stats["rate_limited"],
                "share_429": round(stats["rate_limited"] / requests, 4) if requests else 0,
                "lost_items": sum(1 for user_id in user_ids if writes.get(user_id, 0) == 0),
                "duplicated_items": sum(1 for count in writes.values() if count > 1),
                "bulk_users_per_minute": round(bulk_users_per_minute, 1),
                "naive_users": args.naive_users,
                "naive_users_per_minute": round(naive_users_per_minute, 1),
                "speedup_over_naive": round(bulk_users_per_minute / naive_users_per_minute, 2),
            },
        )
    finally:
        if worker:
            worker.stop()
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
