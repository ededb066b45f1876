"""Every URL of the product, for every role, an outsider (signed in, no role) and an anonymous
visitor: who may use it is stated explicitly in ACCESS (url_access_support.py) and checked here
against what it answers.

A URL pattern without an entry in ACCESS fails `test_every_url_has_an_entry`, so a new page or
endpoint cannot ship without a decision about who may use it. Django admin is checked as a
group (its own permission system) at the end, and a static check makes sure every view names
its check in its code.
"""

import ast
import inspect
import textwrap

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from url_access_support import ACCESS, PUBLIC, SIGNED_IN, kwargs_for, url_patterns

from sessions_app.roles import permissions_of

# The API's catch-all answers 404 in the error shape to anyone; it reveals nothing.
UNNAMED_ALLOWED = {"no_such_endpoint"}
PERSONAS = ["anonymous", "outsider", "viewer", "support", "ops", "admin_user"]
ROLE_OF = {"viewer": "Viewer", "support": "Support", "ops": "Ops", "admin_user": "Admin"}


def test_every_url_has_an_entry():
    named = {pattern.name for _, pattern in url_patterns() if pattern.name}
    unnamed = {_view_name(pattern.callback) for _, pattern in url_patterns() if not pattern.name}

    assert named == {name for name, _ in ACCESS}, "a URL without an entry in ACCESS, or a stale one"
    assert unnamed <= UNNAMED_ALLOWED


def client_of(persona: str, request) -> Client:
    if persona == "anonymous":
        return Client()
    return request.getfixturevalue("client_for_user")(request.getfixturevalue(persona))


def may(persona: str, rule: str) -> bool:
    if rule == PUBLIC:
        return True
    if persona == "anonymous":
        return False
    if rule == SIGNED_IN:
        return True
    return persona in ROLE_OF and rule in permissions_of(ROLE_OF[persona])


def call(client: Client, method: str, url: str, is_api: bool):
    if is_api:
        return client.generic(method, url + "?user=matrix-user", "{}", "application/json")
    if method == "GET":
        return client.get(url, {"user": "matrix-user"})
    return client.post(url, {"user": "matrix-user"})


def is_refusal(response, persona: str) -> bool:
    if response.status_code in (401, 403):
        return True
    location = response.get("Location", "")
    return response.status_code == 302 and location.startswith("/accounts/login/?next=")


@pytest.mark.parametrize(
    "name, method", sorted(ACCESS), ids=[f"{name}-{method}" for name, method in sorted(ACCESS)]
)
def test_each_url_answers_each_persona_as_the_table_says(
    name, method, objects_of_every_route, request
):
    route = next(route for route, pattern in url_patterns() if pattern.name == name)
    url = reverse(name, kwargs=kwargs_for(name, route, objects_of_every_route))
    rule = ACCESS[(name, method)]
    is_api = route.startswith("api/")
    answers = {}
    # Least privileged first: a permitted request may delete what the next one would use (it
    # then answers 404, which still says it was let through).
    for persona in PERSONAS:
        response = call(client_of(persona, request), method, url, is_api)
        answers[persona] = response.status_code
        if may(persona, rule):
            assert not is_refusal(response, persona), (persona, answers)
        elif persona == "anonymous":
            expected = 401 if is_api and name != "api-docs" else 302
            assert response.status_code == expected, (persona, answers)
            if expected == 302:
                assert response["Location"].startswith("/accounts/login/")
        else:
            assert response.status_code == 403, (persona, answers)


# ---- Django admin, as a group: staff only, then its own model permissions ----


def admin_urls(objects) -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:app_list", args=["sessions_app"])]
    for model in admin.site._registry:
        meta = model._meta
        prefix = f"admin:{meta.app_label}_{meta.model_name}"
        instance = model.objects.first()
        urls += [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_add")]
        if instance is not None:
            urls += [
                reverse(f"{prefix}_change", args=[instance.pk]),
                reverse(f"{prefix}_delete", args=[instance.pk]),
                reverse(f"{prefix}_history", args=[instance.pk]),
            ]
    return urls


@pytest.mark.parametrize("persona", PERSONAS)
def test_django_admin_sends_everyone_who_is_not_staff_to_its_sign_in(
    persona, objects_of_every_route, request
):
    client = client_of(persona, request)

    for url in admin_urls(objects_of_every_route):
        for response in (client.get(url), client.post(url, {})):
            assert response.status_code == 302, url
            assert response["Location"].startswith(("/django-admin/login/", "/accounts/login/"))


@pytest.mark.parametrize(
    "persona, model, expected",
    [
        ("viewer", "project", 403),
        ("viewer", "auditentry", 200),
        ("viewer", "user", 403),
        ("ops", "project", 403),
        ("admin_user", "project", 200),
        ("admin_user", "user", 403),
    ],
)
def test_staff_see_only_the_admin_pages_of_their_role(
    client_for_user, persona, model, expected, objects_of_every_route, request
):
    user = request.getfixturevalue(persona)
    user.is_staff = True
    user.save()
    app = "auth" if model == "user" else "sessions_app"

    response = client_for_user(user).get(reverse(f"admin:{app}_{model}_changelist"))

    assert response.status_code == expected


# ---- the static check: every view names its check in its own code ----

CHECKS = {"require", "environment_for", "can", "step_up_required", "login_required"}
# Views open to any signed-in person (or to anyone), each for a stated reason.
OPEN_BY_DESIGN = {
    "healthz": "a load balancer's probe; answers ok or not, nothing else",
    "confirm": "anyone confirms their own password (step-up); it grants nothing",
    "token_list": "each person's own API tokens",
    "token_revoke": "each person's own API tokens",
    "no_such_endpoint": "the API's 404 for unknown paths",
    "LoginView": "signing in",
    "LogoutView": "signing out",
    "PasswordChange": "each person changes their own password, the current one asked",
    "RedirectView": "the favicon",
}


def _calls(function_source: str) -> set[str]:
    tree = ast.parse(textwrap.dedent(function_source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = node.func
            names.add(target.id if isinstance(target, ast.Name) else getattr(target, "attr", ""))
        if isinstance(node, ast.Name | ast.Attribute):
            names.add(node.id if isinstance(node, ast.Name) else node.attr)
    return names


def _checks_in(function, seen: frozenset = frozenset()) -> bool:
    """The function, or a helper of its module that it calls (at any depth), calls one of CHECKS."""
    called = _calls(inspect.getsource(function))
    if called & CHECKS:
        return True
    module = inspect.getmodule(function)
    for name in called - seen:
        helper = getattr(module, name, None)
        if (
            inspect.isfunction(helper)
            and helper.__module__ == module.__name__
            and _checks_in(helper, seen | called)
        ):
            return True
    return False


def _view_name(callback) -> str:
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is not None and view_class.__name__ == "WrappedAPIView":
        return inspect.unwrap(view_class.get).__name__  # an @api_view function
    return view_class.__name__ if view_class is not None else inspect.unwrap(callback).__name__


def test_every_view_function_and_api_class_names_its_check():
    unchecked = []
    for route, pattern in url_patterns():
        callback = pattern.callback
        if _view_name(callback) in OPEN_BY_DESIGN:
            continue
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view_class is None:
            if not _checks_in(inspect.unwrap(callback)):
                unchecked.append(route)
            continue
        initkwargs = getattr(callback, "view_initkwargs", None) or getattr(
            callback, "initkwargs", {}
        )
        declares = "permission_classes" in initkwargs or any(
            "permission_classes" in vars(base) or "get_permissions" in vars(base)
            for base in view_class.__mro__
            if base.__module__.startswith("sessions_app")
        )
        if not declares:
            unchecked.append(route)

    assert unchecked == []
