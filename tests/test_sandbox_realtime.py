"""The sandbox's newer APIs: realtime conversation state (§1.C) and transcript searches (§6)."""

from collections.abc import Iterator

import httpx
import pytest
from sandbox_process import RegisteredProject, Sandbox, start_sandbox


@pytest.fixture
def realtime(bare_sandbox: Sandbox, own_project: RegisteredProject) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=bare_sandbox.url,
        headers={"Authorization": f"Bearer {own_project.access_token}"},
        params={
            "projectID": own_project.project_id,
            "environmentAlias": "main",
            "version": "draft",
        },
        timeout=10,
    ) as client:
        yield client


def test_it_needs_the_projects_bearer_token(realtime: httpx.Client, bare_sandbox: Sandbox) -> None:
    assert (
        realtime.get("/v1/stable/conversation-state/u", headers={"Authorization": ""}).status_code
        == 401
    )
    other = bare_sandbox.register_project()
    response = realtime.get(
        "/v1/stable/conversation-state/u", headers={"Authorization": f"Bearer {other.access_token}"}
    )
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401


def test_environment_and_version_are_checked(realtime: httpx.Client, bare_sandbox: Sandbox) -> None:
    response = realtime.get(
        "/v1/stable/conversation-state/u", params={"environmentAlias": "nowhere"}
    )
    assert (response.status_code, response.json()["message"]) == (400, "invalid environment tag")
    assert (
        realtime.get("/v1/stable/conversation-state/u", params={"version": "latest"}).status_code
        == 400
    )

    unpublished = bare_sandbox.register_project(production=None)
    response = httpx.get(
        f"{bare_sandbox.url}/v1/stable/conversation-state/u",
        params={
            "projectID": unpublished.project_id,
            "environmentAlias": "main",
            "version": "published",
        },
        headers={"Authorization": f"Bearer {unpublished.access_token}"},
    )
    assert response.status_code == 404


def test_state_is_read_wrapped_and_shared_with_the_legacy_api(
    realtime: httpx.Client, legacy_api: httpx.Client
) -> None:
    assert realtime.get("/v1/stable/conversation-state/nobody").status_code == 404
    legacy_api.patch("/state/user/a%2Fb/variables", json={"shared": True})
    for version in ("draft", "published"):
        response = realtime.get("/v1/stable/conversation-state/a%2Fb", params={"version": version})
        assert response.json() == {"state": {"variables": {"shared": True}}}


def test_state_is_replaced_with_patch_and_answered_with_a_message(
    realtime: httpx.Client, legacy_api: httpx.Client
) -> None:
    state = {"stack": [{"diagramID": "d", "nodeID": "n"}], "storage": {}, "variables": {"x": 1}}
    response = realtime.patch("/v1/stable/conversation-state/rt", json=state)
    assert response.status_code == 200 and isinstance(response.json()["message"], str)
    assert legacy_api.get("/state/user/rt").json() == state
    refused = realtime.patch("/v1/stable/conversation-state/rt", json={**state, "turn": {}})
    assert refused.status_code == 400
    assert refused.json()["message"] == "data should NOT have additional properties"


def test_variables_need_the_wrapper_and_merge_shallowly(
    realtime: httpx.Client, legacy_api: httpx.Client
) -> None:
    url = "/v1/stable/conversation-state/vars/variables"
    assert realtime.patch(url, json={"variables": {"a": 1, "o": {"x": 1}}}).status_code == 200
    assert realtime.patch(url, json={"variables": {"o": {"y": 2}}}).status_code == 200
    assert legacy_api.get("/state/user/vars").json() == {"variables": {"a": 1, "o": {"y": 2}}}
    assert realtime.patch(url, json={"a": 1}).status_code == 400
    assert realtime.patch(url, json={"variables": {}, "extra": 1}).status_code == 400


def test_delete_answers_a_message(realtime: httpx.Client, legacy_api: httpx.Client) -> None:
    legacy_api.patch("/state/user/bye/variables", json={"a": 1})
    response = realtime.delete("/v1/stable/conversation-state/bye")
    assert response.status_code == 200 and response.json()["message"]
    assert legacy_api.get("/state/user/bye").json() == {}


def test_realtime_writes_count_for_the_projects_key(
    realtime: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    realtime.patch("/v1/stable/conversation-state/w/variables", json={"variables": {"a": 1}})
    realtime.delete("/v1/stable/conversation-state/w")
    assert bare_sandbox.stats(own_project.api_key)["writes_by_user"] == {"w": 2}


def test_send_runs_a_turn(
    realtime: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    response = realtime.put(
        "/v1/stable/conversation/sender", json={"action": {"type": "launch"}, "version": "draft"}
    )
    assert response.status_code == 200
    assert [t["type"] for t in response.json()["traces"]][-2:] == ["choice", "no-reply"]
    assert bare_sandbox.state(own_project.project_id, "sender")["variables"]["user_id"] == "sender"
    assert (
        realtime.put(
            "/v1/stable/conversation/sender", json={"action": {"type": "launch"}}
        ).status_code
        == 400
    )


def test_environments_are_listed(realtime: httpx.Client, own_project: RegisteredProject) -> None:
    environments = realtime.get("/v1/stable/environment").json()["environments"]
    assert environments[0]["alias"] == "main" and environments[0]["isMain"] is True
    assert environments[0]["draftVersionID"] == own_project.versions["development"]
    assert environments[0]["publishedVersionID"] == own_project.versions["production"]


def test_transcripts_list_the_users_who_talked(
    realtime: httpx.Client, legacy_api: httpx.Client
) -> None:
    for user_id in ("first", "second", "third"):
        legacy_api.post(f"/state/user/{user_id}/interact", json={"action": {"type": "launch"}})
    legacy_api.patch("/state/user/silent/variables", json={"a": 1})

    found = realtime.post("/v1/stable/transcript/search", json={}).json()["transcripts"]
    assert [t["userID"] for t in found] == ["third", "second", "first"]
    assert all("logs" not in t for t in found)
    assert [
        t["userID"]
        for t in realtime.post("/v1/stable/transcript/search", json={"take": 1, "skip": 1}).json()[
            "transcripts"
        ]
    ] == ["second"]
    only = realtime.post("/v1/stable/transcript/search", json={"sessionID": "first"}).json()[
        "transcripts"
    ]
    assert [t["userID"] for t in only] == ["first"]
    assert realtime.post(
        "/v1/stable/transcript/search", json={"endDate": "2000-01-01T00:00:00Z"}
    ).json() == {"transcripts": []}
    assert realtime.post("/v1/stable/transcript/search", json={"projectID": "x"}).status_code == 400

    transcript = realtime.get(f"/v1/stable/transcript/{only[0]['id']}").json()["transcript"]
    assert transcript["logs"][0] == {
        "type": "action",
        "data": {"type": "launch"},
        "createdAt": transcript["createdAt"],
    }
    assert {log["type"] for log in transcript["logs"]} == {"action", "trace"}


def test_an_ended_conversation_starts_a_new_transcript(
    realtime: httpx.Client, legacy_api: httpx.Client
) -> None:
    legacy_api.post("/state/user/twice/interact", json={"action": {"type": "launch"}})
    legacy_api.post("/state/user/twice/interact", json={"action": {"type": "end"}})
    legacy_api.post("/state/user/twice/interact", json={"action": {"type": "launch"}})
    found = realtime.post("/v1/stable/transcript/search", json={"sessionID": "twice"}).json()[
        "transcripts"
    ]
    assert len(found) == 2
    assert found[0]["endedAt"] is None and found[1]["endedAt"] is not None


def test_the_analytics_search_takes_the_project_key_and_omits_user_ids(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    legacy_api.post("/state/user/one/interact", json={"action": {"type": "launch"}})
    legacy_api.post("/state/user/two/interact", json={"action": {"type": "launch"}})
    url = f"/v1/transcript/project/{own_project.project_id}"
    response = legacy_api.post(url, json={}, params={"order": "ASC"})
    transcripts = response.json()["transcripts"]
    assert [t["sessionID"] for t in transcripts] == ["one", "two"]
    assert "userID" not in transcripts[0]
    assert transcripts[0]["environmentID"] == own_project.versions["development"]
    assert legacy_api.post(url, json={}, headers={"Authorization": "VF.DM.nope"}).status_code == 401


def plant(sandbox: Sandbox, project: RegisteredProject, user_id: str, at: str, **fields) -> dict:
    response = sandbox.control.post(
        "/_sandbox/transcripts",
        json={"project_id": project.project_id, "user_id": user_id, "created_at": at, **fields},
    )
    response.raise_for_status()
    return response.json()["transcript"]


def test_a_transcript_can_be_planted_at_a_given_time(
    bare_sandbox: Sandbox, own_project: RegisteredProject, realtime: httpx.Client
) -> None:
    planted = plant(
        bare_sandbox,
        own_project,
        "old-timer",
        "2024-03-01T10:00:00Z",
        updated_at="2024-03-01T10:05:00+00:00",
        version="production",
    )
    assert (planted["createdAt"], planted["updatedAt"], planted["endedAt"]) == (
        "2024-03-01T10:00:00.000Z",
        "2024-03-01T10:05:00.000Z",
        "2024-03-01T10:05:00.000Z",
    )
    assert planted["environmentID"] == own_project.versions["production"]
    found = realtime.post("/v1/stable/transcript/search", json={}).json()["transcripts"]
    assert [(t["userID"], t["id"]) for t in found] == [("old-timer", planted["id"])]

    for problem in (
        {"created_at": "2024-03-01T10:00:00"},
        {"created_at": "yesterday"},
        {"created_at": "2024-03-01T10:00:00Z", "updated_at": "2024-02-01T10:00:00Z"},
        {"created_at": "2024-03-01T10:00:00Z", "version": "staging"},
    ):
        response = bare_sandbox.control.post(
            "/_sandbox/transcripts",
            json={"project_id": own_project.project_id, "user_id": "x", **problem},
        )
        assert response.status_code == 400, problem


def test_the_realtime_search_filters_by_environment_alias_and_version(
    bare_sandbox: Sandbox, own_project: RegisteredProject, realtime: httpx.Client
) -> None:
    plant(bare_sandbox, own_project, "on-draft", "2024-03-01T10:00:00Z", version="development")
    plant(bare_sandbox, own_project, "on-live", "2024-03-01T11:00:00Z", version="production")
    url = "/v1/stable/transcript/search"

    def users(**body) -> list[str]:
        response = realtime.post(url, json=body)
        assert response.status_code == 200, response.text
        return [t["userID"] for t in response.json()["transcripts"]]

    assert users(environmentAlias="main") == ["on-live", "on-draft"]
    assert users(environmentAlias="main", version="draft") == ["on-draft"]
    assert users(environmentAlias="main", version="published") == ["on-live"]
    assert users(version="published") == ["on-live"]
    refused = realtime.post(url, json={"environmentAlias": "nowhere"})
    assert (refused.status_code, refused.json()["message"]) == (400, "invalid environment tag")
    assert realtime.post(url, json={"version": "latest"}).status_code == 400


def test_the_analytics_search_filters_by_environment_id(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    plant(bare_sandbox, own_project, "on-draft", "2024-03-01T10:00:00Z", version="development")
    plant(bare_sandbox, own_project, "on-live", "2024-03-01T11:00:00Z", version="production")
    url = f"/v1/transcript/project/{own_project.project_id}"
    main_id = legacy_api.get(
        "/v1/stable/environment",
        params={"projectID": own_project.project_id},
        headers={"Authorization": f"Bearer {own_project.access_token}"},
    ).json()["environments"][0]["id"]

    def sessions(environment_id: str) -> list[str]:
        response = legacy_api.post(url, json={"environmentID": environment_id})
        assert response.status_code == 200, response.text
        return [t["sessionID"] for t in response.json()["transcripts"]]

    assert sessions(main_id) == ["on-live", "on-draft"]
    assert sessions("development") == ["on-draft"]
    assert sessions(own_project.versions["production"]) == ["on-live"]
    assert sessions("000000000000000000000000") == []


def test_the_transcript_searches_filter_by_date_range_inclusively(
    bare_sandbox: Sandbox, own_project: RegisteredProject, realtime: httpx.Client
) -> None:
    for day in (1, 2, 3):
        plant(bare_sandbox, own_project, f"day-{day}", f"2024-03-0{day}T12:00:00Z")
    found = realtime.post(
        "/v1/stable/transcript/search",
        json={"startDate": "2024-03-02T12:00:00Z", "endDate": "2024-03-03T12:00:00Z"},
    ).json()["transcripts"]
    assert [t["userID"] for t in found] == ["day-3", "day-2"]


def test_transcripts_survive_a_restart_with_a_state_file(tmp_path) -> None:
    state_file = tmp_path / "sandbox-state.json"
    first = Sandbox(*start_sandbox(["--no-demo", "--state-file", str(state_file)]))
    project = first.register_project()
    planted = plant(first, project, "remembered", "2024-03-01T10:00:00Z")
    first.close()

    restarted = Sandbox(*start_sandbox(["--no-demo", "--state-file", str(state_file)]))
    try:
        found = httpx.post(
            f"{restarted.url}/v1/stable/transcript/search",
            params={"projectID": project.project_id},
            headers={"Authorization": f"Bearer {project.access_token}"},
            json={},
        ).json()["transcripts"]
        assert [t["id"] for t in found] == [planted["id"]]
    finally:
        restarted.close()
