"""The API's list endpoints answer 400 to a query parameter they do not know, naming it and the
ones they take, rather than ignoring it and answering with everything; the audit list filters
by bulk job and by part of a userID."""

import pytest
from api_support import error_of, token_client
from inspector_support import ordering_state

from sessions_app.actions import WriteContext, do_set_variables
from sessions_app.models import AuditEntry, BulkJob

LISTS = {
    "audit": "/api/v1/audit",
    "jobs": "/api/v1/jobs",
    "projects": "/api/v1/projects",
    "environments": "/api/v1/environments",
    "tokens": "/api/v1/tokens",
    "known sessions": "/api/v1/environments/{environment}/known-sessions",
}


@pytest.mark.parametrize("name", list(LISTS))
def test_an_unknown_filter_is_refused_with_the_ones_the_list_takes(name, environment, admin_user):
    url = LISTS[name].format(environment=environment.pk)

    response = token_client(admin_user).get(url, {"jobb": "4", "limit": "5"})

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation"
    assert "Unknown query parameter: jobb." in error["message"]
    assert "limit, offset" in error["message"]
    assert error["details"] == {"jobb": ["Unknown query parameter."]}


@pytest.mark.parametrize("name", list(LISTS))
def test_the_pagination_parameters_are_always_accepted(name, environment, admin_user):
    url = LISTS[name].format(environment=environment.pk)

    response = token_client(admin_user).get(url, {"limit": "5", "offset": "0"})

    assert response.status_code == 200, response.content


@pytest.fixture
def entries(sandbox, environment, support, admin_user):
    project_id = environment.project.voiceflow_project_id
    for user_id in ("Maria.Rossi@example.com", "j.smith@example.org"):
        sandbox.set_state(project_id, user_id, ordering_state())
    job = BulkJob.objects.create(
        kind=BulkJob.Kind.PRELOAD, environment=environment, created_by=admin_user
    )
    do_set_variables(
        environment,
        "Maria.Rossi@example.com",
        {"a": 1},
        context=WriteContext(actor=None, source="bulk"),
    )
    AuditEntry.objects.filter(user_id="Maria.Rossi@example.com").update(job=job)
    do_set_variables(
        environment,
        "j.smith@example.org",
        {"a": 2},
        context=WriteContext(actor=support, source="page"),
    )
    return job


def test_the_audit_list_filters_by_job(entries, ops):
    response = token_client(ops).get("/api/v1/audit", {"job": entries.pk})

    assert [entry["user_id"] for entry in response.json()["results"]] == ["Maria.Rossi@example.com"]


def test_the_audit_list_filters_by_job_with_the_user_id_masked_for_a_viewer(entries, viewer):
    response = token_client(viewer).get("/api/v1/audit", {"job": entries.pk})

    assert [entry["user_id"] for entry in response.json()["results"]] == ["M•••@example.com"]


@pytest.mark.production_path
def test_the_audit_list_finds_part_of_a_user_id_in_any_case(entries, ops):
    response = token_client(ops).get("/api/v1/audit", {"user_contains": "MARIA"})

    assert [entry["user_id"] for entry in response.json()["results"]] == ["Maria.Rossi@example.com"]


def test_part_of_a_personal_user_id_finds_nothing_for_a_viewer_but_all_of_it_does(entries, viewer):
    client = token_client(viewer)

    for part in ("MARIA", "maria.rossi@", "@example.com", "Maria.Rossi@example.co"):
        response = client.get("/api/v1/audit", {"user_contains": part})
        assert response.json()["results"] == [], part
    whole = client.get("/api/v1/audit", {"user_contains": "maria.rossi@EXAMPLE.com"})
    assert [entry["user_id"] for entry in whole.json()["results"]] == ["M•••@example.com"]
