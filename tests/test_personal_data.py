"""Values of the variables named in PERSONAL_DATA_VARIABLES are hidden from roles without
`see_personal_data` (Viewer, Support) on every surface that shows values; Ops and Admin see them."""

import hashlib
import json

import pytest
from api_support import token_client
from bulk_support import preload_for_users
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from sessions_app import actions
from sessions_app.console.traces import buttons
from sessions_app.models import AuditEntry
from sessions_app.personal_data import MASK, mask_traces
from sessions_app.roles import ensure_roles

USER = "caller-42"
EMAIL = "alice.private@example.org"
PHONE = "+41 79 555 01 23"
STATE = {
    "stack": [
        {
            "programID": "66b0c2aa0123456789abcdef",
            "nodeID": "node-1",
            "variables": {"Email": EMAIL},
            "storage": {},
            "commands": [],
        }
    ],
    "storage": {},
    "variables": {"email": EMAIL, "phone": PHONE, "pizza_size": "large"},
}


@pytest.fixture
def caller(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, STATE)
    return USER


@pytest.fixture
def written(caller, environment, ops):
    """An audited write that changed the phone number (before and after hold personal data)."""
    return actions.do_set_variables(
        environment,
        caller,
        {"phone": "+41 79 555 99 99"},
        context=actions.WriteContext(actor=ops, source="page"),
    )


def set_variable(client, sandbox, environment, name, value):
    stored = sandbox.state(environment.project.voiceflow_project_id, USER)
    return client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": USER,
            "based_on": actions.fingerprint(stored),
            "name": name,
            "kind": "string",
            "value": value,
        },
    )


def inspect(client, environment):
    return client.get(reverse("session_inspect", args=[environment.pk]), {"user": USER})


def assert_hidden(text: str) -> None:
    assert EMAIL not in text
    assert PHONE not in text
    assert "+41 79 555 99 99" not in text
    assert "large" in text or MASK in text


# ---- pages ----


def test_the_inspector_hides_personal_values_from_a_viewer(viewer_client, environment, caller):
    page = inspect(viewer_client, environment).content.decode()

    assert_hidden(page)
    assert MASK in page
    assert "large" in page  # other variables are shown as usual


def test_ops_see_personal_values(ops_client, environment, caller):
    page = inspect(ops_client, environment).content.decode()

    assert EMAIL in page
    assert PHONE in page


def test_the_history_timeline_hides_them(viewer_client, environment, written):
    assert_hidden(inspect(viewer_client, environment).content.decode())


def test_the_watch_refresh_hides_them(viewer_client, environment, caller):
    response = viewer_client.get(reverse("session_watch", args=[environment.pk]), {"user": USER})

    assert_hidden(response.content.decode())


def test_the_download_hides_them(viewer_client, environment, caller):
    response = viewer_client.get(reverse("session_download", args=[environment.pk]), {"user": USER})

    downloaded = json.loads(response.content)
    assert downloaded["variables"] == {"email": MASK, "phone": MASK, "pizza_size": "large"}
    assert downloaded["stack"][0]["variables"] == {"Email": MASK}


def test_the_audit_entry_page_hides_them(viewer_client, written):
    page = viewer_client.get(reverse("audit_detail", args=[written.pk])).content.decode()

    assert_hidden(page)
    assert "phone" in page


def test_the_known_sessions_list_hides_them(viewer_client, environment, caller, ops_client):
    inspect(ops_client, environment)  # the session is now known, with its variables

    page = viewer_client.get(reverse("home"), {"environment": environment.pk}).content.decode()

    assert USER in page
    assert EMAIL not in page


def test_the_find_by_activity_list_hides_them(viewer_client, environment, caller, ops_client):
    inspect(ops_client, environment)

    page = viewer_client.get(reverse("find_by_activity"), {"environment": environment.pk})

    assert page.status_code == 200
    assert EMAIL not in page.content.decode()


def test_searching_by_a_hidden_value_finds_nothing_for_a_viewer(
    viewer_client, viewer, ops, ops_client, environment, caller
):
    inspect(ops_client, environment)
    home = reverse("home")
    api = f"/api/v1/environments/{environment.pk}/known-sessions"

    def found(client, value: str) -> bool:
        page = client.get(home, {"environment": environment.pk, "value": value})
        return USER in page.content.decode()

    assert not found(viewer_client, "alice.private")
    assert found(viewer_client, "large")  # other variables are searched as usual
    assert found(ops_client, "alice.private")
    assert token_client(viewer).get(api, {"variable": "alice.private"}).json()["results"] == []
    assert token_client(ops).get(api, {"variable": "alice.private"}).json()["results"]
    activity = viewer_client.get(
        reverse("find_by_activity"), {"environment": environment.pk, "value": "alice.private"}
    )
    assert USER not in activity.content.decode()


def test_the_console_state_panel_hides_them(support_client, environment, caller, support):
    entry, _ = actions.do_interact(
        environment,
        USER,
        {"type": "launch"},
        context=actions.WriteContext(actor=support, source="page"),
    )

    response = support_client.get(
        reverse("session_console_state", args=[environment.pk]),
        {"user": USER, "entry": entry.pk},
    )

    assert response.status_code == 200
    assert EMAIL not in response.content.decode()


def test_a_support_user_may_set_a_hidden_variable_without_seeing_it(
    support_client, support, environment, caller, sandbox
):
    response = set_variable(support_client, sandbox, environment, "phone", "+41 79 000 00 00")

    assert response.status_code == 302

    stored = sandbox.state(environment.project.voiceflow_project_id, USER)
    assert stored["variables"]["phone"] == "+41 79 000 00 00"
    inspect(support_client, environment)  # shows, once, the message repeating what they typed
    assert "+41 79 000 00 00" not in inspect(support_client, environment).content.decode()


def test_sending_the_mask_back_as_a_value_is_refused(support_client, environment, caller, sandbox):
    response = set_variable(support_client, sandbox, environment, "phone", MASK)

    assert response.status_code == 400
    assert "hidden from your role" in response.content.decode()
    stored = sandbox.state(environment.project.voiceflow_project_id, USER)
    assert stored["variables"]["phone"] == PHONE


def test_the_names_are_a_setting(viewer_client, environment, caller, settings):
    settings.PERSONAL_DATA_VARIABLES = ["pizza_*"]

    page = inspect(viewer_client, environment).content.decode()

    assert "large" not in page
    # Values shaped like an email address or a phone number stay hidden whatever their name.
    assert EMAIL not in page
    assert PHONE not in page


# ---- the API ----


def test_the_state_api_hides_them_but_keeps_the_real_etag(viewer, ops, environment, caller):
    path = f"/api/v1/environments/{environment.pk}/sessions/state"
    as_viewer = token_client(viewer).get(path, {"user": USER}).json()
    as_ops = token_client(ops).get(path, {"user": USER}).json()

    assert as_viewer["state"]["variables"]["email"] == MASK
    assert as_ops["state"]["variables"]["email"] == EMAIL
    assert as_viewer["etag"] == as_ops["etag"]


@pytest.mark.production_path
def test_the_etag_does_not_let_a_masked_reader_check_a_guess(viewer, environment, caller, settings):
    path = f"/api/v1/environments/{environment.pk}/sessions/state"
    answer = token_client(viewer).get(path, {"user": USER})
    etag = answer["ETag"].strip('"')
    masked = answer.json()["state"]

    # The reader guesses the hidden values right; an unkeyed digest of the guess would match.
    guess = json.loads(json.dumps(masked))
    guess["variables"].update({"email": EMAIL, "phone": PHONE})
    guess["stack"][0]["variables"]["Email"] = EMAIL
    canonical = json.dumps(guess, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    unkeyed = hashlib.sha256(canonical.encode()).hexdigest()
    assert etag not in unkeyed
    # Keyed with the server's secret: another secret gives another ETag for the same state.
    settings.SECRET_KEY = "another-secret-" + "x" * 40
    assert token_client(viewer).get(path, {"user": USER})["ETag"].strip('"') != etag


def test_a_masked_reader_can_still_write_with_the_etag(support, environment, caller, sandbox):
    client = token_client(support)
    path = f"/api/v1/environments/{environment.pk}/sessions/state"
    etag = client.get(path, {"user": USER})["ETag"]

    response = client.patch(
        f"{path}/variables?user={USER}",
        {"pizza_size": "small"},
        format="json",
        HTTP_IF_MATCH=etag,
    )

    assert response.status_code == 200, response.content
    assert response.json()["state"]["variables"]["phone"] == MASK
    stored = sandbox.state(environment.project.voiceflow_project_id, USER)
    assert stored["variables"]["phone"] == PHONE


def test_the_audit_api_hides_them(viewer, written):
    listed = token_client(viewer).get("/api/v1/audit").content.decode()
    detail = token_client(viewer).get(f"/api/v1/audit/{written.pk}").json()

    assert PHONE not in listed
    assert detail["state_before"]["variables"]["phone"] == MASK
    assert "+41 79 555 99 99" not in json.dumps(detail)
    assert detail["request_sent"]["body"]["phone"] == MASK


def test_the_known_sessions_api_hides_them(viewer, ops_client, environment, caller):
    inspect(ops_client, environment)

    listed = token_client(viewer).get(f"/api/v1/environments/{environment.pk}/known-sessions")

    assert listed.json()["results"][0]["variables_snapshot"]["email"] == MASK


# ---- bulk jobs: a custom role that runs jobs without seeing personal data ----


@pytest.fixture
def bulk_runner(db):
    from django.contrib.auth import get_user_model
    from persona_support import PASSWORD

    ensure_roles()
    group = Group.objects.create(name="Bulk runner")
    group.permissions.set(
        Permission.objects.filter(codename__in=["inspect_session", "run_bulk_jobs"])
    )
    user = get_user_model().objects.create_user("bea-bulk", password=PASSWORD)
    user.groups.add(group)
    return user


def test_the_dry_run_hides_them(client_for_user, bulk_runner, environment, caller):
    job = preload_for_users(environment, bulk_runner, [USER], {"email": "new@example.org"})

    page = client_for_user(bulk_runner).get(reverse("job_preview", args=[job.pk]))

    assert EMAIL not in page.content.decode()
    assert "new@example.org" not in page.content.decode()


def test_results_files_need_the_personal_data_permission(
    client_for_user, bulk_runner, environment, caller
):
    job = preload_for_users(environment, bulk_runner, [USER], {"email": "new@example.org"})

    page = client_for_user(bulk_runner).get(reverse("job_results", args=[job.pk]))
    api = token_client(bulk_runner).get(f"/api/v1/jobs/{job.pk}/results")

    assert page.status_code == 403
    assert api.status_code == 403


def test_every_builtin_role_that_runs_jobs_sees_personal_data(db):
    groups = ensure_roles()
    for group in groups.values():
        codenames = set(group.permissions.values_list("codename", flat=True))
        if "run_bulk_jobs" in codenames:
            assert "see_personal_data" in codenames


def test_audit_rows_keep_the_real_values(written):
    entry = AuditEntry.objects.get(pk=written.pk)

    assert entry.state_before["variables"]["phone"] == PHONE


def test_the_agents_answers_are_masked_text_by_text_by_the_states_hidden_values(support, ops):
    before = {"variables": {"customer_name": "Zed Quill", "customer_tier": "B2", "size": "large"}}
    after = {"variables": {"profile": '{"email_verified": "pending-7"}'}}
    traces = [
        {"type": "text", "payload": {"message": "Thanks, ZED QUILL. Your size is large."}},
        {
            "type": "choice",
            "payload": {
                "buttons": [
                    {"name": "Not Zed Quill?", "request": {"type": "path-1", "payload": {}}},
                    {"name": "Keep B2", "request": {"type": "path-2", "payload": {}}},
                ]
            },
        },
        {"type": "debug", "payload": {"message": "code PENDING-7 sent"}},
    ]

    shown = mask_traces(traces, support, (before, after))

    assert shown[0] == {"type": "text", "payload": {"message": MASK}}
    # A hidden value shorter than 3 characters hides nothing; the request's kind is kept.
    assert shown[1]["payload"]["buttons"] == [
        {"name": MASK, "request": {"type": "path-1", "payload": {}}},
        {"name": "Keep B2", "request": {"type": "path-2", "payload": {}}},
    ]
    assert shown[2]["payload"]["message"] == MASK
    assert traces[0]["payload"]["message"] == "Thanks, ZED QUILL. Your size is large."
    assert mask_traces(traces, ops, (before, after)) is traces


def test_a_button_whose_request_was_masked_is_shown_but_cannot_be_sent(support):
    before = {"variables": {"customer_name": "Zed Quill"}}
    choice = {
        "type": "choice",
        "payload": {
            "buttons": [
                {
                    "name": "That's me",
                    "request": {"type": "intent", "payload": {"query": "I am Zed Quill"}},
                },
                {"name": "Someone else", "request": {"type": "path-2", "payload": {}}},
            ]
        },
    }

    shown = buttons(mask_traces([choice], support, (before,))[0]["payload"]["buttons"])

    # Sending the masked request would put the mask into the conversation as the user's choice.
    assert shown[0]["withheld"] and shown[0]["request_json"] == ""
    assert not shown[1]["withheld"]
    assert shown[1]["request_json"] == '{"type":"path-2","payload":{}}'
