"""Peak memory of a 100,000-row CSV preload: the web side (upload, validation row by row, job
creation, enqueue) and the worker working through the job.

    .venv/bin/python bench/memory.py [--rows 100000] [--worker-seconds 60]

The web side runs in a child process that posts the file to the real upload view through
Django's test client; its peak resident memory is sampled every 50 ms and also read from the
kernel (ru_maxrss). The worker is a real Celery worker process tree, sampled the same way.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    OUT,
    PYTHON,
    PeakRss,
    Sandbox,
    Worker,
    bench_environment,
    mb,
    save_result,
    setup_django,
)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w") as file:
        file.write("userID,campaign:string,credits:integer,score:number,vip:boolean,profile:json\n")
        for n in range(rows):
            file.write(
                f'member-{n:06d},spring,{n % 500},{n / 7:.3f},{"true" if n % 3 else "false"},"{{""tier"": {n % 4}}}"\n'
            )


def web_side(csv_path: str, environment_id: int) -> None:
    """Child process: the web process's part, measured from the outside and by the kernel."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from sessions_app import bulk
    from sessions_app.models import BulkJob
    from sessions_app.roles import ensure_roles

    operator, _ = get_user_model().objects.get_or_create(username="bench-ops")
    operator.groups.add(ensure_roles()["Ops"])
    client = Client(HTTP_HOST="localhost")
    client.force_login(operator, backend="django.contrib.auth.backends.ModelBackend")
    baseline = psutil.Process().memory_info().rss
    with open(csv_path, "rb") as upload:
        response = client.post(
            "/jobs/new",
            {"mode": "file", "format": "csv", "environment": environment_id, "file": upload},
        )
    assert response.status_code == 302, response.content[:300]
    job = BulkJob.objects.latest("pk")
    bulk.start_job(job, operator)
    print(
        json.dumps(
            {
                "job_id": job.pk,
                "items": job.total_items,
                "baseline_rss": baseline,
                "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            }
        ),
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--worker-seconds", type=float, default=60.0)
    parser.add_argument(
        "--web-part", nargs=2, metavar=("CSV", "ENVIRONMENT_ID"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.web_part:
        setup_django({})
        web_side(args.web_part[0], int(args.web_part[1]))
        return 0

    sandbox = Sandbox("--budget-per-minute", "10000000")
    csv_path = OUT / f"memory-{args.rows}.csv"
    worker = None
    try:
        env = bench_environment("memory", sandbox)
        setup_django(env)
        from common import create_environment

        from sessions_app import bulk
        from sessions_app.models import BulkJob

        write_csv(csv_path, args.rows)
        registration = sandbox.register_project("Bench memory")
        environment = create_environment(sandbox, registration, 10_000_000)

        started = time.monotonic()
        child = subprocess.Popen(
            [PYTHON, __file__, "--web-part", str(csv_path), str(environment.pk)],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            text=True,
        )
        with PeakRss(
            lambda: [psutil.Process(child.pid)] if child.poll() is None else []
        ) as web_peak:
            output, _ = child.communicate(timeout=1800)
        web_seconds = time.monotonic() - started
        web = json.loads(output.strip().splitlines()[-1])

        worker = Worker(env, "bench-memory-worker")
        job = BulkJob.objects.get(pk=web["job_id"])
        with PeakRss(worker.processes) as worker_peak:
            time.sleep(args.worker_seconds)
            # A short run (the smoke test) still waits for the worker's first items.
            deadline = time.monotonic() + 120
            while not job.items.filter(status="succeeded").exists():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        done = job.items.filter(status="succeeded").count()
        failed = job.items.filter(status="failed").count()
        job.refresh_from_db()
        if not bulk.job_progress(job)["is_finished"]:
            bulk.cancel_job(job)

        save_result(
            "memory",
            {
                "rows": args.rows,
                "csv_mb": mb(csv_path.stat().st_size),
                "web_validate_and_enqueue_s": round(web_seconds, 1),
                "web_items_created": web["items"],
                "web_rss_before_upload_mb": mb(web["baseline_rss"]),
                "web_peak_rss_sampled_mb": mb(web_peak.peak_each),
                "web_peak_rss_kernel_mb": mb(web["ru_maxrss"]),
                "worker_seconds": args.worker_seconds,
                "worker_items_done": done,
                "worker_items_failed": failed,
                "worker_peak_rss_one_process_mb": mb(worker_peak.peak_each),
                "worker_peak_rss_all_processes_mb": mb(worker_peak.peak_total),
            },
        )
    finally:
        if worker:
            worker.stop()
        sandbox.stop()
        csv_path.unlink(missing_ok=True)
    if failed or not done or web["items"] != args.rows:
        print(f"FAILED: {web['items']} items created of {args.rows}, {done} done, {failed} failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
