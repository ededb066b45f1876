"""Running the sandbox: the command line, shutdown, the state file, the demo data, serve()."""

import signal
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sandbox_process import Sandbox, start_sandbox, stop_sandbox

from sessions_app.sandbox import DEMO_API_KEY, DEMO_PROJECT_ID, DEMO_VERSIONS, serve


@pytest.fixture(scope="module")
def cli_sandbox() -> Iterator[Sandbox]:
    """The sandbox as its command line starts it (the demo loaded), for this module's tests only:
    they reset it and register projects in it, so it is never conftest's `demo_sandbox`, whose
    demo stays as `make start` shows it."""
    sandbox = Sandbox(*start_sandbox())
    yield sandbox
    sandbox.close()


def demo_users(sandbox: Sandbox) -> dict[str, dict]:
    response = sandbox.control.get("/_sandbox/users", params={"project_id": DEMO_PROJECT_ID})
    return {
        user_id: sandbox.state(DEMO_PROJECT_ID, user_id) for user_id in response.json()["user_ids"]
    }


def demo_get(sandbox: Sandbox, user_id: str, version: str = "production") -> httpx.Response:
    return httpx.get(
        f"{sandbox.url}/state/user/{quote(user_id, safe='')}",
        headers={"Authorization": DEMO_API_KEY, "versionID": version, "projectID": DEMO_PROJECT_ID},
    )


def test_it_prints_the_real_port_and_serves_on_it() -> None:
    url, process = start_sandbox(["--no-demo"])
    try:
        assert not url.endswith(":0")
        assert httpx.get(f"{url}/_sandbox/health").json() == {"ok": True}
    finally:
        stop_sandbox(process)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_it_stops_cleanly_on_sigterm_and_sigint(stop_signal: signal.Signals) -> None:
    url, process = start_sandbox(["--no-demo"])
    process.send_signal(stop_signal)
    assert process.wait(timeout=10) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_sandbox/health")
    process.stdout.close()


def test_command_line_knobs_set_the_defaults() -> None:
    sandbox = Sandbox(*start_sandbox(["--budget-per-minute", "2", "--latency-ms", "200"]))
    try:
        started = time.monotonic()
        statuses = [demo_get(sandbox, "has space").status_code for _ in range(3)]
        assert time.monotonic() - started >= 0.6
        assert statuses == [200, 200, 429]
    finally:
        sandbox.close()


def test_the_state_file_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.json"
    sandbox = Sandbox(*start_sandbox(["--state-file", str(state_file)]))
    extra = sandbox.register_project()
    httpx.patch(
        f"{sandbox.url}/state/user/has%20space/variables",
        json={"remembered": True},
        headers={"Authorization": DEMO_API_KEY},
    ).raise_for_status()
    sandbox.set_state(extra.project_id, "theirs", {"variables": {"kept": 1}})
    sandbox.close()
    assert state_file.exists()

    restarted = Sandbox(*start_sandbox(["--state-file", str(state_file)]))
    try:
        assert restarted.state(DEMO_PROJECT_ID, "has space")["variables"]["remembered"] is True
        with restarted.client(extra) as client:
            assert client.get("/state/user/theirs").json() == {"variables": {"kept": 1}}
    finally:
        restarted.close()


def test_no_demo_starts_empty() -> None:
    sandbox = Sandbox(*start_sandbox(["--no-demo"]))
    try:
        assert sandbox.control.get("/_sandbox/projects").json() == {"projects": []}
        assert demo_get(sandbox, "has space").status_code == 401
    finally:
        sandbox.close()


def test_serve_runs_in_process() -> None:
    server = serve("127.0.0.1", 0, demo_data=False)
    try:
        assert httpx.get(f"{server.url}/_sandbox/health").json() == {"ok": True}
    finally:
        server.shutdown()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/_sandbox/health")


def test_a_client_that_resets_its_connection_leaves_no_traceback(capfd) -> None:
    server = serve("127.0.0.1", 0, demo_data=False)
    try:
        client = socket.create_connection(server.server_address)
        client.sendall(b"GET /_sandbox/hea")  # a request line cut short
        # SO_LINGER 0: close with a reset, as a killed worker's connection ends.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        # The sandbox still answers, and the handler thread has met the reset by now.
        assert httpx.get(f"{server.url}/_sandbox/health").json() == {"ok": True}
        time.sleep(0.5)
    finally:
        server.shutdown()
    assert "Traceback" not in capfd.readouterr().err


# ---- the demo data ----


def test_the_demo_project_answers_with_its_key_in_both_environments(cli_sandbox: Sandbox) -> None:
    projects = cli_sandbox.control.get("/_sandbox/projects").json()["projects"]
    assert projects == [
        {
            "project_id": DEMO_PROJECT_ID,
            "api_key": DEMO_API_KEY,
            "name": "Demo Pizzeria & Bookings",
            "versions": DEMO_VERSIONS,
            "access_token": "vfp_demo_sandboxtoken",
            "agent": "pizzeria",
        }
    ]
    for version in ("development", "production", *DEMO_VERSIONS.values()):
        assert demo_get(cli_sandbox, "maria.rossi@example.com", version).json()["variables"][
            "user_id"
        ] == ("maria.rossi@example.com")


def test_the_demo_has_users_at_every_point_of_the_flows(cli_sandbox: Sandbox) -> None:
    users = demo_users(cli_sandbox)
    assert 30 <= len(users) <= 40
    for odd in (
        "user/with/slashes",
        "名前-ユーザー",
        "has space",
        "percent%20literal",
        "question?mark",
        "hash#tag",
    ):
        assert odd in users
        assert demo_get(cli_sandbox, odd).json() == users[odd]
    assert any("@" in user_id for user_id in users)
    assert any(user_id.startswith("+") for user_id in users)
    assert any(len(user_id) == 36 and user_id.count("-") == 4 for user_id in users)
    assert max(len(user_id) for user_id in users) == 128

    finished = [u for u, s in users.items() if s.get("stack") == []]
    partial = [u for u, s in users.items() if "stack" not in s]
    mid_flow = [u for u, s in users.items() if s.get("stack")]
    assert len(finished) >= 5 and len(partial) >= 2 and len(mid_flow) >= 5
    assert len(users["deep-stack-user"]["stack"]) >= 5
    assert users["stuck-in-loop@example.net"]["storage"]["noMatchesCounter"] >= 5
    assert users["maria.rossi@example.com"]["variables"]["order_confirmed"] is True
    for state in users.values():
        for frame in state.get("stack", []):
            assert len(frame["diagramID"]) == 24
            assert {"storage", "variables", "commands"} <= set(frame)


def test_the_demo_states_have_the_runtimes_shape_and_some_the_hosted_one(
    cli_sandbox: Sandbox,
) -> None:
    """Waiting conversations stand on the runtime's base frame and their frames carry no name
    (observed.json); a few users keep the hosted docs' named frames."""
    users = demo_users(cli_sandbox)
    waiting = {user_id: state for user_id, state in users.items() if state.get("stack")}
    runtime_shape = [
        state
        for state in waiting.values()
        if state["stack"][0]
        == {
            "nodeID": None,
            "diagramID": DEMO_VERSIONS["production"],
            "storage": {"isBase": True},
            "commands": [],
            "variables": {},
        }
        and not any("name" in frame for frame in state["stack"])
    ]
    hosted_shape = [
        state
        for state in waiting.values()
        if all("name" in frame and not frame["storage"].get("isBase") for frame in state["stack"])
    ]
    assert len(runtime_shape) >= 10 and len(hosted_shape) >= 3
    assert len(runtime_shape) + len(hosted_shape) == len(waiting)
    for state in runtime_shape:
        assert "last_response" in state["stack"][-1]["variables"]
        assert "last_response" not in state["variables"]
        assert state["variables"]["sessions"] >= 2


def test_the_demo_variables_cover_every_value_type(cli_sandbox: Sandbox) -> None:
    values = [
        value for state in demo_users(cli_sandbox).values() for value in state["variables"].values()
    ]
    assert any(type(v) is int for v in values)
    assert any(type(v) is float for v in values)
    assert any(v is True for v in values) and any(v is False for v in values)
    assert any(v is None for v in values)
    assert any(isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()) for v in values)
    assert any(isinstance(v, list) for v in values)
    assert any(isinstance(v, str) and len(v) > 2048 for v in values)
    assert any(isinstance(v, str) and any(ord(ch) > 0xFFFF for ch in v) for v in values)


def without_times(users: dict[str, dict]) -> dict[str, dict]:
    """The demo's content: its times move with the start (test_sandbox_demo_times.py)."""
    return {
        user_id: {
            **state,
            "variables": {k: v for k, v in state["variables"].items() if k != "timestamp"},
        }
        for user_id, state in users.items()
    }


def test_the_demo_is_the_same_on_every_start(cli_sandbox: Sandbox) -> None:
    other = Sandbox(*start_sandbox())
    try:
        assert without_times(demo_users(other)) == without_times(demo_users(cli_sandbox))
    finally:
        other.close()


def test_reset_brings_back_the_demo(cli_sandbox: Sandbox) -> None:
    original = without_times({"has space": cli_sandbox.state(DEMO_PROJECT_ID, "has space")})
    httpx.delete(
        f"{cli_sandbox.url}/state/user/has%20space", headers={"Authorization": DEMO_API_KEY}
    )
    cli_sandbox.register_project()
    assert cli_sandbox.state(DEMO_PROJECT_ID, "has space") is None

    assert cli_sandbox.control.post("/_sandbox/reset").json() == {"ok": True}
    assert without_times({"has space": cli_sandbox.state(DEMO_PROJECT_ID, "has space")}) == original
    assert len(cli_sandbox.control.get("/_sandbox/projects").json()["projects"]) == 1


def test_demo_conversations_can_be_continued(cli_sandbox: Sandbox) -> None:
    response = httpx.post(
        f"{cli_sandbox.url}/state/user/j.smith%2Bpizza%40example.org/interact",
        json={"action": {"type": "text", "payload": "pepperoni"}},
        headers={"Authorization": DEMO_API_KEY},
    )
    assert "cardV2" in [trace["type"] for trace in response.json()]
    assert (
        cli_sandbox.state(DEMO_PROJECT_ID, "j.smith+pizza@example.org")["variables"]["pizza_type"]
        == "pepperoni"
    )
