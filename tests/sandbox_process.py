"""A real sandbox process for the sandbox's own tests, and small helpers to drive it.

The sandbox is started exactly as a developer starts it (`python -m sessions_app.sandbox`), and
the tests talk to it over sockets with httpx.
"""

import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
READY_PREFIX = "sandbox listening on "


def start_sandbox(extra_args: tuple[str, ...] | list[str] = ()) -> tuple[str, subprocess.Popen]:
    """Start `python -m sessions_app.sandbox --port 0 …`; return its URL once it is listening."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sessions_app.sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *extra_args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip()
    if not line.startswith(READY_PREFIX):
        process.kill()
        raise RuntimeError(f"the sandbox did not start: {line!r}")
    return line.removeprefix(READY_PREFIX), process


def stop_sandbox(process: subprocess.Popen, *, timeout_s: float = 10) -> int:
    """SIGTERM, as a process manager would; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()
    return process.returncode


@dataclass
class RegisteredProject:
    """A project registered for one test: its own key, hence its own budget, knobs and stats."""

    project_id: str
    api_key: str
    versions: dict[str, str | None]
    access_token: str = field(default_factory=lambda: f"vfp_{secrets.token_hex(8)}")

    def registration(self) -> dict:
        return {
            "project_id": self.project_id,
            "api_key": self.api_key,
            "name": f"Test project {self.project_id[-6:]}",
            "versions": self.versions,
            "access_token": self.access_token,
        }


class Sandbox:
    def __init__(self, url: str, process: subprocess.Popen) -> None:
        self.url = url
        self.process = process
        self.control = httpx.Client(base_url=url, timeout=10)

    def close(self) -> None:
        self.control.close()
        stop_sandbox(self.process)

    def register_project(self, **versions: str | None) -> RegisteredProject:
        project_id = secrets.token_hex(12)
        project = RegisteredProject(
            project_id=project_id,
            api_key=f"VF.DM.{project_id}.{secrets.token_hex(16)}",
            versions={
                "development": secrets.token_hex(12),
                "production": secrets.token_hex(12),
                **versions,
            },
        )
        self.control.post("/_sandbox/projects", json=project.registration()).raise_for_status()
        return project

    def client(self, project: RegisteredProject | None = None, **headers: str) -> httpx.Client:
        """An HTTP client with the project's key and projectID, like the product's client."""
        defaults = {"versionID": "development"}
        if project is not None:
            defaults |= {"Authorization": project.api_key, "projectID": project.project_id}
        return httpx.Client(base_url=self.url, headers=defaults | headers, timeout=10)

    def state(self, project_id: str, user_id: str) -> dict | None:
        response = self.control.get(
            "/_sandbox/state", params={"project_id": project_id, "user_id": user_id}
        )
        response.raise_for_status()
        return response.json()

    def set_state(self, project_id: str, user_id: str, state: dict) -> None:
        self.control.put(
            "/_sandbox/state", json={"project_id": project_id, "user_id": user_id, "state": state}
        ).raise_for_status()

    def knobs(self, **knobs: object) -> dict:
        response = self.control.post("/_sandbox/knobs", json=knobs)
        response.raise_for_status()
        return response.json()

    def stats(self, api_key: str | None = None) -> dict:
        params = {"api_key": api_key} if api_key else {}
        response = self.control.get("/_sandbox/stats", params=params)
        response.raise_for_status()
        return response.json()
