from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from sessions_app.roles import ROLE_NAMES, ensure_roles, permissions_of


class Command(BaseCommand):
    help = "Create or update the Viewer, Support, Ops and Admin groups with their permissions."

    def handle(self, *args, **options) -> None:
        try:
            ensure_roles()
        except DatabaseError as error:
            raise CommandError(
                f"The roles could not be written: {error}. Is the database migrated "
                "(manage.py migrate)?"
            ) from None
        for role in ROLE_NAMES:
            self.stdout.write(f"{role}: {', '.join(permissions_of(role))}")
