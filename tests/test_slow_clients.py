"""`make start`'s web server (Procfile.dev's `web:` line, gunicorn with voiceflow_admin/gunicorn.py)
keeps answering while slow clients hold connections with half-sent request headers, and hangs up
on a client that stopped sending."""

import socket
import subprocess
from contextlib import ExitStack

import httpx
import pytest
from bulk_support import wait_for
from reliability_support import ROOT, free_port, kill_process_group, process_env

pytestmark = [pytest.mark.worker, pytest.mark.production_path]

SLOW_CLIENTS = 8


def dev_web_command() -> list[str]:
    """The `web:` line run the way scripts/start.py runs it: by the shell, which expands
    ${WEB_PORT:-8000} from the environment."""
    for line in (ROOT / "Procfile.dev").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            return ["/bin/sh", "-c", f"exec {command.strip()}"]
    raise LookupError("Procfile.dev has no web process.")


@pytest.fixture
def dev_web_server(transactional_db, test_broker, tmp_path):
    port = free_port()
    log_path = tmp_path / "web.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            dev_web_command(),
            cwd=ROOT,
            env=process_env(test_broker, WEB_PORT=str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert process.poll() is None, log_path.read_text()[-3000:]
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(answering, timeout_s=60, what="gunicorn to answer /healthz")
    yield port, url, log_path
    kill_process_group(process)


def slow_client(port: int) -> socket.socket:
    """A connection that sends the start of a request's headers and then nothing."""
    client = socket.create_connection(("127.0.0.1", port), timeout=60)
    client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return client


def test_healthz_answers_while_eight_slow_clients_hold_half_sent_headers(dev_web_server):
    port, url, log_path = dev_web_server
    with ExitStack() as stack:
        clients = [stack.enter_context(slow_client(port)) for _ in range(SLOW_CLIENTS)]

        answers = [httpx.get(f"{url}/healthz", timeout=30).status_code for _ in range(3)]

        assert answers == [200, 200, 200]
        # The server hangs up on a client that stopped sending, freeing what it held.
        for client in clients:
            assert client.recv(1024) == b""
    assert "Traceback" not in log_path.read_text()
