"""Ways to call the REST API in tests: as a signed-in browser session or with a real knox token."""

from knox.models import AuthToken
from rest_framework.test import APIClient

from sessions_app.actions import fingerprint


def session_client(user, *, with_csrf: bool = True) -> APIClient:
    """A browser-like client: a real session cookie, CSRF enforced as in production, and (unless
    told otherwise) the CSRF token sent back in X-CSRFToken as the pages' scripts do."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user, backend="sessions_app.access.PermissionsBackend")
    client.get("/accounts/login/")  # a page with a form sets the CSRF cookie
    if with_csrf:
        client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    return client


def token_client(user) -> APIClient:
    """A script's client: `Authorization: Token <token>` from a token created for `user`."""
    _, token = AuthToken.objects.create(user, expiry=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def etag_of(state: dict | None) -> str:
    return f'"{fingerprint(state)}"'


def error_of(response) -> dict:
    """The error body, after checking it has the one documented shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    assert set(body["error"]) <= {"code", "message", "details", "retry_after"}, body
    return body["error"]
