"""Counting a segment over 1,000,000 indexed sessions on PostgreSQL (docs/benchmarks.md).

    .venv/bin/python bench/segment_count.py                # --sessions 1000000
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/vf_bench_segments …

Fills the known-sessions index of one environment with generated sessions (COPY, in one
transaction), ANALYZEs, then counts typical segments five times each (the count the segment page
and the API show) and keeps the median, with the plan PostgreSQL chose. Another environment holds
a tenth as many sessions, so the environment filter has work to do.
"""

import argparse
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bench_environment, save_result, setup_django

INDEX_USED = re.compile(r"Index (?:Only )?Scan (?:Backward )?(?:using|on) (\w+)")
SEGMENTS = {
    "stuck at a block": [{"field": "position", "flow": "flow-3", "block": "node-17"}],
    "plan equals gold": [{"field": "variable", "path": "plan", "op": "equals", "value": "gold"}],
    "nested equals": [{"field": "variable", "path": "profile.tier", "op": "equals", "value": 7}],
    "coupon exists": [{"field": "variable", "path": "coupon", "op": "exists"}],
    "idle 30 days": [{"field": "last_active", "op": "before", "value": "30d"}],
    "userID prefix": [{"field": "user_id", "op": "prefix", "value": "web-00042"}],
    "credits > 990": [{"field": "variable", "path": "credits", "op": "gt", "value": 990}],
    "block + idle + plan": [
        {"field": "position", "flow": "flow-3", "block": "node-17"},
        {"field": "last_active", "op": "before", "value": "30d"},
        {"field": "variable", "path": "plan", "op": "equals", "value": "gold"},
    ],
}


def fill(environment_id: int, count: int, prefix: str) -> None:
    from django.db import connection
    from django.utils import timezone

    from sessions_app.segments.conditions import index_fields

    rng = random.Random(environment_id)
    now = timezone.now()
    columns = (
        "environment_id, user_id, origin, has_state, last_seen_at, last_activity_at, "
        "variables_snapshot, search_text, stack_depth, current_flow, current_diagram_id, "
        "current_node_id, variables_index, variables_numbers, state_pending"
    )
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor().copy(f"COPY sessions_app_knownsession ({columns}) FROM STDIN") as copy:
            for n in range(count):
                variables = {
                    "plan": rng.choice(["gold", "silver", "bronze", "free"]),
                    "credits": rng.randint(0, 1000),
                    "profile": {"tier": rng.randint(0, 50), "country": rng.choice("ABCDEFGH")},
                }
                if rng.random() < 0.05:
                    variables["coupon"] = f"C{n}"
                flow, node = f"flow-{rng.randint(0, 20)}", f"node-{rng.randint(0, 40)}"
                state = {"stack": [{"diagramID": flow, "nodeID": node}], "variables": variables}
                fields = index_fields(state)
                seen = now.timestamp() - rng.randint(0, 90 * 86400)
                copy.write_row(
                    (
                        environment_id,
                        f"{prefix}-{n:07d}",
                        "imported",
                        True,
                        now,
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seen)),
                        "{}",
                        "",
                        1,
                        flow,
                        fields["current_diagram_id"],
                        fields["current_node_id"],
                        json.dumps(fields["variables_index"]),
                        json.dumps(fields["variables_numbers"]),
                        False,
                    )
                )
        cursor.execute("ANALYZE sessions_app_knownsession")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    env = bench_environment(
        "segment_count",
        database_url=None,
    )
    # Filling a million rows (and their GIN entries) takes longer than a request may.
    env["DATABASE_STATEMENT_TIMEOUT_MS"] = "1800000"
    if not env["DATABASE_URL"].startswith("postgres"):
        sys.exit("Set BENCH_DATABASE_URL to a PostgreSQL database of the benchmark's own.")
    setup_django(env)

    from sessions_app import segments
    from sessions_app.models import Environment, KnownSession, Project

    project, _ = Project.objects.get_or_create(
        name="Segment bench", defaults={"voiceflow_project_id": "bench", "api_key": "VF.DM.x.y"}
    )
    main_env, _ = Environment.objects.get_or_create(project=project, label="Main")
    other_env, _ = Environment.objects.get_or_create(project=project, label="Other")
    if KnownSession.objects.filter(environment=main_env).count() != options.sessions:
        KnownSession.objects.filter(environment__project=project).delete()
        started = time.monotonic()
        fill(main_env.pk, options.sessions, "web")
        fill(other_env.pk, options.sessions // 10, "other")
        print(f"filled {options.sessions:,} sessions in {time.monotonic() - started:.0f} s")

    results = {}
    for name, conditions in SEGMENTS.items():
        timings = []
        for _ in range(options.repeat):
            started = time.perf_counter()
            found = segments.members(main_env, conditions).order_by().count()
            timings.append(time.perf_counter() - started)
        plan = segments.members(main_env, conditions).order_by().values("pk").explain()
        plan = plan.splitlines()
        results[name] = {
            "count": found,
            "median_s": round(statistics.median(timings), 4),
            "max_s": round(max(timings), 4),
            "indexes": sorted({match for line in plan for match in INDEX_USED.findall(line)}),
            "plan": plan,
        }
        print(
            f"{name:22} {found:>9,}  median {results[name]['median_s']:.3f} s  {results[name]['indexes']}"
        )
    save_result(
        "segment_count",
        {"sessions": options.sessions, "repeat": options.repeat, "segments": results},
    )


if __name__ == "__main__":
    main()
