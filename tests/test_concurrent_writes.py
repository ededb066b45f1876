"""Two operators writing one session at the same moment: the second gets the conflict (page or
412) instead of silently undoing the first, across threads and processes, and a writer that dies
holding the session never blocks it for good (sessions_app/session_lock.py)."""

import subprocess
import sys
import threading
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from api_support import token_client
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from reliability_support import ROOT, WebServer, process_env

from sessions_app.actions import WriteContext, do_set_variables, fingerprint
from sessions_app.models import AuditEntry, SessionWriteLock
from sessions_app.session_lock import SessionBusy

USER = "racing-user"
STATE = {
    "stack": [{"diagramID": "root", "nodeID": "start", "storage": {}, "variables": {}}],
    "storage": {},
    "variables": {"plan": "basic", "coupon": "WINTER", "note": "keep"},
}
# Each call to the sandbox takes this long, so that two writers started together overlap.
LATENCY_MS = 300


def all_at_once(*calls):
    """Run the calls in threads released together; their results in order."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(position: int) -> None:
        barrier.wait()
        try:
            results[position] = calls[position]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def remote(sandbox, environment) -> dict:
    return sandbox.state(environment.project.voiceflow_project_id, USER)


@pytest.fixture
def racing(clean_knobs, sandbox_project, environment):
    clean_knobs.set_state(sandbox_project["project_id"], USER, STATE)
    clean_knobs.knobs(api_key=sandbox_project["api_key"], latency_ms=LATENCY_MS)
    return clean_knobs


# ---- threads in one process (the embedded default, SQLite) ----


def test_two_removals_at_once_one_applies_and_the_other_gets_the_conflict_page(
    transactional_db, racing, environment, support
):
    based_on = fingerprint(STATE)

    def remove(name: str):
        def post():
            client = Client()
            client.force_login(support)
            return client.post(
                f"/sessions/{environment.pk}/remove-variable",
                {"user": USER, "name": name, "based_on": based_on},
            ).status_code

        return post

    statuses = all_at_once(remove("coupon"), remove("note"))

    assert sorted(statuses) == [302, 409]
    variables = remote(racing, environment)["variables"]
    assert len(variables) == 2 and "plan" in variables
    outcomes = sorted(AuditEntry.objects.values_list("outcome", flat=True))
    assert outcomes == [AuditEntry.Outcome.CONFLICT, AuditEntry.Outcome.SUCCEEDED]


def test_two_api_puts_with_the_same_if_match_one_succeeds_and_one_gets_412(
    transactional_db, racing, environment, ops
):
    etag = f'"{fingerprint(STATE)}"'
    url = f"/api/v1/environments/{environment.pk}/sessions/state?user={quote(USER)}"

    def put(plan: str):
        def send():
            body = {**STATE, "variables": {**STATE["variables"], "plan": plan}}
            return token_client(ops).put(url, body, format="json", HTTP_IF_MATCH=etag).status_code

        return send

    statuses = all_at_once(put("gold"), put("silver"))

    assert sorted(statuses) == [200, 412]
    assert remote(racing, environment)["variables"]["plan"] in ("gold", "silver")


def test_a_lock_left_by_a_dead_process_is_taken_over_once_it_expires(
    db, racing, environment, support
):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL uses advisory locks, which end with the connection")
    SessionWriteLock.objects.create(
        project=environment.project,
        user_id=USER,
        holder="a process that was killed",
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    entry = do_set_variables(
        environment, USER, {"plan": "gold"}, context=WriteContext(actor=support, source="cli")
    )

    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert not SessionWriteLock.objects.exists()


# ---- processes: gunicorn on PostgreSQL (and on the embedded default) ----


@pytest.fixture
def web(transactional_db, test_broker, tmp_path):
    server = WebServer(process_env(test_broker), tmp_path / "web.log", workers=2).start()
    yield server
    server.kill()


@pytest.mark.production_path
@pytest.mark.parametrize("method", ["put", "patch"])
def test_concurrent_writes_with_one_if_match_across_processes_one_wins(
    web, racing, environment, ops, method
):
    _, token = AuthToken.objects.create(ops, expiry=None)
    url = f"{web.url}/api/v1/environments/{environment.pk}/sessions/state"
    if method == "patch":
        url += "/variables"
    state = STATE
    for round_number in range(3):
        etag = f'"{fingerprint(state)}"'

        def write(plan: str, etag=etag, state=state):
            def send():
                body = (
                    {"plan": plan}
                    if method == "patch"
                    else {**state, "variables": {**state["variables"], "plan": plan}}
                )
                response = httpx.request(
                    method.upper(),
                    url,
                    params={"user": USER},
                    json=body,
                    headers={"Authorization": f"Token {token}", "If-Match": etag},
                    timeout=60,
                )
                return response.status_code

            return send

        statuses = all_at_once(write(f"a{round_number}"), write(f"b{round_number}"))

        assert sorted(statuses) == [200, 412], (round_number, statuses, web.log()[-2000:])
        state = remote(racing, environment)
        assert state["variables"]["plan"] in (f"a{round_number}", f"b{round_number}")
    succeeded = AuditEntry.objects.filter(outcome=AuditEntry.Outcome.SUCCEEDED).count()
    refused = AuditEntry.objects.filter(outcome=AuditEntry.Outcome.CONFLICT).count()
    assert (succeeded, refused) == (3, 3)


HOLD_THE_LOCK = """
import sys, time
from sessions_app.session_lock import session_write_lock
with session_write_lock(int(sys.argv[1]), sys.argv[2]):
    print("holding", flush=True)
    time.sleep(600)
"""


@pytest.mark.production_path
def test_a_process_killed_while_holding_a_session_does_not_block_it(
    transactional_db, racing, environment, support, test_broker, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's lock rows outlive a killed process until they expire (above)")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django; django.setup()\n" + HOLD_THE_LOCK,
            str(environment.project_id),
            USER,
        ],
        cwd=ROOT,
        env=process_env(test_broker, DJANGO_SETTINGS_MODULE="voiceflow_admin.settings"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        settings.VOICEFLOW_TIMEOUT_S = 1  # the wait for the lock follows the time-out
        with pytest.raises(SessionBusy):
            do_set_variables(
                environment,
                USER,
                {"plan": "silver"},
                context=WriteContext(actor=support, source="cli"),
            )
    finally:
        holder.kill()
        holder.wait(timeout=30)

    entry = do_set_variables(
        environment, USER, {"plan": "gold"}, context=WriteContext(actor=support, source="cli")
    )

    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert remote(racing, environment)["variables"]["plan"] == "gold"
