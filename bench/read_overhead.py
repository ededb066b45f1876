"""Reads stay light: the server time of a session read above its upstream call.

    .venv/bin/python bench/read_overhead.py [--requests 200] [--profile]
    BENCH_DATABASE_URL=postgres://… .venv/bin/python bench/read_overhead.py

The inspector page and the REST API's session GET, each `--requests` times after a warm-up, for
one conversation on a sandbox that adds no latency, through Django's test client in this process
(middleware, view, template; no HTTP server), signed in as an operator. Every call to Voiceflow is
timed where it leaves (`httpx.Client.send`, the whole request and its answer), so a read's
server time is its whole time less its upstream time. Reports p50 and p95 of that difference,
its p50 in this process's CPU time (what a busy host does not inflate; a PostgreSQL server's own
work is not in it), the upstream time, and the SQL queries and writes of one read. `--profile` prints where the
server time goes (cProfile, the 25 most costly functions) for each read.

Exits 1 when a read does not answer 200.
"""

import argparse
import cProfile
import os
import pstats
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Sandbox, bench_environment, create_environment, save_result, setup_django

PROFILE_ORDER = os.environ.get("BENCH_PROFILE_ORDER", "cumulative")
USER_ID = "bench-reader"
# A write starts with INSERT, UPDATE or DELETE, or holds one in a WITH clause (the budget slot's
# booking on PostgreSQL, sessions_app/voiceflow/budget.py).
WRITE = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE)\b|\bAS\s*\(\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE
)
STATE = {
    "stack": [{"diagramID": "main", "nodeID": "start", "storage": {}, "variables": {}}],
    "storage": {},
    "variables": {f"v{n}": n for n in range(40)} | {"note": "a reader's variable"},
}


class UpstreamTime(threading.local):
    """This thread's time in calls to Voiceflow since it was last set to zero."""

    seconds = 0.0
    cpu_seconds = 0.0


_upstream = UpstreamTime()
_send = httpx.Client.send


def timed_send(self, *args, **kwargs):
    started, cpu_started = time.perf_counter(), time.thread_time()
    try:
        return _send(self, *args, **kwargs)
    finally:
        _upstream.seconds += time.perf_counter() - started
        _upstream.cpu_seconds += time.thread_time() - cpu_started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)]


def measure(client, url: str, requests: int, profile: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm-up: the first look writes the known-sessions row and the preference
        assert client.get(url).status_code == 200, url
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    sql = [query["sql"] for query in captured.captured_queries]
    writes = [q for q in sql if WRITE.search(q)]

    server_ms, server_cpu_ms, upstream_ms = [], [], []
    profiler = cProfile.Profile() if profile else None
    for _ in range(requests):
        _upstream.seconds = _upstream.cpu_seconds = 0.0
        if profiler:
            profiler.enable()
        started, cpu_started = time.perf_counter(), time.thread_time()
        response = client.get(url)
        total_s, total_cpu_s = time.perf_counter() - started, time.thread_time() - cpu_started
        if profiler:
            profiler.disable()
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        server_ms.append((total_s - _upstream.seconds) * 1000)
        server_cpu_ms.append((total_cpu_s - _upstream.cpu_seconds) * 1000)
        upstream_ms.append(_upstream.seconds * 1000)
    if profiler:
        print(f"-- where the time of {url} goes")
        pstats.Stats(profiler).sort_stats(PROFILE_ORDER).print_stats(25)
    return {
        "server_ms_above_upstream_p50": round(statistics.median(server_ms), 2),
        "server_ms_above_upstream_p95": round(percentile(server_ms, 0.95), 2),
        "server_cpu_ms_above_upstream_p50": round(statistics.median(server_cpu_ms), 2),
        "upstream_ms_p50": round(statistics.median(upstream_ms), 2),
        "queries": len(sql),
        "writes": len(writes),
        "requests": requests,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    sandbox = Sandbox("--latency-ms", "0", "--budget-per-minute", "100000000")
    try:
        env = bench_environment("read_overhead", sandbox)
        setup_django(env)
        httpx.Client.send = timed_send
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client, override_settings
        from django.urls import reverse

        from sessions_app.roles import ensure_roles

        # The page's static files through the finders, as in the tests (no collectstatic here).
        override_settings(
            STORAGES={
                **settings.STORAGES,
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            },
            STATIC_ROOT=None,
        ).enable()
        registration = sandbox.register_project("Bench reads")
        environment = create_environment(sandbox, registration, budget_per_minute=100_000_000)
        sandbox.control.put(
            "/_sandbox/state",
            json={"project_id": registration["project_id"], "user_id": USER_ID, "state": STATE},
        ).raise_for_status()
        operator, _ = get_user_model().objects.get_or_create(username="bench-reader-ops")
        operator.groups.add(ensure_roles()["Ops"])
        client = Client(HTTP_HOST="localhost")
        client.force_login(operator)

        inspector = measure(
            client,
            f"{reverse('session_inspect', args=[environment.pk])}?user={USER_ID}",
            args.requests,
            args.profile,
        )
        api = measure(
            client,
            f"{reverse('api-session-state', args=[environment.pk])}?user={USER_ID}",
            args.requests,
            args.profile,
        )
        save_result(
            "read_overhead",
            {
                "database": env["DATABASE_URL"].split("@")[-1],
                "sandbox_latency_ms": 0,
                "inspector_page": inspector,
                "api_session_get": api,
            },
        )
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
