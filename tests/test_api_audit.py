"""The audit trail over the API: filters, one record, restore (with If-Match)."""

from datetime import timedelta

import pytest
from api_support import error_of, token_client

from sessions_app import actions
from sessions_app.models import AuditEntry

STATE = {"stack": [{"diagramID": "root"}], "storage": {}, "variables": {"plan": "basic"}}


@pytest.fixture
def written(sandbox, environment, support, ops):
    """Two writes on one user, by two people: a merge then a reset."""
    sandbox.set_state(environment.project.voiceflow_project_id, "u-1", STATE)
    merge = actions.do_set_variables(
        environment,
        "u-1",
        {"plan": "pro"},
        context=actions.WriteContext(actor=support, source="page"),
    )
    reset = actions.do_reset_session(
        environment, "u-1", context=actions.WriteContext(actor=ops, source="api")
    )
    return merge, reset


def test_it_lists_records_newest_first(written, viewer):
    response = token_client(viewer).get("/api/v1/audit")

    assert response.status_code == 200
    assert [row["action"] for row in response.json()["results"]] == ["reset", "set_variables"]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("actor=sam-support", ["set_variables"]),
        ("action=reset", ["reset"]),
        ("outcome=succeeded", ["reset", "set_variables"]),
        ("source=page", ["set_variables"]),
        ("user=u-1", ["reset", "set_variables"]),
        ("user=u-2", []),
    ],
)
def test_it_filters(written, viewer, query, expected):
    response = token_client(viewer).get(f"/api/v1/audit?{query}")

    assert [row["action"] for row in response.json()["results"]] == expected


def test_it_filters_by_environment_and_time(written, environment, production_environment, viewer):
    merge, _ = written
    client = token_client(viewer)
    since = (merge.created_at + timedelta(microseconds=1)).isoformat()

    assert client.get(f"/api/v1/audit?environment={environment.pk}").json()["count"] == 2
    assert client.get(f"/api/v1/audit?environment={production_environment.pk}").json()["count"] == 0
    assert [
        r["action"] for r in client.get("/api/v1/audit", {"since": since}).json()["results"]
    ] == ["reset"]
    assert [
        r["action"] for r in client.get("/api/v1/audit", {"until": since}).json()["results"]
    ] == ["set_variables"]


@pytest.mark.parametrize("query", ["action=nonsense", "since=yesterday", "environment=abc"])
def test_a_bad_filter_is_a_validation_error(written, viewer, query):
    response = token_client(viewer).get(f"/api/v1/audit?{query}")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"


def test_it_reads_one_record_with_its_states(written, viewer):
    _, reset = written

    response = token_client(viewer).get(f"/api/v1/audit/{reset.pk}")

    assert response.status_code == 200
    body = response.json()
    assert (body["actor"], body["source"], body["user_id"]) == ("olga-ops", "api", "u-1")
    assert body["state_before"]["variables"] == {"plan": "pro"}


def test_it_restores_the_state_a_record_kept(sandbox, environment, written, ops):
    _, reset = written

    response = token_client(ops).post(f"/api/v1/audit/{reset.pk}/restore")

    assert response.status_code == 200, response.json()
    assert sandbox.state(environment.project.voiceflow_project_id, "u-1")["variables"] == {
        "plan": "pro"
    }
    restoration = AuditEntry.objects.get(pk=response.json()["audit_entry"])
    assert (restoration.action, restoration.source, restoration.restored_from) == (
        "restore",
        "api",
        reset,
    )
    assert response["ETag"] == f'"{response.json()["etag"]}"'


def test_a_restore_with_a_stale_if_match_is_refused(sandbox, environment, written, ops):
    _, reset = written

    response = token_client(ops).post(
        f"/api/v1/audit/{reset.pk}/restore", HTTP_IF_MATCH='"not-the-state"'
    )

    assert response.status_code == 412
    assert error_of(response)["code"] == "precondition_failed"
    assert sandbox.state(environment.project.voiceflow_project_id, "u-1") in (None, {})


def test_a_record_without_a_state_cannot_be_restored(project, admin_user, ops):
    from sessions_app.admin_actions import do_save_project

    project.budget_per_minute = 10
    (entry,) = do_save_project(project, actor=admin_user, source="page")

    response = token_client(ops).post(f"/api/v1/audit/{entry.pk}/restore")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"


@pytest.mark.parametrize("persona", ["outsider", "support"])
def test_restoring_needs_the_replace_state_permission(request, written, persona):
    _, reset = written

    response = token_client(request.getfixturevalue(persona)).post(
        f"/api/v1/audit/{reset.pk}/restore"
    )

    assert response.status_code == 403
    assert AuditEntry.objects.count() == 2


def test_reading_the_audit_needs_the_view_audit_permission(written, outsider):
    assert token_client(outsider).get("/api/v1/audit").status_code == 403


def test_an_unknown_record_is_404(db, viewer, ops):
    assert token_client(viewer).get("/api/v1/audit/987654").status_code == 404
    assert token_client(ops).post("/api/v1/audit/987654/restore").status_code == 404
