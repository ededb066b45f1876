from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from sessions_app import audit
from sessions_app.encryption import UndecryptableSecret
from sessions_app.models import AuditEntry, Project


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the newest key of VOICEFLOW_ADMIN_ENCRYPTION_KEYS. "
        "Put the new key first in the list, run this, then remove the old key."
    )

    def handle(self, *args, **options) -> None:
        try:
            count = self._rotate()
        except UndecryptableSecret as exc:
            raise CommandError(
                f"Nothing was re-encrypted: {exc} Put every key still in use in "
                "VOICEFLOW_ADMIN_ENCRYPTION_KEYS (newest first) and run this again."
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted the credentials of {count} project(s) with the newest key."
            )
        )

    def _rotate(self) -> int:
        with transaction.atomic():
            # Loading decrypts with whichever key fits; saving encrypts with the newest one.
            projects = list(Project.objects.select_for_update())
            for project in projects:
                project.save(update_fields=["api_key", "access_token"])
            audit.record(
                AuditEntry.Action.KEYS_ROTATED,
                actor=None,
                source=AuditEntry.Source.CLI,
                request_sent={"projects_reencrypted": len(projects)},
            )
        return len(projects)
