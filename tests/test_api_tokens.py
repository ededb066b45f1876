"""API tokens: created by a session or a password (never by a token), shown once, listed by
prefix, revoked; and the page that does the same in the dashboard."""

import re

import pytest
from api_support import error_of, session_client, token_client
from knox.models import AuthToken
from persona_support import PASSWORD
from rest_framework.test import APIClient


def test_a_signed_in_session_creates_a_token_that_then_works(viewer):
    response = session_client(viewer).post("/api/v1/tokens", {}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["token"].startswith(body["prefix"])
    assert body["expiry"] is None
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert script.get("/api/v1/tokens").status_code == 200


def test_a_script_creates_a_token_with_username_and_password(viewer):
    response = APIClient().post(
        "/api/v1/tokens",
        {"username": viewer.username, "password": PASSWORD, "expires_in_days": 30},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["username"] == viewer.username
    assert response.json()["expiry"] is not None


def test_a_wrong_password_creates_nothing(viewer):
    response = APIClient().post(
        "/api/v1/tokens", {"username": viewer.username, "password": "wrong"}, format="json"
    )

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert not AuthToken.objects.exists()


def test_a_token_cannot_create_tokens(viewer):
    response = token_client(viewer).post("/api/v1/tokens", {}, format="json")

    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    assert AuthToken.objects.count() == 1


def test_nobody_creates_a_token_anonymously(db):
    response = APIClient().post("/api/v1/tokens", {}, format="json")

    assert response.status_code == 401


@pytest.mark.parametrize(
    "body", [{"username": "x"}, {"expires_in_days": 0}, {"expires_in_days": "soon"}]
)
def test_a_malformed_request_is_a_validation_error(viewer, body):
    response = session_client(viewer).post("/api/v1/tokens", body, format="json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation"


def test_the_list_shows_prefixes_and_never_the_token(viewer, support):
    _, plain = AuthToken.objects.create(viewer, expiry=None)
    AuthToken.objects.create(support, expiry=None)

    response = token_client(viewer).get("/api/v1/tokens")

    assert response.status_code == 200
    assert response.json()["count"] == 2  # the listed one and the client's own
    assert plain not in response.content.decode()
    assert plain[:15] in [row["prefix"] for row in response.json()["results"]]


def test_a_revoked_token_stops_working(viewer):
    _, plain = AuthToken.objects.create(viewer, expiry=None)
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {plain}")

    revoked = token_client(viewer).delete(f"/api/v1/tokens/{plain[:15]}")

    assert revoked.status_code == 204
    assert script.get("/api/v1/tokens").status_code == 401


def test_nobody_revokes_somebody_elses_token(viewer, support):
    _, plain = AuthToken.objects.create(support, expiry=None)

    response = token_client(viewer).delete(f"/api/v1/tokens/{plain[:15]}")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert AuthToken.objects.filter(user=support).exists()


# ---- the page ----


def test_the_page_shows_a_new_token_once(viewer_client, viewer):
    created = viewer_client.post("/account/tokens", {"expires_in_days": "90"}, follow=True)
    again = viewer_client.get("/account/tokens")

    token = AuthToken.objects.get(user=viewer)
    shown = re.search(r'<pre id="new-token">([0-9a-f]+)</pre>', created.content.decode()).group(1)
    assert shown.startswith(token.token_key)
    assert token.expiry is not None
    assert shown not in again.content.decode()
    assert token.token_key in again.content.decode()


def test_the_page_refuses_an_unknown_expiry(viewer_client, viewer):
    response = viewer_client.post("/account/tokens", {"expires_in_days": "7"})

    assert response.status_code == 400
    assert not AuthToken.objects.exists()


def test_the_page_revokes_only_your_own_tokens(viewer_client, viewer, support):
    mine, _ = AuthToken.objects.create(viewer, expiry=None)
    theirs, _ = AuthToken.objects.create(support, expiry=None)

    viewer_client.post(f"/account/tokens/{mine.token_key}/revoke")
    viewer_client.post(f"/account/tokens/{theirs.token_key}/revoke")

    assert not AuthToken.objects.filter(user=viewer).exists()
    assert AuthToken.objects.filter(user=support).exists()


def test_the_page_needs_a_signed_in_person(client):
    response = client.get("/account/tokens")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.browser
def test_a_person_creates_and_copies_a_token_in_the_browser(page, viewer):
    from browser_support import sign_in

    sign_in(page, viewer)
    page.click("text=API tokens")
    page.click("button:has-text('Create token')")

    assert (
        page.locator("#new-token")
        .inner_text()
        .startswith(AuthToken.objects.get(user=viewer).token_key)
    )
    page.reload()
    assert page.locator("#new-token").count() == 0
    assert AuthToken.objects.filter(user=viewer).count() == 1


def test_repeated_wrong_passwords_lock_out_in_the_error_shape(viewer, settings):
    attempts = [
        APIClient().post(
            "/api/v1/tokens", {"username": viewer.username, "password": "wrong"}, format="json"
        )
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    right = APIClient().post(
        "/api/v1/tokens", {"username": viewer.username, "password": PASSWORD}, format="json"
    )

    assert attempts[-1].status_code == right.status_code == 429
    assert error_of(right)["code"] == "locked_out"
    assert not AuthToken.objects.exists()


def test_the_sign_in_page_still_shows_its_locked_out_page(viewer, settings, client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": viewer.username, "password": "wrong"})

    response = client.post("/accounts/login/", {"username": viewer.username, "password": PASSWORD})

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
