"""Does a job's cost per item grow with the job? One worker process's steady rate (items/s) in
jobs of growing size, with the budget out of the way (no latency, a budget of 100 million a
minute), on an audit table that already holds `--audit-entries` rows.

    .venv/bin/python bench/scale.py [--sizes 10000,100000,1000000] [--audit-entries 1000000]
        [--window-items 20000]

Items are created directly in the database (one template row copied N times, as fast as the
database inserts), so what is measured is the engine: claim, audit row, write, record,
progress. Each job runs until `--window-items` items are written (or to its end), then is
cancelled, so every size is measured over the same number of items: the rate is taken over the
items after the first 10% of the window, which leaves the worker's start out.
"""

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Sandbox, Worker, bench_environment, create_environment, save_result, setup_django

BUDGET = 100_000_000


def copy_row(model, template_pk: int, count: int, varying: dict[str, str]) -> None:
    """Insert `count` copies of one stored row (n = 1…count), with the `varying` columns set by
    SQL expressions of n: one INSERT … SELECT, instead of a million objects in Python."""
    from django.db import connection

    quote = connection.ops.quote_name
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    chosen = [varying.get(column, f"t.{quote(column)}") for column in columns]
    table = quote(model._meta.db_table)
    # Table and column names come from the models; the count and the row are parameters.
    statement = (
        f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %s) "  # noqa: S608
        f"INSERT INTO {table} ({', '.join(map(quote, columns))}) "
        f"SELECT {', '.join(chosen)} FROM {table} t, g WHERE t.{quote(model._meta.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # a million rows take longer than a request may
            cursor.execute("SET statement_timeout = 0")
        cursor.execute(statement, [count, template_pk])


def seed_audit(environment, operator, count: int) -> None:
    from sessions_app.models import AuditEntry

    if count <= 0:
        return
    template = AuditEntry.objects.create(
        **AuditEntry.actor_fields(operator),
        source=AuditEntry.Source.PAGE,
        project=environment.project,
        project_name=environment.project.name,
        environment=environment,
        environment_label=environment.label,
        user_id="earlier",
        action=AuditEntry.Action.SET_VARIABLES,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        state_before={},
        state_after={"variables": {"n": 0}},
    )
    if count > 1:
        copy_row(AuditEntry, template.pk, count - 1, {"user_id": "'earlier-' || g.n"})


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
    template = BulkItem.objects.create(
        job=job, line_number=1, user_id=f"s{size}-0", variables={"n": 0}
    )
    if size > 1:
        copy_row(
            BulkItem,
            template.pk,
            size - 1,
            {"line_number": "g.n + 1", "user_id": f"'s{size}-' || g.n"},
        )
    return job


def cpu_s(worker: Worker) -> float:
    """The worker's CPU time so far (main process and pool child), user and system."""
    total = 0.0
    for process in worker.processes():
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def measure(job, window_items: int, worker: Worker) -> dict:
    from sessions_app import bulk
    from sessions_app.models import AuditEntry, BulkItem

    deadline = time.monotonic() + 3600
    samples = []  # (items done, worker CPU s, load average) once a second
    while True:
        job.refresh_from_db()
        progress = bulk.job_progress(job)
        samples.append((progress["done"], cpu_s(worker), os.getloadavg()[0]))
        if progress["is_finished"] or progress["done"] + progress["failed"] >= window_items:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job.pk}: {window_items} items not done within an hour")
        time.sleep(1)
    if not progress["is_finished"]:
        # A small job may finish between the progress read and the cancel.
        with contextlib.suppress(bulk.JobStateError):
            bulk.cancel_job(job, None, source=AuditEntry.Source.CLI)
    # Cancelling marks the items left as skipped: only the written ones count, and of those the
    # first `window_items` in the order they finished.
    done = BulkItem.objects.filter(job=job, status="succeeded")
    times = list(done.order_by("finished_at").values_list("finished_at", flat=True)[:window_items])
    skip = len(times) // 10
    span_s = (times[-1] - times[skip]).total_seconds() if len(times) > 1 else 0
    # The worker's CPU per item over the same part of the window: what a busy host does not
    # inflate as it does the rate (the database server's own work is not in it).
    steady = [sample for sample in samples if sample[0] >= skip] or samples[-1:]
    items = steady[-1][0] - steady[0][0]
    return {
        "items": job.total_items,
        "items_done": done.count(),
        "items_failed": BulkItem.objects.filter(job=job, status="failed").count(),
        "measured_items": len(times) - skip,
        "measured_s": round(span_s, 1),
        "items_per_s": round((len(times) - skip - 1) / span_s, 1) if span_s > 0 else None,
        "worker_cpu_ms_per_item": (
            round((steady[-1][1] - steady[0][1]) / items * 1000, 2) if items > 0 else None
        ),
        "load_average": round(sum(sample[2] for sample in steady) / len(steady), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--audit-entries",
        type=int,
        default=1_000_000,
        help="audit rows added before the first job (0 on a database that holds them already)",
    )
    parser.add_argument("--window-items", type=int, default=20_000)
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
            result = measure(job, min(args.window_items, size), worker)
            print(f"  {result}", flush=True)
            results.append(result)
        save_result(
            "scale",
            {
                "audit_entries_before": args.audit_entries,
                "database": env["DATABASE_URL"].split("@")[-1],
                "worker_processes": 1,
                "window_items": args.window_items,
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
