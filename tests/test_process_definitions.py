"""The production process definitions: the Procfile's release step works on a database, and
deploy/compose.yaml runs the Procfile's own lines with exactly one beat. (The web, worker and
beat lines themselves run in tests/test_scale_out_e2e.py and tests/test_kill_*.py.)"""

import yaml
from django.contrib.auth.models import Group
from reliability_support import ROOT, ProcfileProcess, process_env, procfile_command

from sessions_app.roles import ROLE_NAMES


def test_the_release_step_migrates_and_creates_the_roles(transactional_db, test_broker, tmp_path):
    Group.objects.all().delete()
    release = ProcfileProcess("release", process_env(test_broker), tmp_path / "release.log")

    release.start()
    assert release.process.wait(timeout=120) == 0, release.log()

    assert "No migrations to apply." in release.log()
    assert set(Group.objects.values_list("name", flat=True)) == set(ROLE_NAMES)


def test_compose_runs_each_procfile_process_type_and_exactly_one_beat():
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    commands = {
        name: service["command"] for name, service in services.items() if "command" in service
    }

    assert commands == {
        "migrate": ["honcho", "start", "--no-prefix", "release"],
        "web": ["honcho", "start", "--no-prefix", "web"],
        "worker": ["honcho", "start", "--no-prefix", "worker"],
        "beat": ["honcho", "start", "--no-prefix", "beat"],
    }
    for process_type in ("release", "web", "worker", "beat"):
        assert procfile_command(process_type)
    assert services["worker"]["deploy"]["replicas"] == 2
    assert "deploy" not in services["beat"]
    app = services["web"]["environment"]
    assert app["DATABASE_URL"].startswith("postgres://")
    assert app["CELERY_BROKER_URL"].startswith("redis://")
    assert (app["DJANGO_HTTPS"], app["DJANGO_BEHIND_PROXY"], app["LOG_FORMAT"]) == (
        "1",
        "1",
        "json",
    )
