"""Processes that the reliability tests start and break: the web server exactly as the production
Procfile runs it, Celery processes from the same file, a private Redis, and a TCP proxy whose
connections a test can cut."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
from bulk_support import wait_for

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile_command(process_type: str) -> str:
    """The command line of one process type in the production Procfile."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return command.strip()
    raise LookupError(f"The Procfile has no {process_type!r} process.")


def run_django(code: str, **variables: str) -> tuple[subprocess.CompletedProcess, float]:
    """`code` in a fresh interpreter after django.setup(), as a web or worker process starts."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", f"import django\ndjango.setup()\n{code}"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "voiceflow_admin.settings", **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, time.monotonic() - started


def kill_process_group(process: subprocess.Popen | None) -> None:
    """SIGKILL to the whole process group of `process` (started with start_new_session=True),
    then reap it: a crash, nothing gets to clean up."""
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    if process is not None:
        process.wait(timeout=30)


def database_url_of(settings_dict: dict) -> str:
    """The DATABASE_URL of a connection's settings (the test database), for processes a test
    starts."""
    from urllib.parse import quote

    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    credentials = quote(settings_dict.get("USER") or "", safe="")
    if settings_dict.get("PASSWORD"):
        credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{settings_dict['NAME']}"


def process_env(broker_env: dict[str, str], **overrides: str) -> dict[str, str]:
    """The environment of a web, worker or beat process on the test database, with the short
    leases and sweep interval the worker tests use."""
    from django.db import connection

    return {
        **os.environ,
        **broker_env,
        "DATABASE_URL": database_url_of(connection.settings_dict),
        "BULK_LEASE_SECONDS": "5",
        "BULK_SWEEP_INTERVAL_S": "1",
        "BULK_CONCURRENCY": "4",
        "WORKER_HEARTBEAT_S": "1",
        "VOICEFLOW_TIMEOUT_S": "3",
        "DATABASE_CONN_MAX_AGE": "0",
        **overrides,
    }


@contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """This test process queues tasks on `broker_url` (a Redis of the test's own) meanwhile."""
    from voiceflow_admin.celery import app

    def forget_connections() -> None:
        # Forgotten, not closed: kombu keeps one pool per broker address for the whole process,
        # and the test run's own broker needs its pool again afterwards.
        app._pool = None
        app.amqp._producer_pool = None

    saved = (os.environ.get("CELERY_BROKER_URL"), app.conf.broker_url)
    saved_options = app.conf.broker_transport_options
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    os.environ["CELERY_BROKER_URL"] = app.conf.broker_url = broker_url
    # What settings.py sets for a redis:// broker.
    app.conf.broker_transport_options = {
        "visibility_timeout": 3600,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
    }
    forget_connections()
    try:
        yield
    finally:
        forget_connections()
        if saved[0] is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved[0]
        app.conf.broker_url = saved[1]
        app.conf.broker_transport_options = saved_options


class ProcfileProcess:
    """One Procfile process type run through the shell (as honcho or a platform would), with the
    virtualenv first on PATH, in its own process group so that `kill()` takes all its children."""

    def __init__(self, process_type: str, env: dict[str, str], log_path: Path) -> None:
        self.process_type = process_type
        self.env = {**env, "PATH": f"{VENV_BIN}:{env.get('PATH', os.defpath)}"}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> "ProcfileProcess":
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", procfile_command(self.process_type)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole group: a crash, nothing gets to clean up."""
        kill_process_group(self.process)
        self.process = None


class WebServer(ProcfileProcess):
    """The Procfile's `web:` line (gunicorn) on a port of its own."""

    def __init__(self, env: dict[str, str], log_path: Path, *, workers: int = 2) -> None:
        self.port = free_port()
        super().__init__(
            "web",
            {**env, "BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(workers)},
            log_path,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebServer":
        super().start()

        def answering() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.log()[-3000:]}")
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answering, timeout_s=60, what="gunicorn to answer /healthz")
        return self


class CeleryProcess(ProcfileProcess):
    """The Procfile's `worker:` or `beat:` line."""

    def start(self) -> "CeleryProcess":
        super().start()
        ready = " ready." if self.process_type == "worker" else "beat: Starting"

        def started() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.process_type} exited:\n{self.log()[-3000:]}")
            return ready in self.log()

        wait_for(started, timeout_s=60, what=f"the {self.process_type} to start")
        return self


class RedisServer:
    """A Redis of the test's own on a free port (never the machine's shared one), without
    persistence: a restart loses every message, as a crashed broker would."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def answering() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    return conn.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(answering, timeout_s=20, what=f"redis-server on port {self.port}")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class TcpProxy:
    """Forwards a local port to `target`, one pair of threads per connection.

    `cut()` closes every open connection and answers new ones by closing them at once, as a
    database that restarts or fails over does; `restore()` forwards again.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open_sockets: set[socket.socket] = set()
        self.is_cut = False
        self.closed = False
        threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                refused = self.is_cut
            if refused:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.open_sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _close(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with self.lock:
                self.open_sockets.discard(sock)
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        with self.lock:
            self.is_cut = True
            victims = list(self.open_sockets)
        self._close(*victims)

    def restore(self) -> None:
        with self.lock:
            self.is_cut = False

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()
