"""Does a job's cost per item grow with the job? One worker process's steady rate (items/s) in
jobs of growing size, with the budget out of the way (no latency, a budget of 100 million a
minute), on an audit table that already holds `--audit-entries` rows.

    .venv/bin/python bench/scale.py [--sizes 10000,100000] [--audit-entries 1000000]
        [--seconds 60]

Items are created directly (bulk_create, as the upload does), so what is measured is the
engine: claim, resumable-audit lookup, audit row, write, record, progress. Each job runs for
`--seconds` after its first item (or to its end), then is cancelled; the rate is taken over the
items finished after the first 10% of that time, so the worker's start is left out.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Sandbox, Worker, bench_environment, create_environment, save_result, setup_django

BUDGET = 100_000_000
BATCH = 5000


def seed_audit(environment, operator, count: int) -> None:
    from sessions_app.models import AuditEntry

    rows = []
    for n in range(count):
        rows.append(
            AuditEntry(
                **AuditEntry.actor_fields(operator),
                source=AuditEntry.Source.PAGE,
                project=environment.project,
                project_name=environment.project.name,
                environment=environment,
                environment_label=environment.label,
                user_id=f"earlier-{n}",
                action=AuditEntry.Action.SET_VARIABLES,
                outcome=AuditEntry.Outcome.SUCCEEDED,
                state_before={},
                state_after={"variables": {"n": n}},
            )
        )
        if len(rows) >= BATCH:
            AuditEntry.objects.bulk_create(rows)
            rows = []
    AuditEntry.objects.bulk_create(rows)


def make_job(environment, operator, size: int):
    from sessions_app.models import BulkItem, BulkJob

    job = BulkJob.objects.create(
        kind=BulkJob.Kind.PRELOAD,
        environment=environment,
        created_by=operator,
        source_name=f"scale-{size}",
        validation_report={"valid_rows": size, "bad_rows": 0, "problems": []},
        total_items=size,
    )
    items = []
    for n in range(size):
        items.append(
            BulkItem(job=job, line_number=n + 1, user_id=f"s{size}-{n}", variables={"n": n})
        )
        if len(items) >= BATCH:
            BulkItem.objects.bulk_create(items)
            items = []
    BulkItem.objects.bulk_create(items)
    return job


def measure(job, seconds: float) -> dict:
    from sessions_app import bulk
    from sessions_app.models import AuditEntry, BulkItem

    finished = BulkItem.objects.filter(job=job, finished_at__isnull=False)
    deadline = time.monotonic() + 600
    while not finished.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job.pk}: no item finished within 600 s")
        time.sleep(0.2)
    first_at = time.monotonic()
    while time.monotonic() - first_at < seconds:
        job.refresh_from_db()
        if bulk.job_progress(job)["is_finished"]:
            break
        time.sleep(1)
    job.refresh_from_db()
    if not bulk.job_progress(job)["is_finished"]:
        bulk.cancel_job(job, None, source=AuditEntry.Source.CLI)
    # Cancelling marks the items left as skipped: only the written ones count.
    done = finished.filter(status="succeeded")
    first = done.order_by("finished_at").first().finished_at
    last = done.order_by("-finished_at").first().finished_at
    skip_to = first + (last - first) / 10
    window = done.filter(finished_at__gte=skip_to)
    count = window.count()
    span_s = (last - skip_to).total_seconds()
    return {
        "items": job.total_items,
        "items_done": finished.filter(status="succeeded").count(),
        "items_failed": finished.filter(status="failed").count(),
        "measured_items": count,
        "measured_s": round(span_s, 1),
        "items_per_s": round((count - 1) / span_s, 1) if span_s > 0 else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--audit-entries", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    sandbox = Sandbox("--budget-per-minute", str(BUDGET))
    worker = None
    results = []
    try:
        env = bench_environment("scale", sandbox)
        setup_django(env)
        from django.contrib.auth import get_user_model

        from sessions_app import bulk

        registration = sandbox.register_project("Bench scale")
        environment = create_environment(sandbox, registration, BUDGET)
        operator, _ = get_user_model().objects.get_or_create(username="bench-operator")
        started = time.monotonic()
        seed_audit(environment, operator, args.audit_entries)
        print(f"{args.audit_entries} audit entries in {time.monotonic() - started:.0f} s")
        worker = Worker(env, "bench-scale-worker")
        for size in sizes:
            started = time.monotonic()
            job = make_job(environment, operator, size)
            print(f"job of {size} items created in {time.monotonic() - started:.0f} s", flush=True)
            bulk.start_job(job, operator)
            result = measure(job, args.seconds)
            print(f"  {result}", flush=True)
            results.append(result)
        save_result(
            "scale",
            {
                "audit_entries_before": args.audit_entries,
                "database": env["DATABASE_URL"].split("@")[-1],
                "worker_processes": 1,
                "sizes": results,
            },
        )
    finally:
        if worker:
            worker.stop()
        sandbox.stop()
    if any(result["items_failed"] or not result["items_done"] for result in results):
        print("FAILED: items failed or none was done")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
