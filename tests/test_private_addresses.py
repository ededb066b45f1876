"""A project's base URLs may not lead to private, loopback, link-local or reserved addresses
(unless VOICEFLOW_ALLOW_PRIVATE_URLS names the origin): refused when saved, refused again when a
connection is opened. Nothing in this file sends a request to a private address other than
loopback; every refusal happens before connecting."""

import socket

import pytest
from api_support import error_of, token_client
from django.urls import reverse
from settings_support import run_django

from sessions_app.models import Environment, Project
from sessions_app.voiceflow import client_for
from sessions_app.voiceflow.address_guard import PrivateAddressRefused, check_base_url
from sessions_app.voiceflow.errors import ProjectMisconfigured

API_KEY = "VF.DM.0123456789abcdef01234567.originalKeyOriginalKey01"
FORBIDDEN_URLS = [
    "http://localhost:8080",
    "http://127.0.0.1",
    "http://[::1]:8200",
    "http://10.0.0.5",
    "http://169.254.169.254/latest/meta-data",
    "http://192.168.1.20",
    "http://0.0.0.0:8200",
    "http://[::ffff:127.0.0.1]",
]
# IPv6 addresses that carry a private IPv4 address, and the way each one reaches it.
EMBEDDED_PRIVATE_ADDRESSES = [
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.5",
    "64:ff9b::7f00:1",  # NAT64, well-known prefix
    "64:ff9b::a9fe:a9fe",  # NAT64 to cloud metadata
    "64:ff9b:1::a00:5",  # NAT64, local-use prefix
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "::ffff:7f00:1",  # IPv4-mapped, written in hex
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:114::1",  # 6to4 of 192.168.1.20
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo to 127.0.0.1 (the client part, obfuscated)
]


@pytest.fixture
def nothing_private_allowed(settings):
    settings.VOICEFLOW_ALLOW_PRIVATE_URLS = []
    # Connection pools are kept per (URL, time-out); a time-out of its own gives this test a
    # fresh pool, so no connection opened by an earlier test (while allowed) is reused.
    settings.VOICEFLOW_TIMEOUT_S = 7.125


@pytest.mark.parametrize("url", FORBIDDEN_URLS)
def test_it_refuses_a_private_or_loopback_url(url, nothing_private_allowed):
    with pytest.raises(PrivateAddressRefused, match="private, loopback, link-local or reserved"):
        check_base_url(url, what="The runtime base URL")


@pytest.mark.parametrize("address", EMBEDDED_PRIVATE_ADDRESSES)
def test_it_refuses_an_ipv6_address_that_carries_a_private_ipv4_one(
    address, nothing_private_allowed
):
    with pytest.raises(PrivateAddressRefused, match="private, loopback, link-local or reserved"):
        check_base_url(f"http://[{address}]:8080", what="The runtime base URL")


@pytest.mark.parametrize(
    "address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111"]
)
def test_it_accepts_an_ipv6_address_that_leads_to_a_public_one(address, nothing_private_allowed):
    check_base_url(f"https://[{address}]/", what="The runtime base URL")


def test_it_refuses_a_name_that_resolves_to_loopback(nothing_private_allowed):
    with pytest.raises(PrivateAddressRefused, match=r"localhost \(127\.0\.0\.1\)"):
        check_base_url("https://localhost/", what="The runtime base URL")


# Whether a started dashboard, configured only by the environment given, lets a project use the
# sandbox's address and the port beside it.
CHECK_THE_SANDBOX_URLS = """
import django
django.setup()
from sessions_app.voiceflow.address_guard import PrivateAddressRefused, check_base_url
for url in ("http://127.0.0.1:8200", "http://127.0.0.1:8201"):
    try:
        check_base_url(url)
        print(url, "allowed")
    except PrivateAddressRefused:
        print(url, "refused")
"""


def test_by_default_a_dashboard_with_the_sandbox_allows_the_sandbox_url_only():
    result = run_django(CHECK_THE_SANDBOX_URLS, SANDBOX_ENABLED="true")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "http://127.0.0.1:8200 allowed",
        "http://127.0.0.1:8201 refused",
    ]


def test_by_default_a_dashboard_without_the_sandbox_allows_no_private_address():
    result = run_django(CHECK_THE_SANDBOX_URLS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "http://127.0.0.1:8200 refused",
        "http://127.0.0.1:8201 refused",
    ]


def test_an_origin_named_in_the_setting_is_allowed(settings):
    settings.VOICEFLOW_ALLOW_PRIVATE_URLS = ["http://10.0.0.5:8080"]

    check_base_url("http://10.0.0.5:8080/runtime")
    with pytest.raises(PrivateAddressRefused):
        check_base_url("http://10.0.0.5:8081")


def test_public_and_unresolvable_names_are_accepted(nothing_private_allowed):
    check_base_url("https://8.8.8.8")
    check_base_url("https://general-runtime.voiceflow.invalid")


# ---- at save time: pages, Django admin, API ----


def project_form(**changes) -> dict:
    return {
        "name": "Internal",
        "voiceflow_project_id": "0123456789abcdef01234567",
        "runtime_url": "https://general-runtime.voiceflow.com",
        "realtime_url": "https://realtime-api.voiceflow.com",
        "analytics_url": "https://analytics-api.voiceflow.com",
        "state_api": "legacy",
        "api_key": API_KEY,
        "budget_per_minute": "300",
        "environments-TOTAL_FORMS": "1",
        "environments-INITIAL_FORMS": "0",
        "environments-0-label": "Development",
        "environments-0-version_id": "development",
        "environments-0-alias": "main",
        "environments-0-realtime_version": "draft",
        "environments-0-badge": "green",
        **changes,
    }


@pytest.mark.parametrize("field", ["runtime_url", "realtime_url", "analytics_url"])
def test_the_project_page_refuses_a_metadata_address(admin_client_, field, nothing_private_allowed):
    response = admin_client_.post(
        reverse("project_create"), project_form(**{field: "http://169.254.169.254"})
    )

    assert response.status_code == 200
    assert "169.254.169.254, a private, loopback" in response.content.decode()
    assert not Project.objects.exists()


def test_the_project_page_accepts_an_allowed_private_origin(admin_client_, settings):
    settings.VOICEFLOW_ALLOW_PRIVATE_URLS = ["http://10.0.0.5:8080"]

    response = admin_client_.post(
        reverse("project_create"), project_form(runtime_url="http://10.0.0.5:8080")
    )

    assert response.status_code == 302
    assert Project.objects.get().runtime_url == "http://10.0.0.5:8080"


@pytest.fixture
def django_admin_client(admin_user, client_for_user):
    admin_user.is_staff = True
    admin_user.save()
    return client_for_user(admin_user)


def admin_form(**changes) -> dict:
    # Django admin's project page has the same fields and the environments inline.
    return project_form(**changes)


def test_django_admin_refuses_a_loopback_runtime(django_admin_client, nothing_private_allowed):
    response = django_admin_client.post(
        "/django-admin/sessions_app/project/add/", admin_form(runtime_url="http://127.0.0.1:5432")
    )

    assert response.status_code == 200
    assert "127.0.0.1, a private, loopback" in response.content.decode()
    assert not Project.objects.exists()


@pytest.mark.parametrize("url", ["http://[::1]:8200", "http://10.0.0.5"])
def test_the_api_refuses_a_private_runtime(admin_user, url, nothing_private_allowed):
    response = token_client(admin_user).post(
        "/api/v1/projects",
        {
            "name": "Internal",
            "voiceflow_project_id": "0123456789abcdef01234567",
            "runtime_url": url,
            "api_key": API_KEY,
        },
        format="json",
    )

    assert response.status_code == 400
    assert "private, loopback" in str(error_of(response)["details"]["runtime_url"])
    assert not Project.objects.exists()


def test_the_api_refuses_changing_a_url_to_a_private_one(
    admin_user, project, nothing_private_allowed
):
    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}", {"analytics_url": "http://localhost:6379"}, format="json"
    )

    assert response.status_code == 400
    project.refresh_from_db()
    assert project.analytics_url != "http://localhost:6379"


# ---- at request time: what a name resolves to may have changed since it was saved ----


def test_a_stored_loopback_url_is_refused_before_connecting(
    environment, sandbox, nothing_private_allowed
):
    with pytest.raises(PrivateAddressRefused):
        client_for(environment).get_state("u")

    assert sandbox.stats(environment.project.api_key)["requests"] == 0


def test_the_allowed_sandbox_is_reached(environment, sandbox):
    client_for(environment).get_state("u")

    assert sandbox.stats(environment.project.api_key)["requests"] == 1


def test_a_name_that_starts_resolving_to_a_private_address_is_refused(db, monkeypatch):
    project = Project.objects.create(
        name="Rebinding",
        voiceflow_project_id="0123456789abcdef01234567",
        api_key=API_KEY,
        runtime_url="https://runtime.rebinding.invalid",
    )
    environment = Environment.objects.create(project=project, label="Development")
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "runtime.rebinding.invalid":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)

    def no_connection(address, *args, **kwargs):
        raise AssertionError(f"a connection to {address} was attempted")

    # A tripwire: should the guard ever let this through, nothing reaches the private address.
    monkeypatch.setattr(socket, "create_connection", no_connection)

    with pytest.raises(PrivateAddressRefused, match=r"runtime\.rebinding\.invalid \(10\.0\.0\.5\)"):
        client_for(environment).get_state("u")


def test_a_refusal_reaches_the_api_as_a_clear_error(environment, viewer, nothing_private_allowed):
    response = token_client(viewer).get(
        f"/api/v1/environments/{environment.pk}/sessions/state", {"user": "u"}
    )

    assert response.status_code == 502
    assert "VOICEFLOW_ALLOW_PRIVATE_URLS" in error_of(response)["message"]


# ---- values that travel in HTTP headers: printable ASCII only ----


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"api_key": "VF.DM.0123456789abcdef01234567.clé-non-ascii-0000"}, "printable ASCII"),
        ({"access_token": "vfp_tökén"}, "printable ASCII"),
        ({"voiceflow_project_id": "projét"}, "only letters, digits"),
        ({"environments-0-version_id": "vérsion"}, "literal version ID"),
        ({"environments-0-version_id": "two words"}, "literal version ID"),
        ({"environments-0-alias": "mäin"}, "environment alias"),
    ],
)
def test_the_project_page_refuses_values_no_header_can_carry(admin_client_, changes, message):
    response = admin_client_.post(reverse("project_create"), project_form(**changes))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Project.objects.exists()


def test_django_admin_refuses_a_non_ascii_key(django_admin_client):
    response = django_admin_client.post(
        "/django-admin/sessions_app/project/add/",
        admin_form(api_key="VF.DM.0123456789abcdef01234567.ключключключключ"),
    )

    assert response.status_code == 200
    assert "printable ASCII" in response.content.decode()
    assert not Project.objects.exists()


@pytest.mark.parametrize(
    "field, value, named",
    [
        ("api_key", "VF.DM.0123456789abcdef01234567.ключключключключ", "API key"),
        ("voiceflow_project_id", "projét", "projectID"),
    ],
)
def test_the_client_names_a_stored_value_no_header_can_carry(environment, field, value, named):
    project = environment.project
    setattr(project, field, value)
    project.save()

    with pytest.raises(ProjectMisconfigured, match=f"project's {named} cannot be sent"):
        client_for(environment).get_state("u")
