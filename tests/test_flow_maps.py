"""Flow maps: flow and block names from the project file (.vf), on the inspector."""

import copy
import io
import json
from datetime import timedelta

import httpx
import pytest
from bulk_support import wait_for
from cli_support import bootstrap
from django.urls import reverse
from django.utils import timezone
from flow_support import fixture_document, talk
from inspector_support import inspect_url, text_of

from sessions_app.flows.loading import flow_map_for, store_project_file
from sessions_app.flows.vf import ProjectFileError, parse_project_file
from sessions_app.models import AuditEntry, FlowMap
from sessions_app.sandbox import agent
from sessions_app.sandbox.demo import DEMO_API_KEY, DEMO_VERSIONS

pytestmark = pytest.mark.production_path

PIZZA_FLOW = "64f1a2b3c4d5e6f708192b02"
ASK_SIZE_BUTTONS = "6501cc0000000000000000c5"


# ---- reading a project file ----


def test_the_fixture_export_names_flows_blocks_and_what_a_block_says_and_offers():
    parsed = parse_project_file(fixture_document())

    assert parsed.version_id == "64f1a2b3c4d5e6f708192a3c"
    assert parsed.project_id == "64f1a2b3c4d5e6f708192a3b"
    assert parsed.flows[PIZZA_FLOW] == "Order pizza"
    assert parsed.nodes[ASK_SIZE_BUTTONS] == {
        "flow": PIZZA_FLOW,
        "block": "Ask size",
        "kind": "buttons",
        "block_id": "6501bb0000000000000000b3",
        "says": ["What size would you like?"],
        "offers": ["Small", "Medium", "Large"],
    }


def test_a_choice_offers_its_intents_by_name_and_a_text_joins_its_slate_leaves():
    parsed = parse_project_file(fixture_document())

    welcome_text = parsed.nodes["6501cc0000000000000000c1"]
    choice = parsed.nodes["6501cc0000000000000000c2"]
    assert welcome_text["says"] == ["Hi there! Welcome to the pizzeria."]
    assert choice["kind"] == "choice"
    assert choice["offers"] == ["order_pizza", "book_table"]


def test_compiled_program_lines_the_canvas_does_not_list_are_kept_by_kind():
    parsed = parse_project_file(fixture_document())

    assert parsed.nodes["6501ee0000000000000000e1"]["says"] == ["Compiled only"]


@pytest.mark.parametrize(
    "document, message",
    [
        ([1, 2], "not a JSON object"),
        ({"project": {}}, "no “version” and “diagrams”"),
        ({"version": {}, "diagrams": {}}, "version has no _id"),
    ],
)
def test_it_refuses_what_is_not_a_project_file_with_a_plain_message(document, message):
    with pytest.raises(ProjectFileError, match=message):
        parse_project_file(document)


# ---- the sandbox's Project API ----


def test_the_sandbox_exports_a_project_file_naming_every_frame_its_agent_builds(
    sandbox, sandbox_project
):
    state = talk(sandbox, sandbox_project, "flow-map-user", "I want a pizza")
    with httpx.Client(base_url=sandbox.url, timeout=30) as http:
        answer = http.get(
            "/v2/versions/development/export",
            headers={"Authorization": sandbox_project["api_key"]},
        )
    assert answer.status_code == 200
    document = answer.json()
    assert document["version"]["_id"] == sandbox_project["versions"]["development"]
    assert document["project"]["_id"] == sandbox_project["project_id"]
    parsed = parse_project_file(document)

    frames = [frame for frame in state["stack"] if not (frame.get("storage") or {}).get("isBase")]
    assert [parsed.flows[frame["diagramID"]] for frame in frames] == ["ROOT", "Order pizza"]
    current = parsed.nodes[frames[-1]["nodeID"]]
    assert (current["block"], current["kind"]) == ("Ask size", "choice")
    assert current["offers"] == ["Small", "Medium", "Large"]
    assert current["says"] == [
        "What size would you like: small (10″), medium (12″) or large (14″)?"
    ]


def test_the_sandbox_export_needs_the_key_and_a_known_version(sandbox, sandbox_project):
    with httpx.Client(base_url=sandbox.url, timeout=30) as http:
        keyless = http.get("/v2/versions/development/export")
        unknown = http.get(
            "/v2/versions/0123456789abcdef01234567/export",
            headers={"Authorization": sandbox_project["api_key"]},
        )
        by_id = http.get(
            f"/v2/versions/{sandbox_project['versions']['production']}/export",
            headers={"Authorization": sandbox_project["api_key"]},
        )

    assert keyless.status_code == 401
    assert unknown.status_code == 404
    assert by_id.json()["version"]["_id"] == sandbox_project["versions"]["production"]


# ---- the inspector ----


def test_the_inspector_names_the_stack_once_the_worker_fetched_the_map(
    client_for_user, celery_worker, sandbox, sandbox_project, environment, support
):
    talk(sandbox, sandbox_project, "named-user", "I want a pizza")
    client = client_for_user(support)

    first = text_of(client.get(inspect_url(environment, "named-user")))
    assert "are being fetched" in first
    wait_for(
        lambda: FlowMap.objects.filter(
            project=environment.project, status=FlowMap.Status.READY
        ).exists(),
        what="the flow map",
    )
    page = text_of(client.get(inspect_url(environment, "named-user")))

    assert "Order pizza › Ask size · choice" in page
    assert "What size would you like" in page
    assert "Small Medium Large" in page
    assert "Names from version" in page


def test_a_fetch_that_fails_is_shown_and_the_page_still_renders(
    client_for_user, celery_worker, sandbox, sandbox_project, environment, support
):
    unknown_version = "0123456789abcdef01234567"
    base = {
        "nodeID": None,
        "diagramID": unknown_version,
        "storage": {"isBase": True},
        "commands": [],
        "variables": {},
    }
    sandbox.set_state(sandbox_project["project_id"], "failing-map-user", _state_with([base]))
    client = client_for_user(support)

    client.get(inspect_url(environment, "failing-map-user"))
    row = wait_for(
        lambda: FlowMap.objects.filter(
            project=environment.project, status=FlowMap.Status.FAILED
        ).first(),
        what="the failed fetch",
    )
    page = text_of(client.get(inspect_url(environment, "failing-map-user")))

    assert row.version_key == unknown_version
    assert "Voiceflow cannot find" in row.error
    assert "Fetching the project file failed" in page
    assert "Stack" in page


def _state_with(frames: list[dict]) -> dict:
    return {"stack": frames, "storage": {}, "variables": {}}


def test_frames_the_loaded_version_does_not_know_show_their_ids_marked_unknown(
    client_for_user, sandbox, environment, support, settings
):
    settings.FLOW_MAP_FETCH = False
    store_project_file(
        environment.project_id,
        "development",
        parse_project_file(fixture_document()),
        source=FlowMap.Source.UPLOAD,
    )
    state = _state_with(
        [
            {"diagramID": PIZZA_FLOW, "nodeID": ASK_SIZE_BUTTONS, "storage": {}, "variables": {}},
            {
                "diagramID": "aaaaaaaaaaaaaaaaaaaaaaaa",
                "nodeID": "bbbbbbbbbbbbbbbbbbbbbbbb",
                "storage": {},
                "variables": {},
            },
        ]
    )
    sandbox.set_state(environment.project.voiceflow_project_id, "odd-user", state)

    page = text_of(client_for_user(support).get(inspect_url(environment, "odd-user")))

    assert "Order pizza › Ask size · buttons" in page
    assert (
        "Flow aaaaaaaaaaaaaaaaaaaaaaaa is unknown to the loaded version "
        "(64f1a2b3c4d5e6f708192a3c)" in page
    )
    assert "Block bbbbbbbbbbbbbbbbbbbbbbbb is unknown to the loaded version" in page


def test_the_version_in_the_base_frame_picks_the_map(environment, settings):
    settings.FLOW_MAP_FETCH = False
    parsed = parse_project_file(fixture_document())
    store_project_file(environment.project_id, parsed.version_id, parsed, source="upload")
    other = copy.deepcopy(fixture_document())
    other["version"]["_id"] = "99f1a2b3c4d5e6f708192a3c"
    other["diagrams"][PIZZA_FLOW]["name"] = "Order pizza (new)"
    store_project_file(
        environment.project_id,
        "99f1a2b3c4d5e6f708192a3c",
        parse_project_file(other),
        source="upload",
    )
    base = {
        "nodeID": None,
        "diagramID": parsed.version_id,
        "storage": {"isBase": True},
        "commands": [],
        "variables": {},
    }

    loaded = flow_map_for(environment, _state_with([base]))

    assert loaded.version_key == parsed.version_id
    assert loaded.flows[PIZZA_FLOW] == "Order pizza"


def _map_row(
    environment, version_key: str, flow_name: str, *, status=FlowMap.Status.READY, **fields
):
    return FlowMap.objects.create(
        project=environment.project,
        version_key=version_key,
        status=status,
        flows={"flows": {PIZZA_FLOW: flow_name}, "nodes": {}},
        loaded_at=timezone.now() if status == FlowMap.Status.READY else None,
        **fields,
    )


def _base_frame(version_id: str) -> dict:
    return {"nodeID": None, "diagramID": version_id, "storage": {"isBase": True}, "variables": {}}


def test_a_version_still_being_fetched_is_named_by_the_newest_loaded_map_in_one_query(
    environment, settings, django_assert_num_queries
):
    settings.FLOW_MAP_FETCH = False
    older = _map_row(environment, "11f1a2b3c4d5e6f708192a3c", "Order pizza (old)")
    FlowMap.objects.filter(pk=older.pk).update(loaded_at=timezone.now() - timedelta(days=1))
    _map_row(environment, "22f1a2b3c4d5e6f708192a3c", "Order pizza (newest)")
    _map_row(environment, "33f1a2b3c4d5e6f708192a3c", "", status=FlowMap.Status.PENDING)
    state = _state_with([_base_frame("33f1a2b3c4d5e6f708192a3c")])
    flow_map_for(environment, state)  # the names are parsed once per process

    with django_assert_num_queries(1):
        loaded = flow_map_for(environment, state)

    assert loaded.pending and loaded.other_version
    assert loaded.flows[PIZZA_FLOW] == "Order pizza (newest)"
    assert loaded.version_label == "22f1a2b3c4d5e6f708192a3c"


def test_a_map_kept_under_an_alias_names_the_version_it_was_loaded_for(environment, settings):
    settings.FLOW_MAP_FETCH = False
    _map_row(environment, "development", "Order pizza", version_id="44f1a2b3c4d5e6f708192a3c")
    _map_row(environment, "55f1a2b3c4d5e6f708192a3c", "Order pizza (newer version)")

    loaded = flow_map_for(environment, _state_with([_base_frame("44f1a2b3c4d5e6f708192a3c")]))

    assert not loaded.pending and not loaded.other_version
    assert loaded.flows[PIZZA_FLOW] == "Order pizza"
    assert loaded.row.version_key == "development"


def test_a_failed_fetch_is_reported_while_another_version_names_the_flows(environment, settings):
    settings.FLOW_MAP_FETCH = False
    _map_row(environment, "66f1a2b3c4d5e6f708192a3c", "Order pizza")
    _map_row(
        environment,
        "77f1a2b3c4d5e6f708192a3c",
        "",
        status=FlowMap.Status.FAILED,
        error="Voiceflow cannot find this version",
    )

    loaded = flow_map_for(environment, _state_with([_base_frame("77f1a2b3c4d5e6f708192a3c")]))

    assert loaded.error == "Voiceflow cannot find this version" and loaded.other_version
    assert loaded.flows[PIZZA_FLOW] == "Order pizza"


def test_a_page_without_a_map_queues_one_fetch_and_does_not_wait(
    client_for_user, sandbox, sandbox_project, environment, support
):
    talk(sandbox, sandbox_project, "waiting-user")
    client = client_for_user(support)

    for _ in range(2):
        page = text_of(client.get(inspect_url(environment, "waiting-user")))
        assert "are being fetched" in page

    assert FlowMap.objects.filter(project=environment.project).count() == 1


# ---- uploading a .vf on the project page ----


def _upload(client, project, content: bytes, name: str = "agent.vf"):
    upload = io.BytesIO(content)
    upload.name = name
    return client.post(
        reverse("project_flow_map_upload", args=[project.pk]), {"project_file": upload}
    )


def test_an_admin_uploads_a_vf_file_and_the_change_is_audited(client_for_user, project, admin_user):
    project.voiceflow_project_id = "64f1a2b3c4d5e6f708192a3b"
    project.save()
    client = client_for_user(admin_user)

    answer = _upload(client, project, json.dumps(fixture_document()).encode())

    assert answer.status_code == 302
    row = FlowMap.objects.get(project=project, version_key="64f1a2b3c4d5e6f708192a3c")
    assert (row.status, row.source, row.flow_count) == ("ready", "upload", 2)
    assert row.uploaded_by == admin_user
    entry = AuditEntry.objects.get(project=project, action=AuditEntry.Action.PROJECT_CHANGED)
    assert entry.request_sent["flow_map_uploaded"]["version_id"] == "64f1a2b3c4d5e6f708192a3c"
    page = text_of(client.get(reverse("project_edit", args=[project.pk])))
    assert "Uploaded .vf file" in page


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "not valid JSON (line 1, column 2"),
        (b"\xff\xfe\x00", "not text (UTF-8)"),
        (b'{"hello": 1}', "no “version” and “diagrams”"),
    ],
)
def test_a_bad_upload_says_why_and_changes_nothing(
    client_for_user, project, admin_user, content, message
):
    answer = _upload(client_for_user(admin_user), project, content)

    assert answer.status_code == 400
    assert message in text_of(answer)
    assert not FlowMap.objects.exists()


def test_a_project_file_of_another_project_is_refused(client_for_user, project, admin_user):
    answer = _upload(client_for_user(admin_user), project, json.dumps(fixture_document()).encode())

    assert answer.status_code == 400
    assert "not of this project" in text_of(answer)
    assert not FlowMap.objects.exists()


# ---- the demo: names from its first start ----


@pytest.mark.worker
def test_the_demo_project_has_its_flow_names_from_its_first_start(
    own_sandbox, celery_worker, settings, var_dir
):
    settings.SANDBOX_URL = own_sandbox.url
    # The first two fetches find no sandbox, as when the worker is up before it.
    own_sandbox.knobs(
        api_key=DEMO_API_KEY,
        failures={"mode": "drop", "routes": ["project.export"], "count": 2},
    )

    bootstrap()

    rows = wait_for(
        lambda: (
            list(FlowMap.objects.filter(status=FlowMap.Status.READY))
            if FlowMap.objects.filter(status=FlowMap.Status.READY).count() >= 4
            else None
        ),
        what="both demo environments' flow maps (by alias and by version)",
    )
    names = {row.version_key: row.flows["flows"].get(agent.PIZZA.diagram_id) for row in rows}
    assert set(names) == {"development", "production", *DEMO_VERSIONS.values()}
    assert set(names.values()) == {"Order pizza"}
    assert own_sandbox.stats(DEMO_API_KEY)["injected_failures"] == 2


def test_the_known_sessions_list_names_the_current_flow(
    client_for_user, sandbox, environment, support, settings
):
    from sessions_app.known_sessions import note_session

    settings.FLOW_MAP_FETCH = False
    store_project_file(
        environment.project_id,
        "development",
        parse_project_file(fixture_document()),
        source=FlowMap.Source.UPLOAD,
    )
    frame = {"diagramID": PIZZA_FLOW, "nodeID": ASK_SIZE_BUTTONS, "storage": {}, "variables": {}}
    note_session(environment, "indexed-user", _state_with([frame]))

    page = text_of(client_for_user(support).get(reverse("home")))

    assert "indexed-user" in page
    assert "Order pizza (depth 1)" in page


def test_a_recorded_real_state_keeps_its_base_frame_unnamed_and_marks_what_is_unknown(
    environment, settings
):
    from sessions_app.flows.display import named_stack
    from sessions_app.inspector.display import stack_view

    settings.FLOW_MAP_FETCH = False
    state = json.loads(REAL_MID_FLOW_CASE["response"]["body"])
    store_project_file(
        environment.project_id,
        "development",
        parse_project_file(fixture_document()),
        source=FlowMap.Source.UPLOAD,
    )
    view = stack_view(state["stack"])

    loaded = named_stack(environment, state, view)

    assert loaded.version_key == "66b0f00d0000000000000001"  # the base frame's versionID
    assert loaded.other_version
    base, flow = view.frames
    assert base.place is None
    assert flow.place.flow_unknown and flow.place.node_unknown
    assert flow.title == "66b0f00d0000000000000003"


# "GET mid-flow state" as recorded from Voiceflow's open-source runtime (the development
# workspace's real-runtime/observed.json): a base frame, then the flow the user is in.
REAL_MID_FLOW_CASE = {
    "name": "GET mid-flow state",
    "response": {
        "status": 200,
        "body": json.dumps(
            {
                "stack": [
                    {
                        "nodeID": None,
                        "diagramID": "66b0f00d0000000000000001",
                        "storage": {"isBase": True},
                        "commands": [],
                        "variables": {},
                    },
                    {
                        "nodeID": "wait",
                        "diagramID": "66b0f00d0000000000000003",
                        "storage": {"output": "Welcome to the offline peer, World."},
                        "commands": [],
                        "variables": {"last_response": "Welcome to the offline peer, World."},
                    },
                ],
                "storage": {},
                "variables": {"name": "World", "counter": 1},
            }
        ),
    },
}


def test_fetch_again_replaces_an_old_map_with_the_published_one(
    client_for_user, celery_worker, sandbox, sandbox_project, environment, admin_user
):
    old = copy.deepcopy(fixture_document())
    old["version"]["_id"] = sandbox_project["versions"]["development"]
    store_project_file(
        environment.project_id, "development", parse_project_file(old), source=FlowMap.Source.API
    )
    client = client_for_user(admin_user)

    answer = client.post(reverse("project_flow_map_refresh", args=[environment.project_id]))

    assert answer.status_code == 302
    wait_for(
        lambda: (
            "Order pizza"
            in FlowMap.objects.get(project=environment.project, version_key="development")
            .flows["flows"]
            .get(agent.PIZZA.diagram_id, "")
        ),
        what="the map fetched again",
    )
