"""The session endpoints: read with an ETag, replace with If-Match, merge, reset, interact."""

import json
from urllib.parse import quote

import pytest
from api_support import error_of, etag_of, session_client, token_client

from sessions_app.actions import fingerprint
from sessions_app.models import AuditEntry

# Also run on PostgreSQL by `make test`.
pytestmark = pytest.mark.production_path

STATE = {
    "stack": [{"diagramID": "root", "nodeID": "start", "storage": {}, "variables": {}}],
    "storage": {"locale": "en-US"},
    "variables": {"plan": "basic", "name": "Ada"},
}
ODD_USER_IDS = ["a/b c?d#e%f&g=h", "üser 🍕 +1", "../state/user/x", "x" * 128]


def url(environment, *, user: str | None, tail: str = "state") -> str:
    base = f"/api/v1/environments/{environment.pk}/sessions/{tail}"
    return base if user is None else f"{base}?user={quote(user, safe='')}"


def remote(sandbox, environment, user_id: str) -> dict | None:
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


@pytest.fixture
def customer(sandbox, environment) -> str:
    sandbox.set_state(environment.project.voiceflow_project_id, "customer-1", STATE)
    return "customer-1"


# ---- reading ----


def test_it_reads_a_state_with_its_etag(sandbox, environment, customer, viewer):
    response = token_client(viewer).get(url(environment, user=customer))

    assert response.status_code == 200
    body = response.json()
    assert body["state"]["variables"] == STATE["variables"]
    assert body["user_id"] == customer
    assert body["environment"] == environment.pk
    assert response["ETag"] == etag_of(body["state"])
    assert body["etag"] == fingerprint(body["state"])


def test_it_reads_with_a_signed_in_session_too(sandbox, environment, customer, viewer):
    response = session_client(viewer).get(url(environment, user=customer))

    assert response.status_code == 200
    assert response.json()["state"]["variables"] == STATE["variables"]


def test_it_reads_an_empty_state_for_a_user_voiceflow_does_not_know(sandbox, environment, viewer):
    response = token_client(viewer).get(url(environment, user="nobody-yet"))

    assert response.status_code == 200
    assert response.json()["state"] == {}


def test_it_notes_every_read_session_in_the_index(sandbox, environment, customer, viewer):
    token_client(viewer).get(url(environment, user=customer))

    assert environment.known_sessions.filter(user_id=customer).exists()


@pytest.mark.parametrize("user_id", ODD_USER_IDS)
def test_it_addresses_userids_with_any_characters(sandbox, environment, support, user_id):
    client = token_client(support)

    patched = client.patch(
        url(environment, user=user_id, tail="state/variables"), {"k": 1}, format="json"
    )
    read = client.get(url(environment, user=user_id))

    assert patched.status_code == 200, patched.json()
    assert read.json()["user_id"] == user_id
    assert read.json()["state"]["variables"]["k"] == 1
    assert remote(sandbox, environment, user_id)["variables"]["k"] == 1


def test_it_requires_the_user_parameter(environment, viewer):
    response = token_client(viewer).get(url(environment, user=None))

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"
    assert "user" in error_of(response)["message"]


@pytest.mark.parametrize("user_id", ["x" * 14_337, "line\nbreak", ""])
def test_it_refuses_a_userid_voiceflow_would_refuse(sandbox, environment, support, user_id):
    response = token_client(support).patch(
        url(environment, user=user_id, tail="state/variables"), {"k": 1}, format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"
    assert not AuditEntry.objects.exists()


def test_it_answers_404_for_an_unknown_environment(db, viewer):
    response = token_client(viewer).get("/api/v1/environments/999999/sessions/state?user=u")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_it_refuses_anonymous_callers(environment):
    from rest_framework.test import APIClient

    response = APIClient().get(url(environment, user="u"))

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_it_refuses_a_revoked_or_made_up_token(environment):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    response = client.get(url(environment, user="u"))

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


# ---- replacing (PUT with If-Match) ----


def test_it_replaces_a_state_based_on_the_etag_read(sandbox, environment, customer, ops):
    client = token_client(ops)
    etag = client.get(url(environment, user=customer))["ETag"]
    new_state = {**STATE, "variables": {"plan": "pro"}}

    response = client.put(
        url(environment, user=customer), new_state, format="json", HTTP_IF_MATCH=etag
    )

    assert response.status_code == 200, response.json()
    assert remote(sandbox, environment, customer)["variables"] == {"plan": "pro"}
    assert response["ETag"] == etag_of(response.json()["state"])
    entry = AuditEntry.objects.get(pk=response.json()["audit_entry"])
    assert (entry.action, entry.outcome, entry.source) == ("replace_state", "succeeded", "api")
    assert entry.actor == ops
    assert entry.state_before["variables"] == STATE["variables"]


def test_it_drops_the_turn_key_a_read_may_carry(sandbox, environment, customer, ops):
    response = token_client(ops).put(
        url(environment, user=customer), {**STATE, "turn": {}}, format="json", HTTP_IF_MATCH="*"
    )

    assert response.status_code == 200, response.json()
    assert "turn" not in remote(sandbox, environment, customer)


def test_a_replacement_without_if_match_is_refused_with_428(sandbox, environment, customer, ops):
    response = token_client(ops).put(url(environment, user=customer), STATE, format="json")

    assert response.status_code == 428
    assert error_of(response)["code"] == "precondition_required"
    assert remote(sandbox, environment, customer) == STATE
    assert not AuditEntry.objects.exists()


def test_a_replacement_after_the_conversation_moved_is_refused_with_412(
    sandbox, environment, customer, ops
):
    client = token_client(ops)
    etag = client.get(url(environment, user=customer))["ETag"]
    moved = {**STATE, "variables": {"plan": "moved on"}}
    sandbox.set_state(environment.project.voiceflow_project_id, customer, moved)

    response = client.put(
        url(environment, user=customer),
        {**STATE, "variables": {"plan": "mine"}},
        format="json",
        HTTP_IF_MATCH=etag,
    )

    assert response.status_code == 412
    error = error_of(response)
    assert error["code"] == "precondition_failed"
    assert error["details"]["state"]["variables"] == {"plan": "moved on"}
    assert response["ETag"] == f'"{error["details"]["etag"]}"'
    assert remote(sandbox, environment, customer)["variables"] == {"plan": "moved on"}
    assert AuditEntry.objects.get(pk=error["details"]["audit_entry"]).outcome == "conflict"


def test_it_accepts_a_weak_etag_form(sandbox, environment, customer, ops):
    client = token_client(ops)
    etag = client.get(url(environment, user=customer))["ETag"]

    response = client.put(
        url(environment, user=customer), STATE, format="json", HTTP_IF_MATCH=f"W/{etag}"
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"stack": [], "storage": {}}, "missing variables"),
        ({"stack": [{}], "storage": {}, "variables": {}}, "diagramID"),
        ({**STATE, "extra": 1}, "extra"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_it_refuses_a_state_voiceflow_would_refuse(
    sandbox, environment, customer, ops, body, problem
):
    response = token_client(ops).put(
        url(environment, user=customer), body, format="json", HTTP_IF_MATCH="*"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"
    assert problem in error_of(response)["message"]
    assert remote(sandbox, environment, customer) == STATE


def test_a_state_too_large_for_voiceflow_is_an_upstream_validation_error(
    sandbox, environment, customer, ops
):
    huge = {**STATE, "variables": {"blob": "x" * 1_100_000}}

    response = token_client(ops).put(
        url(environment, user=customer), huge, format="json", HTTP_IF_MATCH="*"
    )

    assert response.status_code == 422
    assert error_of(response)["code"] == "upstream_validation"
    assert remote(sandbox, environment, customer) == STATE


# ---- merging variables (PATCH) ----


def test_it_merges_variables(sandbox, environment, customer, support):
    response = token_client(support).patch(
        url(environment, user=customer, tail="state/variables"), {"plan": "pro"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert remote(sandbox, environment, customer)["variables"] == {"plan": "pro", "name": "Ada"}
    assert response.json()["state"]["variables"] == {"plan": "pro", "name": "Ada"}
    assert AuditEntry.objects.get(pk=response.json()["audit_entry"]).action == "set_variables"


def test_a_merge_with_a_stale_if_match_is_refused(sandbox, environment, customer, support):
    client = token_client(support)
    etag = client.get(url(environment, user=customer))["ETag"]
    sandbox.set_state(
        environment.project.voiceflow_project_id, customer, {**STATE, "variables": {}}
    )

    response = client.patch(
        url(environment, user=customer, tail="state/variables"),
        {"plan": "pro"},
        format="json",
        HTTP_IF_MATCH=etag,
    )

    assert response.status_code == 412
    assert remote(sandbox, environment, customer)["variables"] == {}


def test_a_merge_with_a_current_if_match_goes_through(sandbox, environment, customer, support):
    client = token_client(support)
    etag = client.get(url(environment, user=customer))["ETag"]

    response = client.patch(
        url(environment, user=customer, tail="state/variables"),
        {"plan": "pro"},
        format="json",
        HTTP_IF_MATCH=etag,
    )

    assert response.status_code == 200


@pytest.mark.parametrize("body", [{}, ["plan"], "plan"])
def test_a_merge_needs_an_object_of_variables(sandbox, environment, customer, support, body):
    response = token_client(support).patch(
        url(environment, user=customer, tail="state/variables"), body, format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"
    assert remote(sandbox, environment, customer) == STATE


def test_a_session_caller_must_send_the_csrf_token_to_write(
    sandbox, environment, customer, support
):
    without = session_client(support, with_csrf=False).patch(
        url(environment, user=customer, tail="state/variables"), {"plan": "pro"}, format="json"
    )
    with_token = session_client(support).patch(
        url(environment, user=customer, tail="state/variables"), {"plan": "pro"}, format="json"
    )

    assert without.status_code == 403
    assert error_of(without)["code"] == "permission_denied"
    assert with_token.status_code == 200


# ---- resetting (DELETE) ----


def test_it_resets_a_session_and_keeps_the_state_before(sandbox, environment, customer, ops):
    response = token_client(ops).delete(url(environment, user=customer))

    assert response.status_code == 200
    assert remote(sandbox, environment, customer) in (None, {})
    entry = AuditEntry.objects.get(pk=response.json()["audit_entry"])
    assert (entry.action, entry.source) == ("reset", "api")
    assert entry.state_before == STATE


def test_a_reset_with_a_stale_if_match_is_refused(sandbox, environment, customer, ops):
    response = token_client(ops).delete(url(environment, user=customer), HTTP_IF_MATCH='"stale"')

    assert response.status_code == 412
    assert remote(sandbox, environment, customer) == STATE


# ---- interacting ----


def test_it_sends_a_turn_and_returns_the_traces(sandbox, environment, support):
    response = token_client(support).post(
        url(environment, user="talker", tail="interact"),
        {"action": {"type": "launch"}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert isinstance(body["traces"], list) and body["traces"]
    after = remote(sandbox, environment, "talker")
    assert body["etag"] == fingerprint(after)
    entry = AuditEntry.objects.get(pk=body["audit_entry"])
    assert (entry.action, entry.outcome, entry.source) == ("interact", "succeeded", "api")
    assert entry.request_sent["action"] == {"type": "launch"}
    assert entry.state_after == after


@pytest.mark.parametrize(
    "body", [{}, {"action": "launch"}, {"action": {"payload": 1}}, {"action": {"type": ""}}]
)
def test_it_refuses_an_action_without_a_type(sandbox, environment, support, body):
    response = token_client(support).post(
        url(environment, user="talker", tail="interact"), body, format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"
    assert not AuditEntry.objects.exists()


# ---- roles ----

ALLOWED = {
    ("GET", "state"): {"viewer", "support", "ops", "admin_user"},
    ("PATCH", "state/variables"): {"support", "ops", "admin_user"},
    ("POST", "interact"): {"support", "ops", "admin_user"},
    ("PUT", "state"): {"ops", "admin_user"},
    ("DELETE", "state"): {"ops", "admin_user"},
}
BODIES = {"PATCH": {"k": 1}, "POST": {"action": {"type": "launch"}}, "PUT": STATE}


@pytest.mark.parametrize("persona", ["outsider", "viewer", "support", "ops", "admin_user"])
@pytest.mark.parametrize("method, tail", list(ALLOWED))
def test_each_role_may_do_exactly_what_its_permissions_say(
    request, sandbox, environment, customer, persona, method, tail
):
    client = token_client(request.getfixturevalue(persona))

    response = client.generic(
        method,
        url(environment, user=customer, tail=tail),
        data=None if method in ("GET", "DELETE") else json.dumps(BODIES[method]),
        content_type="application/json",
        HTTP_IF_MATCH="*",
    )

    if persona in ALLOWED[(method, tail)]:
        assert response.status_code == 200, response.json()
    else:
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"
        assert remote(sandbox, environment, customer) == STATE


@pytest.mark.parametrize(
    "method, tail, body, expected",
    [
        ("patch", "state/variables", {"note": "a\x00b"}, {**STATE["variables"], "note": "a\x00b"}),
        ("put", "state", {**STATE, "variables": {"a\x00": 1}}, {"a\x00": 1}),
    ],
)
def test_it_accepts_nul_characters_and_keeps_them_in_the_audit_trail(
    sandbox, environment, customer, ops, method, tail, body, expected
):
    """Voiceflow holds NUL characters, so they are written, and stored losslessly on record."""
    response = getattr(token_client(ops), method)(
        url(environment, user=customer, tail=tail), body, format="json", HTTP_IF_MATCH="*"
    )

    assert response.status_code == 200, response.json()
    assert remote(sandbox, environment, customer)["variables"] == expected
    entry = AuditEntry.objects.get()
    entry.refresh_from_db()
    assert entry.state_after["variables"] == expected
    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
