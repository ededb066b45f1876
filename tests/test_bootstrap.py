"""`manage.py bootstrap`: roles and the first admin once, the sandbox's demo project idempotently,
and the demo users indexed by the worker as soon as the sandbox answers."""

import logging

import pytest
from bulk_support import wait_for
from cli_support import bootstrap
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from sessions_app.discovery.tasks import SANDBOX_WAIT_RETRIES, index_sandbox_sessions
from sessions_app.models import Environment, KnownSession, Project
from sessions_app.roles import ROLE_NAMES
from sessions_app.sandbox.demo import DEMO_API_KEY, DEMO_PROJECT_ID, OLDEST_ACTIVITY_AGE_S
from sessions_app.sandbox_registration import DEMO_PROJECT_NAME
from sessions_app.voiceflow import client_for

pytestmark = pytest.mark.production_path


@pytest.mark.django_db
def test_the_first_run_creates_the_roles_and_an_admin_and_prints_how_to_sign_in(var_dir):
    printed = bootstrap("--no-demo")

    password = (var_dir / "initial-admin-password").read_text().strip()
    admin = get_user_model().objects.get()
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLE_NAMES)
    assert admin.username == "admin" and admin.is_superuser and admin.is_staff
    assert list(admin.groups.values_list("name", flat=True)) == ["Admin"]
    assert f"Sign in as 'admin' with password {password!r}" in printed
    assert admin.check_password(password)
    assert (var_dir / "initial-admin-password").stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_later_runs_create_no_other_account_and_print_no_password(var_dir):
    bootstrap("--no-demo")
    first_password = (var_dir / "initial-admin-password").read_text()

    printed = bootstrap("--no-demo")

    assert get_user_model().objects.count() == 1
    assert "password" not in printed
    assert (var_dir / "initial-admin-password").read_text() == first_password


@pytest.mark.django_db
def test_no_admin_is_created_once_anybody_has_an_account(var_dir, viewer):
    bootstrap("--no-demo")

    assert list(get_user_model().objects.values_list("username", flat=True)) == ["vera-viewer"]
    assert not (var_dir / "initial-admin-password").exists()


@pytest.mark.django_db
def test_the_demo_project_is_registered_once_with_both_environments(var_dir, sandbox, settings):
    settings.SANDBOX_URL = sandbox.url

    bootstrap()
    printed = bootstrap()

    project = Project.objects.get()
    assert (project.name, project.voiceflow_project_id, project.runtime_url) == (
        DEMO_PROJECT_NAME,
        DEMO_PROJECT_ID,
        sandbox.url,
    )
    assert project.api_key == DEMO_API_KEY and project.is_sandbox
    environments = {
        e.label: (e.version_id, e.badge, e.is_production) for e in project.environments.all()
    }
    assert environments == {
        "Development": ("development", "green", False),
        "Production": ("production", "red", True),
    }
    assert "Demo project registered" in printed


@pytest.mark.django_db
def test_the_registered_demo_project_answers_from_the_sandbox(var_dir, sandbox, settings):
    settings.SANDBOX_URL = sandbox.url
    bootstrap()

    for environment in Environment.objects.all():
        assert client_for(environment).probe() == {}


@pytest.mark.django_db
def test_a_moved_sandbox_is_followed_on_the_next_run(var_dir, settings):
    settings.SANDBOX_URL = "http://127.0.0.1:8200"
    bootstrap()
    settings.SANDBOX_URL = "http://127.0.0.1:8299"

    bootstrap()

    project = Project.objects.get()
    assert (project.runtime_url, project.realtime_url, project.analytics_url) == (
        "http://127.0.0.1:8299",
    ) * 3
    assert project.api_key == DEMO_API_KEY
    assert project.environments.count() == 2


# ---- the demo users in the index from the first screen on ----

# Every demo user who talked to the agent (tests/test_sandbox_demo_times.py), all in Production.
DEMO_USERS_WITH_CONVERSATIONS = 34


@pytest.mark.worker
def test_the_worker_indexes_every_demo_user_even_when_the_sandbox_is_not_answering_yet(
    own_sandbox, celery_worker, settings, var_dir
):
    settings.SANDBOX_URL = own_sandbox.url
    # The first two searches find no sandbox, as when the worker is up before it.
    own_sandbox.knobs(
        api_key=DEMO_API_KEY,
        failures={"mode": "drop", "routes": ["realtime.transcripts.search"], "count": 2},
    )

    printed = bootstrap()

    # A state belongs to the project and user, not a version: every demo user, although their
    # conversations were in Production, is a session of both environments.
    wait_for(
        lambda: (
            KnownSession.objects.filter(state_pending=False).count()
            == 2 * DEMO_USERS_WITH_CONVERSATIONS
        ),
        timeout_s=60,
        what="every demo user to be indexed in both environments with their state read",
    )
    for environment in Environment.objects.all():
        maria = KnownSession.objects.get(environment=environment, user_id="maria.rossi@example.com")
        assert maria.variables_snapshot["customer_name"] == "Maria Rossi"
    assert own_sandbox.stats(DEMO_API_KEY)["injected_failures"] == 2
    assert "its users are being indexed" in printed
    assert Project.objects.get().discovery_enabled, "the periodic refresh keeps the demo current"


@pytest.mark.django_db
def test_an_unreachable_sandbox_is_retried_then_given_up_on_with_a_warning(
    var_dir, settings, caplog
):
    silent_sandbox(settings)
    environments = register_demo_project_through_bootstrap()

    with caplog.at_level(logging.INFO):
        # Run here, where Celery runs each retry at once instead of after its delay.
        result = index_sandbox_sessions.apply(args=[environments, OLDEST_ACTIVITY_AGE_S // 3600])

    retries = [r for r in caplog.records if "retry: Retry in" in r.getMessage()]
    assert len(retries) == SANDBOX_WAIT_RETRIES
    assert (result.state, result.result) == ("SUCCESS", {})
    assert "the sandbox never answered" in caplog.text
    assert not KnownSession.objects.exists()


def silent_sandbox(settings) -> None:
    """The demo project points at a port nobody listens on (the discard port)."""
    settings.SANDBOX_URL = "http://127.0.0.1:9"
    settings.VOICEFLOW_ALLOW_PRIVATE_URLS = [
        *settings.VOICEFLOW_ALLOW_PRIVATE_URLS,
        "http://127.0.0.1:9",
    ]


def register_demo_project_through_bootstrap() -> list[int]:
    bootstrap()
    return list(Environment.objects.values_list("pk", flat=True))


@pytest.mark.django_db
def test_a_sandbox_address_the_dashboard_may_not_reach_is_reported_without_retries(
    var_dir, settings, caplog
):
    settings.SANDBOX_URL = "http://127.0.0.1:9"  # not in VOICEFLOW_ALLOW_PRIVATE_URLS
    environments = register_demo_project_through_bootstrap()

    with caplog.at_level(logging.INFO):
        result = index_sandbox_sessions.apply(args=[environments, OLDEST_ACTIVITY_AGE_S // 3600])

    assert (result.state, result.result) == ("SUCCESS", {})
    assert not [r for r in caplog.records if "retry: Retry in" in r.getMessage()]
    assert caplog.text.count("indexing Demo Pizzeria") == 2
    assert "VOICEFLOW_ALLOW_PRIVATE_URLS" in caplog.text
