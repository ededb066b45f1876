from sessions_app import actions
from sessions_app.management.cli import BAD_INPUT, Error, OpsCommand, etag_argument
from sessions_app.models import AuditEntry
from sessions_app.voiceflow import client_for


class Command(OpsCommand):
    help = (
        "Reset a conversation (delete its state). The state before is kept in the audit record, "
        "so it can be restored. Audited with source cli."
    )
    permission = "reset_session"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("user_id", help="The userID, exactly (quote it for the shell).")
        parser.add_argument("--if-match", help="Only if the state still has this ETag.")
        parser.add_argument("--dry-run", action="store_true", help="Show the state; send nothing.")
        parser.add_argument(
            "--confirm-production",
            action="store_true",
            help="Required in a production environment.",
        )

    def handle(
        self, *args, environment, as_user, user_id, if_match, dry_run, confirm_production, **options
    ):
        actor = self.actor(as_user)
        target = self.environment(environment)
        self.user_id(user_id)
        if dry_run:
            state = client_for(target).get_state(user_id)
            self.emit(
                {"dry_run": True, "user_id": user_id, "state_before": state},
                text=f"Dry run, nothing sent. {user_id} "
                + (
                    f"has a state with {len(state.get('variables', {}))} variables."
                    if state
                    else "has no state."
                ),
            )
            return
        if target.is_production and not confirm_production:
            raise Error(
                f"{target} is a production environment: add --confirm-production.",
                code="validation",
                returncode=BAD_INPUT,
            )
        entry = actions.do_reset_session(
            target,
            user_id,
            context=actions.WriteContext(
                actor=actor, source=AuditEntry.Source.CLI, based_on=etag_argument(if_match)
            ),
        )
        self.emit(
            {"user_id": user_id, "audit_entry": entry.pk, "state_before": entry.state_before},
            text=f"Reset {user_id} (audit #{entry.pk}); restore it from the audit trail if needed.",
        )
