"""The OpenAPI schema describes what the API does; the docs page works offline under the CSP."""

import pytest
import yaml
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient


@pytest.fixture
def schema(viewer) -> dict:
    client = APIClient()
    client.force_authenticate(viewer)
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_the_schema_is_valid_openapi_3(schema):
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_every_operation_documents_the_error_shape(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {
                code: body
                for code, body in operation["responses"].items()
                if code.startswith(("4", "5"))
            }
            assert errors, f"{method.upper()} {path} documents no error"
            for body in errors.values():
                assert body["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def test_the_session_operations_document_the_user_parameter_and_etags(schema):
    state = schema["paths"]["/api/v1/environments/{environment_id}/sessions/state"]
    put = state["put"]
    parameters = {p["name"]: p for p in put["parameters"]}

    assert parameters["user"]["in"] == "query" and parameters["user"]["required"] is True
    assert "%2F" in parameters["user"]["description"]
    assert parameters["If-Match"]["in"] == "header" and parameters["If-Match"]["required"] is True
    assert {"412", "428"} <= set(put["responses"])
    assert "ETag" in state["get"]["responses"]["200"]["headers"]


def test_tokens_are_a_documented_security_scheme(schema):
    assert schema["components"]["securitySchemes"]["knoxApiToken"]["type"] == "apiKey"


@pytest.mark.browser
def test_the_docs_page_renders_from_local_files_under_the_csp(page, live_server, viewer):
    from browser_support import sign_in

    sign_in(page, viewer)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto("/api/v1/docs/")
    page.wait_for_selector("text=Read a session's state")

    assert page.title() == "Voiceflow Session Admin API"
    assert all(url.startswith(live_server.url) for url in requested), requested
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in requested)


def test_the_schema_needs_an_authenticated_caller(db):
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 401
    assert "paths" not in response.content.decode()


def test_the_docs_page_sends_an_anonymous_visitor_to_sign_in(client):
    response = client.get("/api/v1/docs/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/api/v1/docs/")
