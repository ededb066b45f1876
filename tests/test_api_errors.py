"""Every failure answers in the one error shape, with the documented code and status."""

import pytest
from api_support import error_of, token_client
from rest_framework.test import APIClient

from sessions_app.models import AuditEntry, Environment


def state_url(environment, user: str = "someone") -> str:
    return f"/api/v1/environments/{environment.pk}/sessions/state?user={user}"


def break_project(sandbox, environment, **failure) -> None:
    sandbox.knobs(api_key=environment.project.api_key, failures=failure)


def test_voiceflow_failing_is_an_upstream_error(clean_knobs, environment, viewer):
    break_project(clean_knobs, environment, mode="5xx", status=503)

    response = token_client(viewer).get(state_url(environment))

    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_error"


def test_refused_credentials_are_upstream_unauthorized(clean_knobs, environment, viewer):
    break_project(clean_knobs, environment, mode="5xx", status=401)

    response = token_client(viewer).get(state_url(environment))

    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_unauthorized"


def test_a_wrong_api_key_is_upstream_unauthorized(sandbox, environment, viewer):
    project = environment.project
    project.api_key = "VF.DM.000000000000000000000000.wrongwrongwrongwrong"
    project.save()

    response = token_client(viewer).get(state_url(environment))

    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_unauthorized"
    assert "wrongwrong" not in response.content.decode()


def test_voiceflow_rate_limiting_is_passed_on_with_retry_after(clean_knobs, environment, viewer):
    clean_knobs.knobs(api_key=environment.project.api_key, budget_per_minute=1)
    client = token_client(viewer)
    client.get(state_url(environment))

    response = client.get(state_url(environment))

    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "upstream_rate_limited"
    assert error["retry_after"] >= 1
    assert response["Retry-After"] == str(error["retry_after"])


def test_voiceflow_not_answering_is_upstream_timeout(clean_knobs, environment, viewer, settings):
    settings.VOICEFLOW_TIMEOUT_S = 0.5
    break_project(clean_knobs, environment, mode="timeout", hold_seconds=3)

    response = token_client(viewer).get(state_url(environment))

    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"


def test_an_unpublished_version_is_upstream_unknown_environment(sandbox, viewer):
    from sessions_app.models import Project

    registration = sandbox.register_project(production_published=False)
    project = Project.objects.create(
        name=registration["name"],
        voiceflow_project_id=registration["project_id"],
        api_key=registration["api_key"],
        runtime_url=sandbox.url,
        budget_per_minute=100_000,
    )
    production = Environment.objects.create(
        project=project, label="Production", version_id="production"
    )

    response = token_client(viewer).get(state_url(production))

    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_unknown_environment"


def test_a_failed_write_is_on_record_and_answered_in_the_error_shape(
    clean_knobs, environment, support
):
    clean_knobs.knobs(
        api_key=environment.project.api_key,
        failures={"mode": "5xx", "status": 500, "routes": ["state.patch"]},
    )

    response = token_client(support).patch(
        f"/api/v1/environments/{environment.pk}/sessions/state/variables?user=u1",
        {"a": 1},
        format="json",
    )

    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_error"
    entry = AuditEntry.objects.get(user_id="u1")
    assert (entry.outcome, entry.source, entry.upstream_status) == ("failed", "api", 500)


def test_an_unknown_endpoint_is_a_json_404(db, viewer):
    response = token_client(viewer).get("/api/v1/no/such/thing")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_wrong_method_is_405_in_the_error_shape(environment, viewer):
    response = token_client(viewer).post(f"/api/v1/environments/{environment.pk}/known-sessions")

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_malformed_json_is_a_validation_error(environment, support):
    response = token_client(support).generic(
        "PATCH",
        f"/api/v1/environments/{environment.pk}/sessions/state/variables?user=u",
        "{not json",
        content_type="application/json",
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"


@pytest.mark.parametrize("path", ["/api/v1/projects", "/api/v1/audit", "/api/v1/tokens"])
def test_anonymous_callers_get_401_everywhere(db, path):
    response = APIClient().get(path)

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/environments?project=", "/api/v1/jobs?environment=", "/api/v1/audit?environment="],
)
@pytest.mark.parametrize("value", ["abc", "99999999999999999999999", "-1"])
def test_an_id_filter_that_is_not_an_id_is_a_validation_error(db, admin_user, path, value):
    response = token_client(admin_user).get(path + value)

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"


@pytest.mark.production_path
@pytest.mark.parametrize(
    "path",
    ["/api/v1/%0A", "/api/v1/jobs/%0A", "/api/v1/%0D%0Ax", "/api/v2/jobs", "/api/", "/api"],
)
def test_an_unroutable_api_path_is_a_json_404(db, viewer, path):
    response = token_client(viewer).get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "not_found"
