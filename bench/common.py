"""What the benchmarks share: a sandbox process, a database of their own, real Celery workers.

Each benchmark runs on its own database and broker (never the ones `make start` uses):
SQLite `var/bench/<name>.sqlite3` and a filesystem broker by default, or `BENCH_DATABASE_URL` /
`BENCH_BROKER_URL` (e.g. PostgreSQL and Redis). `BENCH_OUT` moves `var/bench/` elsewhere (the
smoke test uses a temporary folder).

A benchmark starts its sandbox before Django, so that the sandbox's port (a free one, on the
loopback address) can be put in VOICEFLOW_ALLOW_PRIVATE_URLS for this process and its workers:
the private-address guard refuses any other loopback origin.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("BENCH_OUT") or ROOT / "var" / "bench")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CELERY = str(ROOT / ".venv" / "bin" / "celery")


def bench_environment(
    name: str,
    sandbox: "Sandbox | None" = None,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
) -> dict:
    """Environment variables for this benchmark's processes (and this one, before Django starts).

    The previous result of the same benchmark is removed first, so a failed run never leaves an
    old figure behind.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").unlink(missing_ok=True)
    database_url = database_url or os.environ.get("BENCH_DATABASE_URL")
    if not database_url:
        db_file = OUT / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        database_url = f"sqlite:///{db_file}"
    env = {
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
    }
    if sandbox is not None:  # the local sandbox is a private address the product must reach
        env["VOICEFLOW_ALLOW_PRIVATE_URLS"] = sandbox.url
    if os.environ.get("BENCH_REFUSE_SANDBOX"):
        # Only for the test that checks a benchmark whose items fail exits non-zero.
        env["VOICEFLOW_ALLOW_PRIVATE_URLS"] = "http://127.0.0.1:9"
    broker_url = broker_url or os.environ.get("BENCH_BROKER_URL")
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    else:
        broker_dir = OUT / f"{name}-broker"
        subprocess.run(["rm", "-rf", str(broker_dir)], check=True)
        for folder in ("queue", "control"):
            (broker_dir / folder).mkdir(parents=True)
        env["CELERY_BROKER_URL"] = "filesystem://"
        env["EMBEDDED_BROKER_DIR"] = str(broker_dir)
    return env


def create_postgres_database(database_url: str) -> None:
    """Create a PostgreSQL benchmark database that does not exist yet (SQLite creates its own)."""
    if not database_url.startswith(("postgres://", "postgresql://")):
        return
    import psycopg
    from psycopg import sql

    server, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not found:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(env: dict) -> None:
    create_postgres_database(env.get("DATABASE_URL", ""))
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceflow_admin.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from voiceflow_admin.celery import app

    app.control.purge()


class Sandbox:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "sessions_app.sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-demo",
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline().strip()
        if not line.startswith("sandbox listening on "):
            raise RuntimeError(f"The sandbox did not start: {line!r}")
        self.url = line.removeprefix("sandbox listening on ")
        self.control = httpx.Client(base_url=self.url, timeout=30)

    def register_project(self, name: str) -> dict:
        import secrets

        project_id = secrets.token_hex(12)
        registration = {
            "project_id": project_id,
            "api_key": f"VF.DM.{project_id}.{secrets.token_hex(16)}",
            "name": name,
            "versions": {"development": secrets.token_hex(12), "production": None},
        }
        self.control.post("/_sandbox/projects", json=registration).raise_for_status()
        return registration

    def stats(self, api_key: str) -> dict:
        response = self.control.get("/_sandbox/stats", params={"api_key": api_key})
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def create_environment(sandbox: Sandbox, registration: dict, budget_per_minute: int):
    from sessions_app.models import Environment, Project

    project = Project.objects.create(
        # Unique per run: a benchmark may run again on the same database.
        name=f"{registration['name']} {registration['project_id'][:8]}",
        voiceflow_project_id=registration["project_id"],
        api_key=registration["api_key"],
        runtime_url=sandbox.url,
        budget_per_minute=budget_per_minute,
    )
    return Environment.objects.create(
        project=project, label="Development", version_id="development"
    )


class Worker:
    def __init__(
        self, env: dict, name: str, *, concurrency: int = 1, extra_env: dict | None = None
    ) -> None:
        self.log = (OUT / f"{name}.log").open("w")
        self.process = subprocess.Popen(
            [
                CELERY,
                "-A",
                "voiceflow_admin",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "WARNING",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env={**os.environ, **env, **(extra_env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def processes(self) -> list[psutil.Process]:
        try:
            main = psutil.Process(self.process.pid)
            return [main, *main.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class PeakRss:
    """Samples the resident memory of some processes every 50 ms; `peak_mb` per process and summed."""

    def __init__(self, processes) -> None:
        self.processes = processes
        self.peak_each = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = []
            for process in self.processes():
                try:
                    sizes.append(process.memory_info().rss)
                except psutil.NoSuchProcess:
                    continue
            if sizes:
                self.peak_each = max(self.peak_each, max(sizes))
                self.peak_total = max(self.peak_total, sum(sizes))
            time.sleep(0.05)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def wait_for_job(job, *, timeout_s: float, every_s: float = 5.0, report=None) -> dict:
    from sessions_app.bulk import job_progress

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job.refresh_from_db()
        progress = job_progress(job)
        if report:
            report(progress)
        if progress["is_finished"]:
            return progress
        time.sleep(every_s)
    raise TimeoutError(f"job {job.pk} did not finish within {timeout_s} s")


def save_result(name: str, result: dict) -> None:
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def mb(value: float) -> float:
    return round(value / 1024 / 1024, 1)
