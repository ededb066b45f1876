"""`make start` (scripts/start.py) runs the local stack and watches it: a process that dies is
named and the rest stop with it (no orphaned beat), Ctrl-C stops everything with exit status 0,
and every line carries its process's name, with no kombu warnings."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from reliability_support import ROOT, free_port

pytestmark = pytest.mark.worker

LINE = re.compile(r"^\d\d:\d\d:\d\d (sandbox|web|worker|start) +\| ")


class Stack:
    def __init__(self, tmp_path: Path) -> None:
        self.web_port, self.sandbox_port = free_port(), free_port()
        self.log_path = tmp_path / "start.log"
        env = {
            **os.environ,
            "VAR_DIR": str(tmp_path / "var"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'db.sqlite3'}",
            "CELERY_BROKER_URL": "filesystem://",
            "EMBEDDED_BROKER_DIR": str(tmp_path / "var" / "broker"),
            "WEB_PORT": str(self.web_port),
            "SANDBOX_PORT": str(self.sandbox_port),
            "SANDBOX_URL": f"http://127.0.0.1:{self.sandbox_port}",
            "VOICEFLOW_ALLOW_PRIVATE_URLS": f"http://127.0.0.1:{self.sandbox_port}",
        }
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "scripts" / "start.py")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until(lambda: "ready." in self.log() and self.web_answers(), "the stack")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def web_answers(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.web_port}/healthz", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def wait_until(self, condition, what: str, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise AssertionError(f"Timed out waiting for {what}:\n{self.log()[-4000:]}")
            time.sleep(0.3)

    def pid_of(self, name: str) -> int:
        return int(re.search(rf"{name} started \(process (\d+)\)", self.log()).group(1))

    def groups_alive(self) -> list[str]:
        alive = []
        for name in ("sandbox", "web", "worker"):
            try:
                os.killpg(self.pid_of(name), 0)
                alive.append(name)
            except ProcessLookupError:
                pass
        return alive

    def kill(self) -> None:
        for name in ("sandbox", "web", "worker"):
            with contextlib.suppress(ProcessLookupError, AttributeError):
                os.killpg(self.pid_of(name), signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path)
    yield stack
    stack.kill()


def test_a_worker_killed_with_sigkill_stops_the_rest_and_no_beat_survives(stack):
    worker = stack.pid_of("worker")

    os.kill(worker, signal.SIGKILL)  # the worker's main process only, as `kill -9` would

    assert stack.process.wait(timeout=60) == 1
    log = stack.log()
    assert "worker ended (killed by SIGKILL); stopping the others." in log
    assert stack.groups_alive() == []  # the embedded beat (same group) went with it
    assert not stack.web_answers()


def test_ctrl_c_stops_everything_with_exit_status_0_and_every_line_names_its_process(stack):
    stack.process.send_signal(signal.SIGINT)

    assert stack.process.wait(timeout=60) == 0
    log = stack.log()
    assert "stopping everything…" in log and log.rstrip().endswith("stopped.")
    assert stack.groups_alive() == []
    assert "No hostname was supplied" not in log
    supervised = log[log.index("Stop everything with Ctrl-C.") :].splitlines()[1:]
    unlabelled = [line for line in supervised if line.strip() and not LINE.match(line)]
    assert unlabelled == []
    for name in ("sandbox", "web", "worker"):
        assert any(line.split("|")[0].split()[1] == name for line in supervised[1:] if "|" in line)
