"""The known-sessions index over the API: listed newest first, searchable, paginated."""

import pytest
from api_support import error_of, token_client

from sessions_app.known_sessions import note_session


def known(environment, user_id: str, **variables) -> None:
    note_session(environment, user_id, {"stack": [], "storage": {}, "variables": variables})


@pytest.fixture
def seen(environment):
    known(environment, "order-1", plan="gold", city="Lyon")
    known(environment, "order-2", plan="basic")
    known(environment, "support/ticket 7", plan="Gold")


def path(environment, query: str = "") -> str:
    return f"/api/v1/environments/{environment.pk}/known-sessions{query}"


def test_it_lists_the_sessions_seen_newest_first(environment, seen, viewer):
    response = token_client(viewer).get(path(environment))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [row["user_id"] for row in body["results"]] == ["support/ticket 7", "order-2", "order-1"]
    assert body["results"][2]["variables_snapshot"] == {"plan": "gold", "city": "Lyon"}


def test_it_searches_by_userid_prefix(environment, seen, viewer):
    response = token_client(viewer).get(path(environment, "?user_prefix=order-"))

    assert {row["user_id"] for row in response.json()["results"]} == {"order-1", "order-2"}


def test_it_searches_by_variable_text_in_any_case(environment, seen, viewer):
    response = token_client(viewer).get(path(environment, "?variable=plan%3Dgold"))

    assert {row["user_id"] for row in response.json()["results"]} == {"order-1", "support/ticket 7"}


def test_it_paginates(environment, seen, viewer):
    first = token_client(viewer).get(path(environment, "?limit=2")).json()
    second = token_client(viewer).get(path(environment, "?limit=2&offset=2")).json()

    assert len(first["results"]) == 2 and first["next"]
    assert [row["user_id"] for row in second["results"]] == ["order-1"]


def test_it_keeps_each_environment_to_itself(environment, production_environment, seen, viewer):
    assert token_client(viewer).get(path(production_environment)).json()["count"] == 0


def test_a_person_without_a_role_cannot_list_sessions(environment, seen, outsider):
    response = token_client(outsider).get(path(environment))

    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"


def test_an_unknown_environment_is_404(db, viewer):
    assert token_client(viewer).get("/api/v1/environments/424242/known-sessions").status_code == 404


@pytest.mark.parametrize("query", ["?user_prefix=a%00b", "?variable=" + "x" * 201])
def test_a_search_the_database_could_not_run_is_a_validation_error(environment, viewer, query):
    response = token_client(viewer).get(path(environment, query))

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"
