"""A segment job against a file job of the same size: how fast one worker runs each (items/s) and
how much memory creating and running each takes (peak RSS).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/vf_bench_segment_job \
      .venv/bin/python bench/segment_job.py [--members 100000] [--window-items 2000]

The known-sessions index of one environment holds `--members` sessions that match a segment
(userID prefix `seg-`, no `campaign` variable: the same check a job re-makes on each live state);
another `--members` userIDs go into a CSV. Both jobs set `campaign` on every member, read first
(a segment job always reads each state first, to re-check it), with the budget out of the way
(no latency, 100 million requests a minute):

- **create**: the draft made in a process of its own (`--child`), its resident memory sampled
  every 50 ms: the segment's members streamed from the index into items, against the CSV read
  and checked row by row (what `manage.py bulk_job` and the worker's check do);
- **run**: each job started alone on a fresh worker process (`--concurrency 1`), until
  `--window-items` are done (or to its end), then cancelled; items/s and worker CPU per item as
  in bench/scale.py (over the window's items after its first 10%) and the worker's peak RSS.

Exits 1 when an item failed or no item was done, or a job lost members.
"""

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    OUT,
    PYTHON,
    ROOT,
    PeakRss,
    Sandbox,
    Worker,
    bench_environment,
    create_environment,
    mb,
    save_result,
    setup_django,
)
from scale import measure

BUDGET = 100_000_000
BATCH = 5000
SEGMENT = [
    {"field": "user_id", "op": "prefix", "value": "seg-"},
    {"field": "variable", "path": "campaign", "op": "missing"},
]
VARIABLES = {"campaign": "spring"}


def fill_index(environment, members: int) -> None:
    """`members` indexed sessions in the segment, as note_session would index them."""
    from django.utils import timezone

    from sessions_app.models import KnownSession
    from sessions_app.segments.conditions import index_fields

    KnownSession.objects.filter(environment=environment).delete()
    now = timezone.now()
    fields = index_fields({"stack": [], "variables": {"plan": "gold"}})
    rows = []
    for n in range(members):
        rows.append(
            KnownSession(
                environment=environment,
                user_id=f"seg-{n:07d}",
                origin=KnownSession.Origin.IMPORTED,
                has_state=True,
                last_seen_at=now,
                last_activity_at=now,
                **fields,
            )
        )
        if len(rows) >= BATCH:
            KnownSession.objects.bulk_create(rows)
            rows = []
    KnownSession.objects.bulk_create(rows)


def csv_of(members: int) -> Path:
    path = OUT / f"segment_job-{members}.csv"
    with path.open("w") as file:
        file.write("userID,campaign:string\n")
        for n in range(members):
            file.write(f"file-{n:07d},spring\n")
    return path


def create_in_child(what: str, environment_id: int, source: str) -> dict:
    """Run this script with --child in a process of its own; its peak RSS while it creates."""
    command = subprocess.Popen(
        [PYTHON, __file__, "--child", what, str(environment_id), source],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    with PeakRss(lambda: [psutil.Process(command.pid)] if command.poll() is None else []) as rss:
        output, _ = command.communicate(timeout=7200)
    if command.returncode != 0:
        raise RuntimeError(f"creating the {what} job failed: {output[-2000:]}")
    created = json.loads(output.strip().splitlines()[-1])
    return {
        **created,
        "create_s": round(time.monotonic() - started, 1),
        "create_peak_rss_mb": mb(rss.peak_each),
    }


def child(what: str, environment_id: int, source: str) -> None:
    """Create one draft (in this process) and print its id, its items and the RSS before."""
    from sessions_app import bulk
    from sessions_app.models import BulkJob, Environment, Segment

    environment = Environment.objects.select_related("project").get(pk=environment_id)
    before = psutil.Process().memory_info().rss
    started = time.monotonic()
    if what == "segment":
        job = bulk.create_job_from_segment(
            Segment.objects.get(pk=int(source)), None, kind="preload", variables=VARIABLES
        )
    else:
        with open(source, "rb") as upload:
            job = bulk.create_job_from_upload(
                environment,
                None,
                kind=BulkJob.Kind.PRELOAD,
                source_format=bulk.Format.CSV,
                binary=io.BufferedReader(upload),
                source_name=Path(source).name,
            )
    print(
        json.dumps(
            {
                "job": job.pk,
                "items": job.total_items,
                "rss_before_create_mb": mb(before),
                "create_only_s": round(time.monotonic() - started, 1),
            }
        )
    )


def run_alone(env: dict, job, operator, window_items: int, name: str) -> dict:
    from sessions_app import bulk

    worker = Worker(env, name)
    try:
        bulk.start_job(job, operator)
        with PeakRss(worker.processes) as rss:
            result = measure(job, window_items, worker)
    finally:
        worker.stop()
    return {**result, "run_peak_rss_mb": mb(rss.peak_each)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--window-items", type=int, default=2000)
    parser.add_argument("--child", nargs=3, metavar=("WHAT", "ENVIRONMENT", "SOURCE"))
    args = parser.parse_args()
    if args.child:  # the parent has migrated the database and set the environment
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceflow_admin.settings")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        child(args.child[0], int(args.child[1]), args.child[2])
        return 0

    sandbox = Sandbox("--budget-per-minute", str(BUDGET))
    results = {}
    try:
        env = bench_environment("segment_job", sandbox)
        setup_django(env)
        from django.contrib.auth import get_user_model

        from sessions_app import segments
        from sessions_app.roles import ensure_roles

        registration = sandbox.register_project("Bench segment job")
        environment = create_environment(sandbox, registration, BUDGET)
        operator, _ = get_user_model().objects.get_or_create(username="bench-segment-ops")
        operator.groups.add(ensure_roles()["Ops"])
        started = time.monotonic()
        fill_index(environment, args.members)
        print(f"{args.members} indexed sessions in {time.monotonic() - started:.0f} s", flush=True)
        segment = segments.save_segment(
            environment, operator, name="without a campaign", conditions=SEGMENT
        )
        csv_path = csv_of(args.members)
        try:
            for what, source in [("segment", str(segment.pk)), ("file", str(csv_path))]:
                created = create_in_child(what, environment.pk, source)
                print(f"{what}: created {created}", flush=True)
                from sessions_app.models import BulkJob

                job = BulkJob.objects.get(pk=created["job"])
                ran = run_alone(env, job, operator, args.window_items, f"bench-{what}-job-worker")
                print(f"{what}: ran {ran}", flush=True)
                results[what] = {**created, **ran}
        finally:
            csv_path.unlink(missing_ok=True)
    finally:
        sandbox.stop()
    save_result(
        "segment_job",
        {
            "members": args.members,
            "window_items": args.window_items,
            "database": env["DATABASE_URL"].split("@")[-1],
            "worker_processes": 1,
            "load_average_1_5_15": [round(load, 2) for load in os.getloadavg()],
            "jobs": results,
        },
    )
    broken = [
        what
        for what, result in results.items()
        if result["items"] != args.members or result["items_failed"] or not result["items_done"]
    ]
    if broken:
        print(f"FAILED: {', '.join(broken)}: members lost, items failed or none was done")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
