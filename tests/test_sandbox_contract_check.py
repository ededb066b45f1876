"""The contract check (`python -m sessions_app.sandbox.contract`), run as a user runs it: against
a real sandbox process every check passes; against a target that deviates from the contract in
one known way (a stdlib proxy in front of the sandbox that rewrites some answers) it names that
deviation, failing it if the contract calls the fact confirmed."""

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from sandbox_process import ROOT, RegisteredProject

# (method, path, status, body) -> a replacement (status, body), or None to pass the answer on.
Rewrite = Callable[[str, str, int, bytes], tuple[int, bytes] | None]

NOT_FOUND_ENVELOPE = json.dumps(
    {
        "code": 404,
        "status": "Not Found",
        "dateTime": "2026-01-01T00:00:00.000Z",
        "timestamp": 1767225600000,
        "data": "Not Found",
    }
).encode()


def run_check(url: str, project: RegisteredProject, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sessions_app.sandbox.contract",
            "--target",
            url,
            "--api-key",
            project.api_key,
            "--project-id",
            project.project_id,
            "--realtime-url",
            url,
            "--token",
            project.access_token,
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_json(url: str, project: RegisteredProject) -> tuple[int, dict]:
    finished = run_check(url, project, "--json")
    return finished.returncode, json.loads(finished.stdout)


def verdicts(report: dict) -> dict[str, str]:
    return {check["id"]: check["verdict"] for check in report["checks"]}


def not_passing(report: dict) -> dict[str, str]:
    return {check: verdict for check, verdict in verdicts(report).items() if verdict != "pass"}


class _Forwarder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "ThreadingHTTPServer"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = urlsplit(self.server.upstream)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        answer = connection.getresponse()
        status, answer_body = answer.status, answer.read()
        answer_headers = [
            (name, value)
            for name, value in answer.getheaders()
            if name.lower() not in ("content-length", "connection", "transfer-encoding")
        ]
        connection.close()
        replaced = self.server.rewrite(self.command, self.path, status, answer_body)
        if replaced is not None:
            status, answer_body = replaced
        self.send_response(status)
        for name, value in answer_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer_body)))
        self.end_headers()
        self.wfile.write(answer_body)

    do_PUT = do_PATCH = do_DELETE = do_POST = do_GET


@contextmanager
def deviating_proxy(upstream: str, rewrite: Rewrite) -> Iterator[str]:
    """The sandbox behind a proxy that rewrites the answers `rewrite` picks."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forwarder)
    server.daemon_threads = True
    server.upstream = upstream
    server.rewrite = rewrite
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def unknown_users_are_not_found(method: str, path: str, status: int, body: bytes):
    if method == "GET" and path.startswith("/state/user/") and (status, body) == (200, b"{}"):
        return 404, NOT_FOUND_ENVELOPE
    return None


def realtime_unknown_users_read_empty(method: str, path: str, status: int, body: bytes):
    if method == "GET" and path.startswith("/v1/stable/conversation-state/") and status == 404:
        return 200, b'{"state":{}}'
    return None


def test_every_check_passes_against_the_sandbox(bare_sandbox, own_project):
    exit_code, report = run_json(bare_sandbox.url, own_project)

    assert exit_code == 0
    assert not_passing(report) == {}
    assert report["summary"] == {
        "pass": len(report["checks"]),
        "fail": 0,
        "differs": 0,
        "differs_hosted_only": 0,
    }
    checked = set(verdicts(report))
    assert {
        "scenario.get-unknown",
        "scenario.patch-creates",
        "scenario.patch-shallow",
        "scenario.put-echoes",
        "scenario.put-frame-without-diagramid",
        "scenario.put-incomplete",
        "scenario.delete",
        "scenario.delete-again",
        "scenario.get-deleted",
        "scenario.no-key",
        "scenario.userid-129",
        "userid.128",
        "userid.slash",
        "headers.rate-limit",
        "body.malformed-json",
        "body.over-1mb",
        "body.without-content-type",
        "routes.unknown",
        "realtime.get-wrapped",
        "realtime.unknown-alias",
        "cleanup.gone",
    } <= checked
    for check in report["checks"]:
        assert check["tag"] in ("confirmed", "inferred", "unverified", "hosted-only")
        assert check["section"].startswith("§")
        assert check["expected"] and check["observed"]


def test_the_docs_list_every_check_with_its_section_and_tag(bare_sandbox, own_project):
    _, report = run_json(bare_sandbox.url, own_project)
    documented = {
        row[0]: (row[2], row[3])
        for row in re.findall(
            r"^\| `([a-z0-9.-]+)` \| (.+?) \| (§[^|]+?) \| \[([^\]]+)\] \|$",
            (ROOT / "docs" / "sandbox.md").read_text(encoding="utf-8"),
            flags=re.MULTILINE,
        )
    }
    assert documented == {
        check["id"]: (
            check["section"],
            f"{check['tag']}: {check['source']}" if check["source"] else check["tag"],
        )
        for check in report["checks"]
    }


def test_it_touches_only_the_userids_it_creates_and_deletes_them_all(bare_sandbox, own_project):
    someone = {"stack": [], "storage": {}, "variables": {"mine": True}}
    bare_sandbox.set_state(own_project.project_id, "someone-else", someone)

    exit_code, report = run_json(bare_sandbox.url, own_project)

    assert exit_code == 0
    prefix = report["user_id_prefix"]
    assert prefix.startswith("contract-check-")
    written = bare_sandbox.stats(own_project.api_key)["writes_by_user"]
    assert written and all(user_id.startswith(prefix) for user_id in written)
    assert report["cleanup"]["failed"] == {}
    assert set(report["cleanup"]["user_ids"]) >= set(written)
    users = bare_sandbox.control.get(
        "/_sandbox/users", params={"project_id": own_project.project_id}
    ).json()["user_ids"]
    assert users == ["someone-else"]
    assert bare_sandbox.state(own_project.project_id, "someone-else") == someone


def test_it_fails_the_confirmed_checks_a_404_for_unknown_users_breaks(bare_sandbox, own_project):
    with deviating_proxy(bare_sandbox.url, unknown_users_are_not_found) as url:
        exit_code, report = run_json(url, own_project)

    assert exit_code == 1
    assert not_passing(report) == {
        "scenario.get-unknown": "fail",
        "scenario.get-deleted": "fail",
        "headers.case-insensitive": "fail",
        "headers.cors": "fail",
        "cleanup.gone": "fail",
        "headers.rate-limit": "fail",
        "userid.percent-decoded-once": "fail",
        "scenario.userid-129": "differs (unverified in contract)",
    }
    first = next(check for check in report["checks"] if check["id"] == "scenario.get-unknown")
    assert (first["expected"], first["observed"][:4]) == ("200 {}", "404 ")
    assert report["summary"]["fail"] == 7


def answers_as_the_local_runtime(method: str, path: str, status: int, body: bytes):
    """The open-source runtime in its local mode (observed.json): no key check, and any
    versionID accepted."""
    if b"Auth Key Required" in body:
        return 400, b'{"name":"verror","message":"Cannot resolve version alias","requestID":"7"}'
    if b"Invalid API key" in body or b"Could not resolve project with version ID" in body:
        return 200, b"{}"
    return None


def test_what_only_the_hosted_service_does_is_reported_apart_without_failing_the_run(
    bare_sandbox, own_project
):
    with deviating_proxy(bare_sandbox.url, answers_as_the_local_runtime) as url:
        exit_code, report = run_json(url, own_project)

    assert exit_code == 0
    hosted_only = "differs (hosted-only in contract)"
    assert not_passing(report) == {
        "scenario.no-key": hosted_only,
        "scenario.no-key-body": hosted_only,
        "auth.unknown-key": hosted_only,
        "version.unknown-id": hosted_only,
        "version.unknown-id-body": hosted_only,
    }
    assert report["summary"]["differs_hosted_only"] == 5


def test_an_unverified_fact_that_differs_is_reported_without_failing_the_run(
    bare_sandbox, own_project
):
    with deviating_proxy(bare_sandbox.url, realtime_unknown_users_read_empty) as url:
        exit_code, report = run_json(url, own_project)

    assert exit_code == 0
    assert not_passing(report) == {"realtime.get-unknown": "differs (unverified in contract)"}
    differing = next(check for check in report["checks"] if check["id"] == "realtime.get-unknown")
    assert differing["tag"] == "unverified"
    assert differing["observed"] == '200 {"state":{}}'


def test_the_text_report_shows_what_was_expected_and_observed(bare_sandbox, own_project):
    with deviating_proxy(bare_sandbox.url, unknown_users_are_not_found) as url:
        finished = run_check(url, own_project)

    assert finished.returncode == 1
    lines = finished.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if "scenario.get-unknown" in line)
    assert lines[failed].startswith("FAIL")
    assert "[confirmed: gr-src]" in lines[failed]
    assert lines[failed + 1].strip() == "expected: 200 {}"
    assert lines[failed + 2].strip().startswith('observed: 404 {"code":404')
    assert re.fullmatch(
        r"\d+ passed, 7 failed .*, 1 differ .*, 0 differ .* Exit code 1\.", lines[-1]
    )


def test_it_writes_nothing_and_exits_2_when_the_target_does_not_answer(own_project):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    finished = run_check(f"http://127.0.0.1:{port}", own_project)

    assert finished.returncode == 2
    assert "did not answer" in finished.stderr and "Nothing was written." in finished.stderr


def test_it_refuses_a_realtime_url_without_a_token(bare_sandbox, own_project):
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "sessions_app.sandbox.contract",
            "--target",
            bare_sandbox.url,
            "--api-key",
            own_project.api_key,
            "--project-id",
            own_project.project_id,
            "--realtime-url",
            bare_sandbox.url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert "--realtime-url and --token go together" in finished.stderr
