"""Who may do what on the inspector's pages: Viewer inspects and reads the audit trail, Support
also edits variables, Ops also replaces, resets and restores. A role without the right sees no
button and gets 403 on the URL; anonymous visitors are sent to sign in; writes are POST only."""

import pytest
from django.test import Client
from django.urls import reverse
from inspector_support import based_on, inspect_url, ordering_state

from sessions_app.models import AuditEntry

USER = "customer-42"
PERSONAS = ["outsider", "viewer", "support", "ops", "admin"]
# The lowest role each page needs; every role above it includes it.
NEEDS = {
    "inspect": "viewer",
    "watch": "viewer",
    "download": "viewer",
    "audit_list": "viewer",
    "audit_detail": "viewer",
    "set_variable": "support",
    "remove_variable": "support",
    "edit_state": "ops",
    "edit_state_send": "ops",
    "reset_page": "ops",
    "reset": "ops",
    "restore_page": "ops",
    "restore": "ops",
}


@pytest.fixture
def scene(sandbox, environment, ops):
    """A session with one audited change (by Ops: whoever edits variables may undo their own
    latest edit, tests/test_undo_link.py), so every page has something to act on."""
    from sessions_app.actions import WriteContext, do_set_variables

    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    entry = do_set_variables(
        environment, USER, {"plan": "gold"}, context=WriteContext(actor=ops, source="page")
    )
    return entry


def request_for(page: str, environment, entry) -> tuple[str, str, dict]:
    env = environment.pk
    state = entry.state_after
    user = {"user": USER}
    return {
        "inspect": ("get", reverse("session_inspect", args=[env]), user),
        "watch": ("get", reverse("session_watch", args=[env]), user),
        "download": ("get", reverse("session_download", args=[env]), user),
        "audit_list": ("get", reverse("audit_list"), {}),
        "audit_detail": ("get", reverse("audit_detail", args=[entry.pk]), {}),
        "set_variable": (
            "post",
            reverse("session_set_variable", args=[env]),
            {
                **user,
                "based_on": based_on(state),
                "name": "plan",
                "kind": "string",
                "value": "silver",
            },
        ),
        "remove_variable": (
            "post",
            reverse("session_remove_variable", args=[env]),
            {**user, "based_on": based_on(state), "name": "plan"},
        ),
        "edit_state": ("get", reverse("session_edit_state", args=[env]), user),
        "edit_state_send": (
            "post",
            reverse("session_edit_state", args=[env]),
            {
                **user,
                "based_on": based_on(state),
                "step": "send",
                "state_json": '{"stack": [], "storage": {}, "variables": {"plan": "new"}}',
            },
        ),
        "reset_page": ("get", reverse("session_reset", args=[env]), user),
        "reset": (
            "post",
            reverse("session_reset", args=[env]),
            {**user, "based_on": based_on(state), "confirm_user_id": USER},
        ),
        "restore_page": ("get", reverse("audit_restore", args=[entry.pk]), {}),
        "restore": (
            "post",
            reverse("audit_restore", args=[entry.pk]),
            {"based_on": based_on(state)},
        ),
    }[page]


def client_of(request, persona: str) -> Client:
    return request.getfixturevalue("admin_client_" if persona == "admin" else f"{persona}_client")


def allowed(persona: str, page: str) -> bool:
    return persona != "outsider" and PERSONAS.index(persona) >= PERSONAS.index(NEEDS[page])


@pytest.mark.parametrize("page", list(NEEDS))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_exactly_the_pages_it_may_use(
    request, scene, environment, sandbox, persona, page
):
    method, url, data = request_for(page, environment, scene)
    before = sandbox.state(environment.project.voiceflow_project_id, USER)

    response = getattr(client_of(request, persona), method)(url, data)

    if allowed(persona, page):
        assert response.status_code in (200, 302)
    else:
        assert response.status_code == 403
        assert sandbox.state(environment.project.voiceflow_project_id, USER) == before


@pytest.mark.parametrize("page", list(NEEDS))
def test_anonymous_visitors_are_sent_to_sign_in(scene, environment, page):
    method, url, data = request_for(page, environment, scene)

    response = getattr(Client(), method)(url, data)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_visitors_are_sent_to_sign_in_from_home(db):
    response = Client().get(reverse("home"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("page", ["set_variable", "remove_variable", "reset", "restore"])
def test_writes_answer_only_post(ops_client, scene, environment, page):
    _, url, data = request_for(page, environment, scene)

    if page in ("reset", "restore"):
        assert ops_client.put(url, data).status_code == 405
    else:
        assert ops_client.get(url, data).status_code == 405
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("persona", "visible", "hidden"),
    [
        (
            "viewer",
            ["Watch live", "Download .json", "History"],
            [
                "set-variable-form",
                ">Edit<",
                ">Remove<",
                "Edit whole state",
                "Reset…",
                "Restore this state",
            ],
        ),
        (
            "support",
            ["set-variable-form", ">Edit<", ">Remove<"],
            ["Edit whole state", "Reset…", "Restore this state"],
        ),
        (
            "ops",
            ["set-variable-form", ">Remove<", "Edit whole state", "Reset…", "Restore this state"],
            [],
        ),
    ],
)
def test_buttons_show_only_for_roles_that_may_use_them(
    request, scene, environment, persona, visible, hidden
):
    page = client_of(request, persona).get(inspect_url(environment, USER)).content.decode()

    for text in visible:
        assert text in page, text
    for text in hidden:
        assert text not in page, text


def test_the_audit_link_shows_only_to_roles_that_may_read_it(outsider_client, viewer_client, scene):
    assert reverse("audit_list") in viewer_client.get(reverse("home")).content.decode()
    assert reverse("audit_list") not in outsider_client.get(reverse("home")).content.decode()


def test_a_missing_environment_is_not_found(viewer_client, db):
    response = viewer_client.get(reverse("session_inspect", args=[999999]), {"user": USER})

    assert response.status_code == 404
