"""The sandbox's v4 session API (§1.B, §7.3): session keys, turns, streaming, emitted events."""

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sandbox_process import RegisteredProject, Sandbox

from sessions_app.sandbox.agent import PIZZA, ROOT


@pytest.fixture
def http(bare_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bare_sandbox.url, timeout=10) as client:
        yield client


def start_session(
    http: httpx.Client,
    project: RegisteredProject,
    user_id: str,
    environment: str | None = "development",
) -> httpx.Response:
    where = f"/environment/{environment}" if environment else ""
    return http.post(
        f"/v4/project/{project.project_id}{where}/session",
        json={"userID": user_id},
        headers={"Authorization": project.api_key},
    )


def session_key(http: httpx.Client, project: RegisteredProject, user_id: str) -> str:
    response = start_session(http, project, user_id)
    assert response.status_code == 200, response.text
    return response.json()["sessionKey"]


def read_events(response: httpx.Response) -> Iterator[tuple[str, object, float]]:
    """(event, data, arrival time) for each server-sent event, as it arrives."""
    event, data = None, []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data)), time.monotonic()
            event, data = None, []
        elif line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())


def test_a_session_starts_in_an_environment_or_by_traffic_split(
    http: httpx.Client, own_project: RegisteredProject
) -> None:
    for environment in (
        "development",
        "production",
        "main",
        own_project.versions["development"],
        None,
    ):
        response = start_session(http, own_project, "starter", environment)
        assert response.status_code == 200
        assert response.json()["sessionKey"]


@pytest.mark.parametrize("user_id", ["", "u" * 257])
def test_session_user_ids_have_1_to_256_characters(
    http: httpx.Client, own_project: RegisteredProject, user_id: str
) -> None:
    response = start_session(http, own_project, user_id)
    assert response.status_code == 400
    assert "userID" in response.json()["errors"][""]["message"]
    assert start_session(http, own_project, "u" * 256).status_code == 200


def test_a_session_needs_the_projects_own_key(
    http: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    other = bare_sandbox.register_project()
    response = http.post(
        f"/v4/project/{own_project.project_id}/session",
        json={"userID": "u"},
        headers={"Authorization": other.api_key},
    )
    assert response.status_code == 401
    response = http.post(f"/v4/project/{own_project.project_id}/session", json={"userID": "u"})
    assert response.status_code == 401
    assert response.json()["data"] == "Auth Key Required"


def test_an_unknown_or_unpublished_environment_is_not_found(
    http: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    assert start_session(http, own_project, "u", "nowhere").status_code == 404
    unpublished = bare_sandbox.register_project(production=None)
    assert start_session(http, unpublished, "u", "production").status_code == 404


def test_a_turn_answers_traces_and_updates_the_users_state(
    http: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    key = session_key(http, own_project, "v4-user")
    response = http.post(
        "/v4/interact", json={"action": {"type": "launch"}}, headers={"Authorization": key}
    )
    assert response.status_code == 200
    traces = response.json()["traces"]
    assert [t["type"] for t in traces][-2:] == ["choice", "no-reply"]
    choice = traces[-2]["payload"]["buttons"][0]["request"]
    http.post("/v4/interact", json={"action": choice}, headers={"Authorization": key})
    state = bare_sandbox.state(own_project.project_id, "v4-user")
    base, *flows = state["stack"]
    assert base["storage"] == {"isBase": True}
    assert base["diagramID"] in own_project.versions.values()
    assert [frame["diagramID"] for frame in flows] == [ROOT.diagram_id, PIZZA.diagram_id]
    with bare_sandbox.client(own_project) as legacy:
        assert legacy.get("/state/user/v4-user").json() == state


def test_variables_are_merged_before_the_turn(
    http: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    key = session_key(http, own_project, "with-vars")
    http.post(
        "/v4/interact",
        json={"action": {"type": "launch"}, "variables": {"customer_name": "Ada"}},
        headers={"Authorization": key},
    )
    assert (
        bare_sandbox.state(own_project.project_id, "with-vars")["variables"]["customer_name"]
        == "Ada"
    )


def test_turns_need_a_live_session_key(http: httpx.Client, own_project: RegisteredProject) -> None:
    launch = {"action": {"type": "launch"}}
    assert (
        http.post(
            "/v4/interact", json=launch, headers={"Authorization": own_project.api_key}
        ).status_code
        == 401
    )
    assert http.post("/v4/interact", json=launch).status_code == 401
    assert (
        http.post("/v4/interact", json=launch, headers={"Authorization": "made-up"}).status_code
        == 401
    )


def test_a_new_session_invalidates_the_old_key(
    http: httpx.Client, own_project: RegisteredProject
) -> None:
    old = session_key(http, own_project, "renewed")
    new = session_key(http, own_project, "renewed")
    launch = {"action": {"type": "launch"}}
    assert http.post("/v4/interact", json=launch, headers={"Authorization": old}).status_code == 401
    assert http.post("/v4/interact", json=launch, headers={"Authorization": new}).status_code == 200


def test_a_turn_without_an_action_is_refused(
    http: httpx.Client, own_project: RegisteredProject
) -> None:
    key = session_key(http, own_project, "no-action")
    response = http.post("/v4/interact", json={}, headers={"Authorization": key})
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"": {"message": "data should have required property 'action'"}}
    }


def test_the_stream_sends_one_event_per_trace_then_end(
    http: httpx.Client, own_project: RegisteredProject
) -> None:
    key = session_key(http, own_project, "streamer")
    with http.stream(
        "POST",
        "/v4/interact/stream",
        json={"action": {"type": "launch"}},
        headers={"Authorization": key},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [(event, data) for event, data, _ in read_events(response)]
    assert [event for event, _ in events] == ["trace"] * (len(events) - 1) + ["end"]
    assert events[-1][1] == {}
    assert [data["type"] for _, data in events[:-1]] == [
        "text",
        "text",
        "text",
        "choice",
        "no-reply",
    ]


def test_completion_events_deliver_text_incrementally(
    http: httpx.Client, own_project: RegisteredProject
) -> None:
    key = session_key(http, own_project, "completer")
    body = {"action": {"type": "launch"}, "config": {"completionEvents": True}}
    with http.stream(
        "POST", "/v4/interact/stream", json=body, headers={"Authorization": key}
    ) as response:
        events = list(read_events(response))
    traces = [(data, arrived) for event, data, arrived in events if event == "trace"]
    assert "text" not in {trace["type"] for trace, _ in traces}
    completions = [trace["payload"] for trace, _ in traces if trace["type"] == "completion"]
    assert completions[0]["state"] == "start"
    first_message = []
    for payload in completions[1:]:
        if payload["state"] == "end":
            break
        first_message.append(payload["content"])
    assert len(first_message) >= 2
    assert "".join(first_message) == "Welcome to Demo Pizzeria & Bookings! 🍕"

    deltas = [
        arrived
        for trace, arrived in traces
        if trace["type"] == "completion" and trace["payload"]["state"] == "content"
    ]
    end_arrived = events[-1][2]
    # The deltas were not all sent at once: the stream was still open well after the first one.
    assert end_arrived - deltas[0] >= 0.1
    assert deltas[-1] > deltas[0]


def test_emitting_an_event_answers_201_and_reaches_the_sessions_next_turn(
    http: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    key = session_key(http, own_project, "listener")
    headers = {"Authorization": key}
    http.post("/v4/interact", json={"action": {"type": "launch"}}, headers=headers)
    response = http.post(
        f"/v2/project/{own_project.project_id}/session/listener/event",
        json={"action": {"type": "event", "payload": {"event": {"name": "start_over"}}}},
        headers={"Authorization": own_project.api_key},
    )
    assert response.status_code == 201
    assert response.content == b""
    events = bare_sandbox.control.get(
        "/_sandbox/events", params={"project_id": own_project.project_id}
    ).json()["events"]
    assert events[-1]["queued_for_user"] == "listener" and events[-1]["delivered"] is False

    traces = http.post(
        "/v4/interact", json={"action": {"type": "no-reply"}}, headers=headers
    ).json()["traces"]
    texts = [t["payload"]["message"] for t in traces if t["type"] == "text"]
    assert texts[0] == "Welcome to Demo Pizzeria & Bookings! 🍕"
    assert texts[-1] == "What can I help you with?"
    events = bare_sandbox.control.get(
        "/_sandbox/events", params={"project_id": own_project.project_id}
    ).json()["events"]
    assert events[-1]["delivered"] is True


def test_an_event_for_no_live_session_is_recorded_only(
    http: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    response = http.post(
        f"/v2/project/{own_project.project_id}/session/nobody/event",
        json={"action": {"type": "custom"}},
        headers={"Authorization": own_project.api_key},
    )
    assert response.status_code == 201
    events = bare_sandbox.control.get(
        "/_sandbox/events", params={"project_id": own_project.project_id}
    ).json()["events"]
    assert events == [
        {
            **events[0],
            "session_id": "nobody",
            "action": {"type": "custom"},
            "queued_for_user": None,
            "delivered": False,
        }
    ]


def test_emitting_needs_the_projects_key_and_an_action(
    http: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    url = f"/v2/project/{own_project.project_id}/session/s/event"
    other = bare_sandbox.register_project()
    assert (
        http.post(
            url, json={"action": {"type": "x"}}, headers={"Authorization": other.api_key}
        ).status_code
        == 401
    )
    response = http.post(url, json={}, headers={"Authorization": own_project.api_key})
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"": {"message": "data should have required property 'action'"}}
    }
