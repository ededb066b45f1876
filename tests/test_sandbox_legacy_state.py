"""The sandbox's legacy state surface (/state/user/…): voiceflow-api.md §1.A, §7.1, §7.2, §9."""

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx
import pytest
from sandbox_process import RegisteredProject, Sandbox

ODD_USER_IDS = [
    "a/b",
    "what?now",
    "hash#tag",
    "100%real",
    "percent%20literal",
    "has space",
    "名前-ユーザー",
    "emoji-🍕",
    "plus+sign",
    "dots..and..",
    "x" * 128,
]


def path(user_id: str, suffix: str = "") -> str:
    return f"/state/user/{quote(user_id, safe='')}{suffix}"


def assert_coded_envelope(response: httpx.Response, status: int, data: str) -> None:
    body = response.json()
    assert response.status_code == status
    assert body["code"] == status
    assert body["data"] == data
    assert isinstance(body["status"], str) and body["status"]
    assert body["dateTime"].endswith("Z")
    assert isinstance(body["timestamp"], int)


def test_the_reference_scenario_passes_line_by_line(legacy_api: httpx.Client) -> None:
    # voiceflow-api.md §7.2
    response = legacy_api.get("/state/user/u1")
    assert (response.status_code, response.json()) == (200, {})

    response = legacy_api.patch("/state/user/u1/variables", json={"a": 1, "o": {"x": 1}})
    assert (response.status_code, response.json()) == (200, {"variables": {"a": 1, "o": {"x": 1}}})

    response = legacy_api.patch("/state/user/u1/variables", json={"o": {"y": 2}})
    assert (response.status_code, response.json()) == (200, {"variables": {"a": 1, "o": {"y": 2}}})

    replacement = {"stack": [], "storage": {}, "variables": {"b": 2}}
    response = legacy_api.put("/state/user/u1", json=replacement)
    assert (response.status_code, response.json()) == (200, replacement)

    response = legacy_api.put(
        "/state/user/u1", json={"stack": [{}], "storage": {}, "variables": {}}
    )
    assert response.status_code == 400
    assert "diagramID" in response.json()["errors"][""]["message"]

    response = legacy_api.put("/state/user/u1", json={"stack": []})
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "": {
                "message": "data should have required property 'storage', "
                "data should have required property 'variables'"
            }
        }
    }

    for _ in range(2):
        response = legacy_api.delete("/state/user/u1")
        assert response.status_code == 200
        assert response.content == b""

    response = legacy_api.get("/state/user/u1")
    assert (response.status_code, response.json()) == (200, {})

    response = legacy_api.get("/state/user/u1", headers={"Authorization": ""})
    assert_coded_envelope(response, 401, "Auth Key Required")

    # The runtime has no userID length check (observed.json); the docs' 128 is not enforced.
    response = legacy_api.get(path("u" * 129))
    assert (response.status_code, response.json()) == (200, {})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"storage": {}, "variables": {}}, "data should have required property 'stack'"),
        ({"stack": [], "variables": {}}, "data should have required property 'storage'"),
        ({"stack": [], "storage": {}}, "data should have required property 'variables'"),
        (
            {"stack": [], "storage": {}, "variables": {}, "turn": {}},
            "data should NOT have additional properties",
        ),
        ([], "data should be object"),
        ({"stack": {}, "storage": {}, "variables": {}}, "data.stack should be array"),
        ({"stack": ["frame"], "storage": {}, "variables": {}}, "data.stack[0] should be object"),
        (
            {"stack": [{"nodeID": "n"}], "storage": {}, "variables": {}},
            "data.stack[0] should have required property 'diagramID'",
        ),
        (
            {"stack": [{"diagramID": 7}], "storage": {}, "variables": {}},
            "data.stack[0].diagramID should be string",
        ),
        (
            {"stack": [{"diagramID": "d", "nodeID": None}], "storage": {}, "variables": {}},
            "data.stack[0].nodeID should be string",
        ),
        (
            {
                "stack": [{"diagramID": "d"}, {"diagramID": "e", "nodeID": 3}],
                "storage": {},
                "variables": {},
            },
            "data.stack[1].nodeID should be string",
        ),
        ({"stack": [], "storage": [], "variables": {}}, "data.storage should be object"),
        ({"stack": [], "storage": {}, "variables": None}, "data.variables should be object"),
    ],
)
def test_put_refuses_each_malformed_state_with_the_ajv_message(
    legacy_api: httpx.Client,
    bare_sandbox: Sandbox,
    own_project: RegisteredProject,
    body,
    message: str,
) -> None:
    response = legacy_api.put("/state/user/shape", json=body)
    assert response.status_code == 400
    assert response.json() == {"errors": {"": {"message": message}}}
    assert bare_sandbox.state(own_project.project_id, "shape") is None


def test_put_accepts_frames_without_node_id_and_with_extra_keys(legacy_api: httpx.Client) -> None:
    state = {
        "stack": [{"diagramID": "d1", "name": "ROOT", "storage": {"output": []}, "custom": [1]}],
        "storage": {"locale": "en-US"},
        "variables": {"n": None},
    }
    response = legacy_api.put("/state/user/frames", json=state)
    assert (response.status_code, response.json()) == (200, state)
    assert legacy_api.get("/state/user/frames").json() == state


def test_put_replaces_the_whole_state(legacy_api: httpx.Client) -> None:
    legacy_api.patch("/state/user/whole/variables", json={"keep": "no"})
    legacy_api.put(
        "/state/user/whole", json={"stack": [], "storage": {"s": 1}, "variables": {"v": 2}}
    )
    assert legacy_api.get("/state/user/whole").json() == {
        "stack": [],
        "storage": {"s": 1},
        "variables": {"v": 2},
    }


def test_patch_merges_shallowly_and_leaves_stack_and_storage_alone(
    legacy_api: httpx.Client,
) -> None:
    frame = {"diagramID": "d", "nodeID": "n", "variables": {"local": 1}}
    legacy_api.put(
        "/state/user/merge",
        json={
            "stack": [frame],
            "storage": {"k": "v"},
            "variables": {"a": 1, "o": {"x": 1, "y": 1}},
        },
    )
    response = legacy_api.patch(
        "/state/user/merge/variables", json={"o": {"z": 3}, "n": None, "list": [1]}
    )
    assert response.status_code == 200
    assert response.json() == {
        "stack": [frame],
        "storage": {"k": "v"},
        "variables": {"a": 1, "o": {"z": 3}, "n": None, "list": [1]},
    }


def test_patch_with_an_empty_object_changes_nothing(legacy_api: httpx.Client) -> None:
    legacy_api.put("/state/user/noop", json={"stack": [], "storage": {}, "variables": {"a": 1}})
    response = legacy_api.patch("/state/user/noop/variables", json={})
    assert response.json() == {"stack": [], "storage": {}, "variables": {"a": 1}}


def test_patch_merges_a_json_array_by_index(legacy_api: httpx.Client) -> None:
    legacy_api.patch("/state/user/arr/variables", json={"x": 1})
    response = legacy_api.patch("/state/user/arr/variables", json=[1, 2])
    assert response.status_code == 200
    # As a JavaScript object: the index keys first.
    assert list(response.json()["variables"].items()) == [("0", 1), ("1", 2), ("x", 1)]


def test_delete_answers_an_empty_body_under_a_json_content_type(legacy_api: httpx.Client) -> None:
    legacy_api.patch("/state/user/gone/variables", json={"a": 1})
    response = legacy_api.delete("/state/user/gone")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    # Express's res.json(undefined) goes out chunked, with no Content-Length.
    assert "content-length" not in response.headers
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.content == b""
    assert legacy_api.get("/state/user/gone").json() == {}


@pytest.mark.parametrize("user_id", ODD_USER_IDS)
def test_odd_user_ids_round_trip_exactly(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject, user_id: str
) -> None:
    state = {"stack": [], "storage": {}, "variables": {"who": user_id}}
    assert legacy_api.put(path(user_id), json=state).status_code == 200
    assert legacy_api.get(path(user_id)).json() == state
    assert (
        legacy_api.patch(path(user_id, "/variables"), json={"x": 1}).json()["variables"]["who"]
        == user_id
    )
    assert bare_sandbox.state(own_project.project_id, user_id)["variables"]["who"] == user_id
    assert legacy_api.delete(path(user_id)).status_code == 200
    assert bare_sandbox.state(own_project.project_id, user_id) is None


def test_an_encoded_slash_is_one_segment_not_a_path(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    legacy_api.patch("/state/user/a%2Fb/variables", json={"slash": True})
    assert bare_sandbox.state(own_project.project_id, "a/b") == {"variables": {"slash": True}}
    assert bare_sandbox.state(own_project.project_id, "a%2Fb") is None
    # Unencoded, the slash splits the path and no route matches.
    assert legacy_api.get("/state/user/a/b").status_code == 404


def test_user_ids_have_no_length_limit_below_the_request_line_limit(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    state = {"stack": [], "storage": {}, "variables": {}}
    for length in (128, 129, 2000):
        assert legacy_api.put(path("é" * length), json=state).status_code == 200
        assert bare_sandbox.state(own_project.project_id, "é" * length) == state


def test_a_request_line_over_16_kib_gets_a_bare_431(legacy_api: httpx.Client) -> None:
    response = legacy_api.get(path("z" * 20_000))
    assert response.status_code == 431
    assert response.content == b""
    assert response.headers["connection"] == "close"


def test_malformed_json_is_a_syntax_error(legacy_api: httpx.Client) -> None:
    response = legacy_api.put(
        "/state/user/bad", content=b'{"stack": [}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["name"] == "SyntaxError"
    # Node 20's wording, as body-parser passes it on.
    assert body["message"] == 'Unexpected token \'}\', "{"stack": [}" is not valid JSON'
    assert body["requestID"].isdigit()
    # The body is parsed before the rate limiter: no budget spent, no X-RateLimit-* headers.
    assert "X-RateLimit-Remaining" not in response.headers
    remaining = int(legacy_api.get("/state/user/bad").headers["X-RateLimit-Remaining"])
    legacy_api.put("/state/user/bad", content=b"{", headers={"Content-Type": "application/json"})
    assert int(legacy_api.get("/state/user/bad").headers["X-RateLimit-Remaining"]) == remaining - 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "Expected property name or '}' in JSON at position 1"),
        (b'{"stack": [', "Unexpected end of JSON input"),
        (b'{"a":1', "Expected ',' or '}' after property value in JSON at position 6"),
        (b'"str"', 'Unexpected token \'"\', "#" is not valid JSON'),
    ],
)
def test_json_syntax_errors_are_worded_as_node_words_them(
    legacy_api: httpx.Client, raw: bytes, message: str
) -> None:
    response = legacy_api.patch(
        "/state/user/words/variables", content=raw, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["message"]) == (400, message)


@pytest.mark.parametrize("raw", [b'"a string"', b"null", b"42"])
def test_a_top_level_json_scalar_is_refused_as_a_syntax_error(
    legacy_api: httpx.Client, raw: bytes
) -> None:
    response = legacy_api.patch(
        "/state/user/scalar/variables", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["name"] == "SyntaxError"


def test_a_body_over_one_megabyte_is_too_large(legacy_api: httpx.Client) -> None:
    big = {"stack": [], "storage": {}, "variables": {"blob": "x" * (1024 * 1024)}}
    response = legacy_api.put("/state/user/big", json=big)
    assert response.status_code == 413
    assert response.json()["name"] == "PayloadTooLargeError"
    # The connection is still usable afterwards.
    assert legacy_api.get("/state/user/big").json() == {}


def test_a_body_without_a_json_content_type_is_ignored(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    state = b'{"stack": [], "storage": {}, "variables": {"a": 1}}'
    response = legacy_api.put(
        "/state/user/plain", content=state, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "": {
                "message": "data should have required property 'stack', "
                "data should have required property 'storage', "
                "data should have required property 'variables'"
            }
        }
    }
    response = legacy_api.patch(
        "/state/user/plain/variables", content=b'{"a": 1}', headers={"Content-Type": "text/plain"}
    )
    assert response.json() == {"variables": {}}


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/nope"),
        ("PATCH", "/state/user/u1"),
        ("GET", "/state/user/u1/variables"),
        ("PUT", "/state/user/u1/interact"),
        ("GET", "/state/user/"),
    ],
)
def test_unknown_routes_and_wrong_methods_get_an_html_404(
    legacy_api: httpx.Client, method: str, url: str
) -> None:
    response = legacy_api.request(method, url)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert f"Cannot {method} {url}" in response.text


def test_every_state_response_carries_the_rate_limit_headers(legacy_api: httpx.Client) -> None:
    responses = [
        legacy_api.get("/state/user/h"),
        legacy_api.put("/state/user/h", json={"stack": []}),
        legacy_api.patch("/state/user/h/variables", json={"a": 1}),
        legacy_api.delete("/state/user/h"),
        legacy_api.get("/state/user/h", headers={"Authorization": ""}),
    ]
    for response in responses:
        assert response.headers["X-RateLimit-Reset"].endswith("Z")
    keyed = [int(r.headers["X-RateLimit-Remaining"]) for r in responses[:4]]
    assert keyed == list(range(keyed[0], keyed[0] - 4, -1))
    assert {r.headers["X-RateLimit-Limit"] for r in responses[:4]} == {"500"}
    # Without a key the runtime budgets per versionID, with twice the budget (§9).
    assert responses[4].headers["X-RateLimit-Limit"] == "1000"


def test_an_unknown_key_is_refused(legacy_api: httpx.Client) -> None:
    stranger = "VF.DM.000000000000000000000000.notARegisteredKeyAtAll"
    assert_coded_envelope(
        legacy_api.get("/state/user/u", headers={"Authorization": stranger}), 401, "Invalid API key"
    )
    assert legacy_api.get("/state/user/u", headers={"Authorization": "garbage"}).status_code == 401


def test_version_aliases_and_literal_ids_resolve_per_project(
    bare_sandbox: Sandbox, legacy_api: httpx.Client, own_project: RegisteredProject
) -> None:
    for version in ("development", "production", *own_project.versions.values()):
        assert legacy_api.get("/state/user/v", headers={"versionID": version}).status_code == 200
    without = bare_sandbox.client(own_project)
    del without.headers["versionID"]
    assert without.get("/state/user/v").status_code == 200

    unknown = "0123456789abcdef01234567"
    response = legacy_api.get("/state/user/v", headers={"versionID": unknown})
    assert response.status_code == 400
    assert response.json()["name"] == "verror"
    assert response.json()["message"] == f"Could not resolve project with version ID {unknown}"
    assert response.json()["requestID"]


def test_state_is_shared_between_versions(legacy_api: httpx.Client) -> None:
    legacy_api.patch(
        "/state/user/shared/variables", json={"from": "dev"}, headers={"versionID": "development"}
    )
    response = legacy_api.get("/state/user/shared", headers={"versionID": "production"})
    assert response.json() == {"variables": {"from": "dev"}}


def test_unpublished_production_is_a_verror(bare_sandbox: Sandbox) -> None:
    unpublished = bare_sandbox.register_project(production=None)
    with bare_sandbox.client(unpublished, versionID="production") as client:
        response = client.get("/state/user/u")
    assert response.status_code == 400
    assert response.json()["name"] == "verror"
    assert response.json()["message"] == "Voiceflow project was not published to production"


def test_staging_resolves_only_where_the_project_has_it(bare_sandbox: Sandbox) -> None:
    with_staging = bare_sandbox.register_project(staging="ab" * 12)
    unpublished_staging = bare_sandbox.register_project(staging=None)
    with bare_sandbox.client(with_staging, versionID="staging") as client:
        assert client.get("/state/user/u").status_code == 200
    with bare_sandbox.client(unpublished_staging, versionID="staging") as client:
        assert (
            client.get("/state/user/u").json()["message"]
            == "Voiceflow project was not published to staging"
        )


def test_an_uncompiled_development_version_is_model_not_found(bare_sandbox: Sandbox) -> None:
    uncompiled = bare_sandbox.register_project(development=None)
    with bare_sandbox.client(uncompiled) as client:
        response = client.get("/state/user/u")
    assert_coded_envelope(response, 404, "Model not found. Ensure project is properly rendered.")


def test_the_project_id_header_is_optional_unless_required_by_knob(
    bare_sandbox: Sandbox, own_project: RegisteredProject, legacy_api: httpx.Client
) -> None:
    assert legacy_api.get("/state/user/p", headers={"projectID": ""}).status_code == 200
    bare_sandbox.knobs(api_key=own_project.api_key, require_project_id=True)
    try:
        response = legacy_api.get("/state/user/p", headers={"projectID": ""})
        assert response.status_code == 400
        assert response.json() == {"errors": {"projectid": {"message": "Invalid value"}}}
        assert legacy_api.get("/state/user/p").status_code == 200
    finally:
        bare_sandbox.knobs(api_key=own_project.api_key)


def test_projects_do_not_see_each_others_states(
    bare_sandbox: Sandbox, legacy_api: httpx.Client
) -> None:
    legacy_api.patch("/state/user/mine/variables", json={"secret": 1})
    other = bare_sandbox.register_project()
    with bare_sandbox.client(other) as client:
        assert client.get("/state/user/mine").json() == {}


def test_header_names_are_case_insensitive(
    bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    response = httpx.get(
        f"{bare_sandbox.url}/state/user/case",
        headers={"AUTHORIZATION": own_project.api_key, "VERSIONID": "production"},
    )
    assert response.status_code == 200


def test_cors_reflects_the_origin_and_answers_preflights(legacy_api: httpx.Client) -> None:
    response = legacy_api.get("/state/user/c", headers={"Origin": "https://app.example.com"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    preflight = legacy_api.options(
        "/state/user/c",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Headers"] == "authorization"


def test_concurrent_writes_to_one_user_all_land(
    bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    def write(number: int) -> int:
        with bare_sandbox.client(own_project) as client:
            return client.patch(
                "/state/user/busy/variables", json={f"k{number}": number}
            ).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert set(pool.map(write, range(64))) == {200}
    variables = bare_sandbox.state(own_project.project_id, "busy")["variables"]
    assert variables == {f"k{number}": number for number in range(64)}
    assert bare_sandbox.stats(own_project.api_key)["writes_by_user"] == {"busy": 64}


def test_a_connection_serves_many_requests(legacy_api: httpx.Client) -> None:
    for number in range(20):
        assert (
            legacy_api.patch("/state/user/keepalive/variables", json={"n": number}).status_code
            == 200
        )
    assert legacy_api.get("/state/user/keepalive").json() == {"variables": {"n": 19}}
