"""Registers the local sandbox's demo project so a newcomer sees live state at once."""

from django.db import transaction

from .admin_actions import do_save_project
from .models import AuditEntry, Environment, Project
from .sandbox.demo import DEMO_ACCESS_TOKEN, DEMO_API_KEY, DEMO_PROJECT_ID

DEMO_PROJECT_NAME = "Demo Pizzeria & Bookings (sandbox)"


@transaction.atomic
def register_demo_project(sandbox_url: str) -> list[Environment]:
    """Create (or point at a moved sandbox) the demo project; each change is audited (cli)."""
    project = Project.objects.filter(name=DEMO_PROJECT_NAME).first()
    if project is None:
        project = Project(
            name=DEMO_PROJECT_NAME,
            voiceflow_project_id=DEMO_PROJECT_ID,
            api_key=DEMO_API_KEY,
            access_token=DEMO_ACCESS_TOKEN,
            runtime_url=sandbox_url,
            realtime_url=sandbox_url,
            analytics_url=sandbox_url,
            project_api_url=sandbox_url,
            is_sandbox=True,
            # The demo users' conversations are imported into the index every few minutes.
            discovery_enabled=True,
        )
        do_save_project(project, actor=None, source=AuditEntry.Source.CLI)
    elif sandbox_url != project.runtime_url or sandbox_url != project.project_api_url:
        project.runtime_url = project.realtime_url = project.analytics_url = sandbox_url
        project.project_api_url = sandbox_url
        do_save_project(project, actor=None, source=AuditEntry.Source.CLI)
    development, _ = Environment.objects.get_or_create(
        project=project,
        label="Development",
        defaults={"version_id": "development", "badge": Environment.Badge.GREEN},
    )
    production, _ = Environment.objects.get_or_create(
        project=project,
        label="Production",
        defaults={
            "version_id": "production",
            "realtime_version": Environment.RealtimeVersion.PUBLISHED,
            "badge": Environment.Badge.RED,
            "is_production": True,
        },
    )
    return [development, production]
