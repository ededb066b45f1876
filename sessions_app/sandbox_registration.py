"""Registers the local sandbox's demo project so a newcomer sees live state at once."""

from django.db import transaction

from .models import Environment, Project
from .sandbox.demo import DEMO_ACCESS_TOKEN, DEMO_API_KEY, DEMO_PROJECT_ID

DEMO_PROJECT_NAME = "Demo Pizzeria & Bookings (sandbox)"


@transaction.atomic
def register_demo_project(sandbox_url: str) -> list[Environment]:
    project, _ = Project.objects.get_or_create(
        name=DEMO_PROJECT_NAME,
        defaults={
            "voiceflow_project_id": DEMO_PROJECT_ID,
            "api_key": DEMO_API_KEY,
            "access_token": DEMO_ACCESS_TOKEN,
            "runtime_url": sandbox_url,
            "realtime_url": sandbox_url,
            "analytics_url": sandbox_url,
            "is_sandbox": True,
        },
    )
    if project.runtime_url != sandbox_url:
        project.runtime_url = project.realtime_url = project.analytics_url = sandbox_url
        project.save()
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
