"""Peak memory of a CSV preload of N rows on each path that reads it, one process each:

- **web**: the upload streamed to the REST API of a real gunicorn worker process (one, with one
  thread): the input is stored and the API answers (the rows are not read there);
- **worker**: a real Celery worker checks the stored input row by row into a draft job;
- **command**: `manage.py bulk_job FILE --dry-run` reads and checks the file itself.

    .venv/bin/python bench/memory.py [--rows 100000 ...] [--worker-seconds 0]

Several `--rows` values measure the growth (e.g. `--rows 10000 100000 1000000`). Each process's
resident memory is sampled every 50 ms. `--worker-seconds S` then also runs the job for S seconds and samples the worker.
Exits non-zero when a path fails or a process exceeds `--limit-mb` (150 by default).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
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
    mb,
    save_result,
    setup_django,
)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w") as file:
        file.write("userID,campaign:string,credits:integer,score:number,vip:boolean,profile:json\n")
        for n in range(rows):
            file.write(
                f'member-{n:07d},spring,{n % 500},{n / 7:.3f},{"true" if n % 3 else "false"},"{{""tier"": {n % 4}}}"\n'
            )


class WebServer:
    """The dashboard as it runs (gunicorn, one worker process, one thread) on a free port."""

    def __init__(self, env: dict) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = (OUT / "memory-web.log").open("w")
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "voiceflow_admin.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "1",
                "--timeout",
                "3600",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the web server did not start")
            time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def post_upload(server: WebServer, token: str, csv_path: Path, environment_id: int) -> dict:
    """The upload through the REST API, the file streamed from disk as a client would."""
    started = time.monotonic()
    with csv_path.open("rb") as upload:
        response = httpx.post(
            f"{server.url}/api/v1/jobs",
            data={"environment": str(environment_id), "kind": "preload", "format": "csv"},
            files={"file": (csv_path.name, upload, "text/csv")},
            headers={"Authorization": f"Token {token}", "Host": "localhost"},
            timeout=3600,
        )
    answered_s = time.monotonic() - started
    if response.status_code != 201:
        raise RuntimeError(f"the upload was answered {response.status_code}: {response.text[:300]}")
    return {
        "job_id": response.json()["id"],
        "status": response.json()["status"],
        "answered_s": answered_s,
    }


def measure(rows: int, env: dict, environment, token: str, worker_seconds: float) -> dict:
    from sessions_app import bulk
    from sessions_app.models import AuditEntry, BulkJob

    csv_path = OUT / f"memory-{rows}.csv"
    write_csv(csv_path, rows)
    try:
        server = WebServer(env)
        try:
            baseline = max((p.memory_info().rss for p in server.workers()), default=0)
            with PeakRss(server.workers) as web:
                answer = post_upload(server, token, csv_path, environment.pk)
        finally:
            server.stop()

        job = BulkJob.objects.get(pk=answer["job_id"])
        worker = Worker(env, f"bench-memory-worker-{rows}")
        try:
            started = time.monotonic()
            with PeakRss(worker.processes) as checking:
                while True:
                    job.refresh_from_db()
                    if job.status != BulkJob.Status.VALIDATING:
                        break
                    if time.monotonic() - started > 7200:
                        raise TimeoutError("the check did not finish within two hours")
                    time.sleep(0.5)
            check_s = time.monotonic() - started
            running = None
            if worker_seconds > 0:
                bulk.start_job(job, None)
                with PeakRss(worker.processes) as running:
                    time.sleep(worker_seconds)
                job.refresh_from_db()
                if not bulk.job_progress(job)["is_finished"]:  # a small job may be done already
                    bulk.cancel_job(job, None, source=AuditEntry.Source.CLI)
        finally:
            worker.stop()

        started = time.monotonic()
        command = subprocess.Popen(
            [
                PYTHON,
                "manage.py",
                "bulk_job",
                str(csv_path),
                "--environment",
                str(environment.pk),
                "--as-user",
                "bench-ops",
                "--dry-run",
                "--json",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            text=True,
        )
        with PeakRss(
            lambda: [psutil.Process(command.pid)] if command.poll() is None else []
        ) as cli:
            cli_output, _ = command.communicate(timeout=7200)
        cli_s = time.monotonic() - started
        cli_report = json.loads(cli_output.strip().splitlines()[-1])
        return {
            "rows": rows,
            "csv_mb": mb(csv_path.stat().st_size),
            "web_answered_s": round(answer["answered_s"], 2),
            "web_status_after_answer": answer["status"],
            "web_rss_before_upload_mb": mb(baseline),
            "web_peak_rss_sampled_mb": mb(web.peak_each),
            "worker_check_s": round(check_s, 1),
            "worker_items_created": job.total_items,
            "worker_peak_rss_one_process_mb": mb(checking.peak_each),
            "worker_running_peak_rss_one_process_mb": mb(running.peak_each) if running else None,
            "worker_items_done": job.items.filter(status="succeeded").count(),
            "command_check_s": round(cli_s, 1),
            "command_valid_rows": cli_report.get("valid_rows"),
            "command_peak_rss_mb": mb(cli.peak_each),
        }
    finally:
        csv_path.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--worker-seconds", type=float, default=0.0)
    parser.add_argument("--limit-mb", type=float, default=150.0)
    args = parser.parse_args()

    sandbox = Sandbox("--budget-per-minute", "10000000")
    env = bench_environment("memory", sandbox)
    setup_django(env)
    from common import create_environment

    from sessions_app.roles import ensure_roles

    results = []
    try:
        registration = sandbox.register_project("Bench memory")
        environment = create_environment(sandbox, registration, 10_000_000)
        from django.contrib.auth import get_user_model

        operator, _ = get_user_model().objects.get_or_create(username="bench-ops")
        operator.groups.add(ensure_roles()["Ops"])
        from knox.models import AuthToken

        _, token = AuthToken.objects.create(operator, expiry=None)
        for rows in args.rows:
            results.append(measure(rows, env, environment, token, args.worker_seconds))
            print(json.dumps(results[-1]), flush=True)
    finally:
        sandbox.stop()
    save_result(
        "memory",
        {
            "limit_mb": args.limit_mb,
            "worker_items_done": sum(run["worker_items_done"] for run in results),
            "runs": results,
        },
    )
    failed = [
        (run["rows"], name, run[name])
        for run in results
        for name in (
            "web_peak_rss_sampled_mb",
            "worker_peak_rss_one_process_mb",
            "command_peak_rss_mb",
        )
        if run[name] > args.limit_mb
    ]
    wrong = [
        run["rows"]
        for run in results
        if run["worker_items_created"] != run["rows"] or run["command_valid_rows"] != run["rows"]
    ]
    if failed or wrong:
        print(f"over {args.limit_mb} MB: {failed}; rows lost: {wrong}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
