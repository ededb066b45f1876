"""A large flow map does not slow the inspector: a project file of 200 flows and 5,000 blocks.

    .venv/bin/python bench/flow_map.py [--flows 200] [--blocks 5000] [--requests 40]

Builds a `.vf` of that size (each block a text step and a buttons step, as a question is built on
Voiceflow's canvas), parses and stores it as the worker does, then times the inspector page
(Django's test client, in this process, against a sandbox) for a conversation whose stack is six
frames deep in that project: without any map, with the map (the first request after it was
loaded, which reads the stored map, and the following ones, which use the parsed copy the process
keeps). Medians of `--requests` requests each.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Sandbox, bench_environment, create_environment, save_result, setup_django

USER_ID = "bench-flow-user"
DEPTH = 6


def object_id(*parts: object) -> str:
    import hashlib

    return hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()[:24]


def large_project_file(project_id: str, version_id: str, flows: int, blocks: int) -> dict:
    diagrams = {}
    per_flow = blocks // flows
    for f in range(flows):
        diagram_id = object_id("flow", f)
        nodes = {
            object_id("start", f): {
                "nodeID": object_id("start", f),
                "type": "start",
                "data": {"name": "Start", "steps": []},
            }
        }
        for b in range(per_flow):
            block_id, text_id, buttons_id = (
                object_id(kind, f, b) for kind in ("block", "text", "buttons")
            )
            nodes[block_id] = {
                "nodeID": block_id,
                "type": "block",
                "data": {"name": f"Question {f}.{b}", "steps": [text_id, buttons_id]},
            }
            nodes[text_id] = {
                "nodeID": text_id,
                "type": "text",
                "data": {
                    "texts": [
                        {
                            "id": "t",
                            "content": [
                                {
                                    "children": [
                                        {
                                            "text": f"Which option do you want for question {f}.{b}? "
                                            * 2
                                        }
                                    ]
                                }
                            ],
                        }
                    ]
                },
            }
            nodes[buttons_id] = {
                "nodeID": buttons_id,
                "type": "buttons",
                "data": {
                    "buttons": [
                        {"id": str(n), "name": f"Option {n}", "actions": []} for n in range(4)
                    ]
                },
            }
        diagrams[diagram_id] = {
            "_id": diagram_id,
            "diagramID": diagram_id,
            "name": f"Flow {f}",
            "type": "COMPONENT",
            "nodes": nodes,
        }
    return {
        "_version": "1.2",
        "project": {"_id": project_id, "name": "Large agent"},
        "version": {"_id": version_id, "projectID": project_id, "platformData": {"intents": []}},
        "diagrams": diagrams,
    }


def deep_state(version_id: str) -> dict:
    base = {
        "nodeID": None,
        "diagramID": version_id,
        "storage": {"isBase": True},
        "commands": [],
        "variables": {},
    }
    frames = [
        {
            "diagramID": object_id("flow", f * 30),
            "nodeID": object_id("buttons", f * 30, 7),
            "storage": {},
            "variables": {"n": f},
            "commands": [],
        }
        for f in range(DEPTH)
    ]
    return {"stack": [base, *frames], "storage": {}, "variables": {f"v{n}": n for n in range(40)}}


def median_ms(client, url: str, requests: int, expect: str) -> float:
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and expect in response.content.decode(), expect
    return round(statistics.median(timings), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()

    sandbox = Sandbox()
    try:
        run(sandbox, args)
    finally:
        sandbox.stop()


def run(sandbox: Sandbox, args: argparse.Namespace) -> None:
    env = bench_environment("flow_map", sandbox) | {
        "VOICEFLOW_ALLOW_PRIVATE_URLS": sandbox.url,
        "FLOW_MAP_FETCH": "false",
    }
    setup_django(env)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from sessions_app.flows import loading
    from sessions_app.flows.vf import parse_project_file
    from sessions_app.models import FlowMap
    from sessions_app.roles import ensure_roles

    # The page's static files through the finders, as in the tests (no collectstatic here).
    override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        STATIC_ROOT=None,
    ).enable()
    registration = sandbox.register_project("Large agent")
    environment = create_environment(sandbox, registration, budget_per_minute=100_000)
    version_id = registration["versions"]["development"]
    # Through the control API: the runtime refuses a written base frame's null nodeID, as the
    # real one does; the conversation would have built it itself.
    sandbox.control.put(
        "/_sandbox/state",
        json={
            "project_id": registration["project_id"],
            "user_id": USER_ID,
            "state": deep_state(version_id),
        },
    ).raise_for_status()

    user = get_user_model().objects.create_user("bench-viewer", password="x" * 20)
    user.groups.add(ensure_roles()["Viewer"])
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    url = f"/sessions/{environment.pk}/inspect?user={USER_ID}"

    without = median_ms(client, url, args.requests, "No flow names loaded")

    document = large_project_file(registration["project_id"], version_id, args.flows, args.blocks)
    raw = json.dumps(document)
    started = time.perf_counter()
    parsed = parse_project_file(json.loads(raw))
    parse_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    loading.store_project_file(
        environment.project_id, version_id, parsed, source=FlowMap.Source.UPLOAD
    )
    store_ms = (time.perf_counter() - started) * 1000

    cold = []
    for _ in range(max(args.requests // 4, 5)):
        loading._parsed.clear()  # as in a fresh web process
        started = time.perf_counter()
        response = client.get(url)
        cold.append((time.perf_counter() - started) * 1000)
        assert "Flow 150 › Question 150.7 · buttons" in response.content.decode()
    warm = median_ms(client, url, args.requests, "Flow 150 › Question 150.7 · buttons")

    stored = FlowMap.objects.get(project=environment.project, version_key=version_id)
    result = {
        "flows": args.flows,
        "blocks": args.blocks,
        "nodes_in_map": stored.node_count,
        "project_file_mb": round(len(raw) / 1024 / 1024, 2),
        "stored_map_mb": round(len(json.dumps(stored.flows)) / 1024 / 1024, 2),
        "parse_ms": round(parse_ms, 1),
        "store_ms": round(store_ms, 1),
        "inspector_without_map_ms": without,
        "inspector_with_map_first_request_ms": round(statistics.median(cold), 1),
        "inspector_with_map_ms": warm,
        "overhead_with_map_ms": round(warm - without, 1),
        "requests_per_median": args.requests,
    }
    save_result("flow_map", result)


if __name__ == "__main__":
    main()
