"""A preload through a real Celery worker and, in the same run against the same sandbox, the same
preload by the asyncio peer (bench/peer.py) and by a naive sequential loop.

The sandbox adds latency to every request and allows BUDGET requests a minute per key; the
product, the peer and the loop each use a project (a key) of their own, so each has the whole
budget. Reports, for the product: requests per minute against the budget (the share the job may
use, and with the share kept free for people), 429s, lost and doubled items (from the sandbox's
counters); and users per minute of each, with the ratio product ÷ peer.

    .venv/bin/python bench/bulk_preload.py [--users 5000] [--mode read_first|single_request]
        [--reserve-percent 0] [--latency-ms 100] [--budget 3000] [--naive-users 300]

Exits 1 when an item failed, was lost or was written twice.
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
from peer import preload as peer_preload

VARIABLES = {"campaign": "spring", "eligible": True, "credits": 100}


def naive_loop(sandbox: Sandbox, registration: dict, users: int) -> float:
    """What a person would write first: GET then PATCH for each user, one after the other."""
    headers = {"Authorization": registration["api_key"], "versionID": "development"}
    started = time.monotonic()
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=30) as client:
        for n in range(users):
            client.get(f"/state/user/naive-{n}").raise_for_status()
            client.patch(f"/state/user/naive-{n}/variables", json=VARIABLES).raise_for_status()
    return users / (time.monotonic() - started) * 60


def counted(stats: dict, user_ids: list[str]) -> tuple[int, int]:
    """(lost, doubled): users never written, users written more than once."""
    writes = stats["writes_by_user"]
    lost = sum(1 for user_id in user_ids if writes.get(user_id, 0) == 0)
    doubled = sum(1 for user_id in user_ids if writes.get(user_id, 0) > 1)
    return lost, doubled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--mode", choices=["read_first", "single_request"], default="read_first")
    parser.add_argument(
        "--reserve-percent",
        type=int,
        default=0,
        help="BULK_BUDGET_RESERVE_PERCENT for the worker (0: the job may use the whole budget, "
        "as the peer does)",
    )
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--budget", type=int, default=3000)
    parser.add_argument("--naive-users", type=int, default=300)
    parser.add_argument("--name", default="bulk_preload")
    args = parser.parse_args()

    sandbox = Sandbox("--latency-ms", str(args.latency_ms), "--budget-per-minute", str(args.budget))
    worker = None
    try:
        env = bench_environment(args.name, sandbox)
        env["BULK_BUDGET_RESERVE_PERCENT"] = str(args.reserve_percent)
        setup_django(env)
        from django.contrib.auth import get_user_model

        from sessions_app import bulk
        from sessions_app.models import BulkJob

        registration = sandbox.register_project("Bench preload")
        environment = create_environment(sandbox, registration, args.budget)
        operator, _ = get_user_model().objects.get_or_create(username="bench-operator")
        user_ids = [f"bench-user-{n}" for n in range(args.users)]
        job = bulk.create_job_from_text(
            environment,
            operator,
            kind=BulkJob.Kind.PRELOAD,
            text="\n".join(user_ids),
            variables=VARIABLES,
        )
        worker = Worker(env, f"{args.name}-worker")
        print(f"product: {args.users} users, mode {args.mode}", flush=True)
        bulk.start_job(job, operator, write_mode=args.mode)
        progress = wait_for_job(
            job,
            timeout_s=3600,
            every_s=max(min(args.users / 1000, 10), 0.5),
            report=lambda p: print(
                f"  {p['done'] + p['failed']}/{p['total']} rate {p['rate_per_minute']}/min",
                flush=True,
            ),
        )
        job.refresh_from_db()
        elapsed_s = (job.finished_at - job.started_at).total_seconds()
        stats = sandbox.stats(registration["api_key"])
        requests = stats["requests"]
        lost, doubled = counted(stats, user_ids)
        product_users_per_minute = progress["done"] / elapsed_s * 60
        requests_per_minute = requests / elapsed_s * 60
        job_share = args.budget * (100 - args.reserve_percent) / 100

        print(f"peer: {args.users} users", flush=True)
        peer_registration = sandbox.register_project("Bench peer")
        peer_user_ids = [f"peer-user-{n}" for n in range(args.users)]
        peer_users_per_minute = peer_preload(
            sandbox.url,
            peer_registration["api_key"],
            peer_user_ids,
            VARIABLES,
            budget_per_minute=args.budget,
        )
        peer_stats = sandbox.stats(peer_registration["api_key"])
        peer_lost, peer_doubled = counted(peer_stats, peer_user_ids)

        naive_users_per_minute = None
        if args.naive_users:
            naive_registration = sandbox.register_project("Bench naive loop")
            naive_users_per_minute = naive_loop(sandbox, naive_registration, args.naive_users)

        result = {
            "users": args.users,
            "mode": args.mode,
            "sandbox_latency_ms": args.latency_ms,
            "budget_per_minute": args.budget,
            "reserve_percent": args.reserve_percent,
            "succeeded": progress["done"],
            "failed": progress["failed"],
            "elapsed_s": round(elapsed_s, 1),
            "requests": requests,
            "requests_per_user": round(requests / max(progress["done"], 1), 3),
            "requests_per_minute": round(requests_per_minute, 1),
            "share_of_job_budget": round(requests_per_minute / job_share, 4),
            "share_of_budget_with_reserve": round(
                (requests_per_minute + args.budget - job_share) / args.budget, 4
            ),
            "answered_429": stats["rate_limited"],
            "share_429": round(stats["rate_limited"] / requests, 4) if requests else 0,
            "lost_items": lost,
            "doubled_items": doubled,
            "product_users_per_minute": round(product_users_per_minute, 1),
            "peer_users_per_minute": round(peer_users_per_minute, 1),
            "peer_answered_429": peer_stats["rate_limited"],
            "peer_lost_items": peer_lost,
            "peer_doubled_items": peer_doubled,
            "ratio_product_to_peer": round(product_users_per_minute / peer_users_per_minute, 3),
            "naive_users": args.naive_users,
            "naive_users_per_minute": naive_users_per_minute and round(naive_users_per_minute, 1),
        }
        save_result(args.name, result)
    finally:
        if worker:
            worker.stop()
        sandbox.stop()
    if result["failed"] or lost or doubled or result["succeeded"] != args.users:
        print(f"FAILED: {result['failed']} failed, {lost} lost, {doubled} doubled items")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
