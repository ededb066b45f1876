"""`manage.py bootstrap`: roles and the first admin once, the sandbox's demo project idempotently."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from sessions_app.models import Environment, Project
from sessions_app.roles import ROLE_NAMES
from sessions_app.sandbox.demo import DEMO_API_KEY, DEMO_PROJECT_ID
from sessions_app.sandbox_registration import DEMO_PROJECT_NAME
from sessions_app.voiceflow import client_for

pytestmark = pytest.mark.production_path


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap", *args, stdout=out)
    return out.getvalue()


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
