"""The sandbox's knobs and control API: budget, latency, injected failures, stats, stored truth."""

import time

import httpx
import pytest
from sandbox_process import RegisteredProject, Sandbox


def test_the_control_api_reports_health(bare_sandbox: Sandbox) -> None:
    assert bare_sandbox.control.get("/_sandbox/health").json() == {"ok": True}


def test_unknown_control_endpoints_answer_json_404(bare_sandbox: Sandbox) -> None:
    response = bare_sandbox.control.get("/_sandbox/nothing-here")
    assert response.status_code == 404
    assert "error" in response.json()


# ---- the request budget ----


def test_over_budget_requests_get_429_until_the_window_resets(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, budget_per_minute=3, window_seconds=2)
    started = time.monotonic()
    remaining = [
        int(legacy_api.get("/state/user/r").headers["X-RateLimit-Remaining"]) for _ in range(3)
    ]
    assert remaining == [2, 1, 0]

    refused = legacy_api.get("/state/user/r")
    assert refused.status_code == 429
    assert refused.json()["code"] == 429
    assert refused.json()["status"] == "Too Many Requests"
    assert refused.json()["data"] == "Too Many Requests"
    assert 0 <= int(refused.headers["Retry-After"]) <= 2
    assert refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert bare_sandbox.stats(own_project.api_key)["rate_limited"] == 1

    time.sleep(max(0.0, 2.1 - (time.monotonic() - started)))
    again = legacy_api.get("/state/user/r")
    assert again.status_code == 200
    assert again.headers["X-RateLimit-Remaining"] == "2"


def test_each_key_has_its_own_budget(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, budget_per_minute=1)
    legacy_api.get("/state/user/b")
    assert legacy_api.get("/state/user/b").status_code == 429
    other = bare_sandbox.register_project()
    with bare_sandbox.client(other) as client:
        assert client.get("/state/user/b").status_code == 200


def test_control_requests_do_not_spend_the_budget(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, budget_per_minute=2)
    for _ in range(5):
        bare_sandbox.state(own_project.project_id, "c")
        bare_sandbox.stats(own_project.api_key)
    assert legacy_api.get("/state/user/c").headers["X-RateLimit-Remaining"] == "1"
    assert bare_sandbox.stats(own_project.api_key)["requests"] == 1


# ---- latency ----


def test_latency_is_added_to_runtime_requests(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, latency_ms=300)
    started = time.monotonic()
    assert legacy_api.get("/state/user/slow").status_code == 200
    assert time.monotonic() - started >= 0.3


# ---- injected failures ----


def test_a_5xx_failure_answers_the_status_in_the_coded_envelope_and_changes_nothing(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, failures={"mode": "5xx", "status": 503})
    response = legacy_api.patch("/state/user/f/variables", json={"a": 1})
    assert response.status_code == 503
    assert response.json()["code"] == 503
    assert response.json()["data"] == "Service Unavailable"
    assert bare_sandbox.state(own_project.project_id, "f") is None
    stats = bare_sandbox.stats(own_project.api_key)
    assert stats["injected_failures"] == 1
    assert stats["writes_by_user"] == {}


def test_a_timeout_failure_holds_the_request_without_answering(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, failures={"mode": "timeout", "hold_seconds": 3})
    with pytest.raises(httpx.ReadTimeout):
        legacy_api.patch("/state/user/t/variables", json={"a": 1}, timeout=0.5)
    assert bare_sandbox.state(own_project.project_id, "t") is None


def test_a_drop_failure_closes_the_connection_without_a_response(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, failures={"mode": "drop"})
    with pytest.raises(httpx.RemoteProtocolError):
        legacy_api.get("/state/user/d")
    assert bare_sandbox.stats(own_project.api_key)["injected_failures"] == 1


def test_failures_can_target_single_users(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(
        api_key=own_project.api_key,
        failures={"mode": "5xx", "status": 502, "user_ids": ["unlucky"]},
    )
    assert legacy_api.patch("/state/user/unlucky/variables", json={"a": 1}).status_code == 502
    assert legacy_api.patch("/state/user/lucky/variables", json={"a": 1}).status_code == 200
    assert bare_sandbox.state(own_project.project_id, "unlucky") is None
    assert bare_sandbox.state(own_project.project_id, "lucky") == {"variables": {"a": 1}}


def test_failures_can_target_routes(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(
        api_key=own_project.api_key, failures={"mode": "5xx", "routes": ["state.patch"]}
    )
    assert legacy_api.get("/state/user/r").status_code == 200
    assert legacy_api.patch("/state/user/r/variables", json={"a": 1}).status_code == 503


def test_a_failure_count_limits_how_many_requests_fail(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, failures={"mode": "5xx", "count": 2})
    statuses = [legacy_api.get("/state/user/n").status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]


def test_a_failure_rate_fails_some_requests_and_not_others(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, failures={"mode": "5xx", "rate": 0.5})
    statuses = {legacy_api.get("/state/user/half").status_code for _ in range(100)}
    assert statuses == {200, 503}


def test_knobs_for_one_key_leave_other_keys_alone(
    bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, failures={"mode": "5xx"})
    other = bare_sandbox.register_project()
    with bare_sandbox.client(other) as client:
        assert client.get("/state/user/x").status_code == 200


def test_global_knobs_apply_to_every_key_and_reset_restores_defaults(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(failures={"mode": "5xx", "status": 500})
    try:
        assert legacy_api.get("/state/user/g").status_code == 500
    finally:
        described = bare_sandbox.control.post("/_sandbox/knobs/reset").json()
    assert described["global"]["failures"] is None
    assert legacy_api.get("/state/user/g").status_code == 200


def test_an_empty_knobs_payload_restores_the_defaults(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    bare_sandbox.knobs(api_key=own_project.api_key, failures={"mode": "5xx"})
    described = bare_sandbox.knobs()
    assert described["per_key"] == {}
    assert legacy_api.get("/state/user/e").status_code == 200


@pytest.mark.parametrize(
    "knobs",
    [
        {"latency_ms": -1},
        {"budget_per_minute": 0},
        {"failures": {"mode": "explode"}},
        {"failures": {"rate": 2}},
        {"failures": {"routes": ["state.nope"]}},
        {"no_such_knob": 1},
    ],
)
def test_invalid_knobs_are_refused(bare_sandbox: Sandbox, knobs: dict) -> None:
    response = bare_sandbox.control.post("/_sandbox/knobs", json=knobs)
    assert response.status_code == 400
    assert response.json()["error"]


# ---- stats ----


def test_stats_count_requests_by_route_method_status_and_writes_by_user(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    legacy_api.get("/state/user/s1")
    legacy_api.patch("/state/user/s1/variables", json={"a": 1})
    legacy_api.put("/state/user/s2", json={"stack": [], "storage": {}, "variables": {}})
    legacy_api.put("/state/user/s2", json={"stack": []})
    legacy_api.delete("/state/user/s1")
    legacy_api.get("/nope")

    stats = bare_sandbox.stats(own_project.api_key)
    assert stats["requests"] == 6
    assert stats["by_route"] == {
        "state.get": 1,
        "state.patch": 1,
        "state.put": 2,
        "state.delete": 1,
        "unmatched": 1,
    }
    assert stats["by_method"] == {"GET": 2, "PATCH": 1, "PUT": 2, "DELETE": 1}
    assert stats["by_status"] == {"200": 4, "400": 1, "404": 1}
    assert stats["writes_by_user"] == {"s1": 2, "s2": 1}

    bare_sandbox.control.post("/_sandbox/stats/reset", json={"api_key": own_project.api_key})
    assert bare_sandbox.stats(own_project.api_key)["requests"] == 0


def test_global_stats_add_up_every_key(bare_sandbox: Sandbox, legacy_api: httpx.Client) -> None:
    before = bare_sandbox.stats()["requests"]
    legacy_api.get("/state/user/total")
    assert bare_sandbox.stats()["requests"] == before + 1


# ---- the stored truth ----


def test_the_state_endpoints_read_and_write_the_store_directly(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    assert bare_sandbox.state(own_project.project_id, "moved") is None
    moved = {"stack": [{"diagramID": "d", "nodeID": "n"}], "storage": {}, "variables": {"step": 2}}
    bare_sandbox.set_state(own_project.project_id, "moved", moved)
    assert legacy_api.get("/state/user/moved").json() == moved

    bare_sandbox.control.request(
        "DELETE",
        "/_sandbox/state",
        params={"project_id": own_project.project_id, "user_id": "moved"},
    ).raise_for_status()
    assert legacy_api.get("/state/user/moved").json() == {}
    assert bare_sandbox.stats(own_project.api_key)["requests"] == 2


def test_the_users_endpoint_lists_a_projects_user_ids(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    legacy_api.patch("/state/user/b%2Fone/variables", json={})
    legacy_api.patch("/state/user/a/variables", json={})
    response = bare_sandbox.control.get(
        "/_sandbox/users", params={"project_id": own_project.project_id}
    )
    assert response.json() == {"user_ids": ["a", "b/one"]}


def test_registering_a_project_is_idempotent_and_keys_are_unique(
    bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    registration = own_project.registration()
    assert bare_sandbox.control.post("/_sandbox/projects", json=registration).status_code == 200
    assert bare_sandbox.control.post("/_sandbox/projects", json=registration).status_code == 200
    projects = bare_sandbox.control.get("/_sandbox/projects").json()["projects"]
    assert [p["project_id"] for p in projects].count(own_project.project_id) == 1

    thief = {**registration, "project_id": "f" * 24}
    assert bare_sandbox.control.post("/_sandbox/projects", json=thief).status_code == 409
    assert bare_sandbox.control.post("/_sandbox/projects", json={"api_key": "k"}).status_code == 400


def test_a_project_registered_without_versions_has_both_environments_published(
    bare_sandbox: Sandbox,
) -> None:
    registration = {
        "project_id": "e" * 24,
        "api_key": "VF.DM.eeeeeeeeeeeeeeeeeeeeeeee.bareRegistration",
    }
    bare_sandbox.control.post("/_sandbox/projects", json=registration).raise_for_status()
    for version in ("development", "production"):
        response = httpx.get(
            f"{bare_sandbox.url}/state/user/u",
            headers={"Authorization": registration["api_key"], "versionID": version},
        )
        assert response.status_code == 200
