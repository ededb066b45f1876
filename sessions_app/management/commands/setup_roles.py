from django.core.management.base import BaseCommand

from sessions_app.roles import ROLE_NAMES, ensure_roles, permissions_of


class Command(BaseCommand):
    help = "Create or update the Viewer, Support, Ops and Admin groups with their permissions."

    def handle(self, *args, **options) -> None:
        ensure_roles()
        for role in ROLE_NAMES:
            self.stdout.write(f"{role}: {', '.join(permissions_of(role))}")
