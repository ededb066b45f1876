from django.core.management.base import BaseCommand
from django.db import transaction

from sessions_app.models import AuditEntry, Project


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the newest key of VOICEFLOW_ADMIN_ENCRYPTION_KEYS. "
        "Put the new key first in the list, run this, then remove the old key."
    )

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            # Loading decrypts with whichever key fits; saving encrypts with the newest one.
            projects = list(Project.objects.select_for_update())
            for project in projects:
                project.save(update_fields=["api_key", "access_token"])
            AuditEntry.objects.create(
                source=AuditEntry.Source.CLI,
                action=AuditEntry.Action.KEYS_ROTATED,
                outcome=AuditEntry.Outcome.SUCCEEDED,
                request_sent={"projects_reencrypted": len(projects)},
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted the credentials of {len(projects)} project(s) with the newest key."
            )
        )
