"""Sign-in and session protection: lockout after LOGIN_FAILURE_LIMIT failures (in the browser),
sessions that expire, CSRF on every form, a Content Security Policy without inline scripts and
the usual security headers on every page. (`check --deploy`: test_deploy_checks.py; the API's
lockout answer: test_api_tokens.py.)"""

from datetime import timedelta

import pytest
from api_support import session_client
from browser_support import sign_in
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from persona_support import PASSWORD
from url_access_support import ACCESS, kwargs_for, url_patterns

from sessions_app.models import Project


@pytest.mark.browser
def test_the_sign_in_form_locks_out_after_the_failure_limit(page, viewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(page, viewer, password="not the password")
        assert "do not match" in page.content()
    sign_in(page, viewer, password="not the password")
    assert page.locator("h1").inner_text() == "Too many failed sign-ins"

    sign_in(page, viewer)  # the right password, too late

    assert page.locator("h1").inner_text() == "Too many failed sign-ins"
    page.goto("/")
    assert page.url.endswith("/accounts/login/?next=/")


def test_a_lockout_is_for_that_account_only(viewer, support, settings, client):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": viewer.username, "password": "wrong"})

    other = client.post(reverse("login"), {"username": support.username, "password": PASSWORD})

    assert other.status_code == 302


def test_the_session_age_comes_from_session_age_seconds(settings):
    from voiceflow_admin import settings as configured

    assert configured.SESSION_COOKIE_AGE == 8 * 3600
    assert configured.SESSION_EXPIRE_AT_BROWSER_CLOSE is True


def test_an_expired_session_is_signed_out(viewer_client):
    assert viewer_client.get(reverse("home")).status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    response = viewer_client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_session_ends_session_age_seconds_after_its_last_change(
    client_for_user, viewer, settings
):
    settings.SESSION_COOKIE_AGE = 600
    client = client_for_user(viewer)
    client.get(reverse("home"))

    expires = Session.objects.get().expire_date

    assert timedelta(seconds=590) < expires - timezone.now() <= timedelta(seconds=600)


@pytest.fixture
def csrf_checked(admin_user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user, backend="sessions_app.access.PermissionsBackend")
    return client


def test_a_page_form_posted_without_the_csrf_token_is_refused(csrf_checked):
    response = csrf_checked.post(
        reverse("project_create"), {"name": "Forged", "voiceflow_project_id": "x"}
    )

    assert response.status_code == 403
    assert not Project.objects.filter(name="Forged").exists()


def test_a_session_write_posted_without_the_csrf_token_is_refused(csrf_checked, environment):
    response = csrf_checked.post(
        reverse("session_set_variable", args=[environment.pk]),
        {"user": "u", "name": "a", "kind": "string", "value": "b"},
    )

    assert response.status_code == 403


def test_the_api_refuses_a_browser_session_without_the_csrf_header(admin_user, sandbox):
    response = session_client(admin_user, with_csrf=False).post(
        "/api/v1/projects", {"name": "Forged"}, format="json"
    )

    assert response.status_code == 403
    assert not Project.objects.filter(name="Forged").exists()


def _pages(found: dict) -> list[str]:
    urls = []
    for (name, method), _ in sorted(ACCESS.items()):
        route = next(route for route, pattern in url_patterns() if pattern.name == name)
        if (method == "GET" and not route.startswith("api/v1/")) or name == "api-docs":
            urls.append(reverse(name, kwargs=kwargs_for(name, route, found)))
    return [*urls, "/django-admin/", "/django-admin/sessions_app/project/"]


def test_every_page_carries_the_csp_without_inline_scripts_and_the_security_headers(
    client_for_user, admin_user, request
):
    objects = request.getfixturevalue("objects_of_every_route")
    admin_user.is_staff = True
    admin_user.save()
    client = client_for_user(admin_user)
    checked = 0
    for url in _pages(objects):
        response = client.get(url, {"user": "u"})
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        checked += 1
        policy = response["Content-Security-Policy"]
        directives = dict(
            (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
        )
        assert directives["script-src"] == ["'self'"], url
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, url
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert response["X-Frame-Options"] == "DENY", url
        assert response["X-Content-Type-Options"] == "nosniff", url
        assert response["Referrer-Policy"] == "same-origin", url
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", url
    assert checked > 20
