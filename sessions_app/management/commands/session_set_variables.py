import json
import sys

from sessions_app import actions
from sessions_app.management.cli import OpsCommand, etag_argument, parse_json_object
from sessions_app.models import AuditEntry
from sessions_app.voiceflow import client_for


class Command(OpsCommand):
    help = (
        "Merge variables into a conversation: each named variable is replaced whole, the others "
        "are untouched. Audited with source cli."
    )
    permission = "edit_variables"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("user_id", help="The userID, exactly (quote it for the shell).")
        parser.add_argument(
            "variables", help='A JSON object, e.g. \'{"plan": "pro"}\', or - to read it from stdin.'
        )
        parser.add_argument("--if-match", help="Only if the state still has this ETag.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; send nothing."
        )

    def handle(self, *args, environment, as_user, user_id, variables, if_match, dry_run, **options):
        actor = self.actor(as_user)
        target = self.environment(environment)
        text = sys.stdin.read() if variables == "-" else variables
        merge = parse_json_object(text, "The variables")
        self.user_id(user_id)
        if dry_run:
            state = client_for(target).get_state(user_id)
            planned = actions.planned_variables(actions.SetVariables(merge), state, list(merge))
            changes = {
                variable.name: {
                    "before": None if variable.before is actions.NOT_SET else variable.before,
                    "after": variable.after,
                }
                for variable in planned
                if variable.changes
            }
            lines = [
                f"{name}: {json.dumps(c['before'])} -> {json.dumps(c['after'])}"
                for name, c in changes.items()
            ]
            self.emit(
                {"dry_run": True, "user_id": user_id, "changes": changes},
                text="Dry run, nothing sent.\n" + ("\n".join(lines) or "No change."),
            )
            return
        entry = actions.do_set_variables(
            target,
            user_id,
            merge,
            context=actions.WriteContext(
                actor=actor, source=AuditEntry.Source.CLI, based_on=etag_argument(if_match)
            ),
        )
        etag = actions.fingerprint(entry.state_after)
        self.emit(
            {"user_id": user_id, "etag": etag, "audit_entry": entry.pk, "state": entry.state_after},
            text=f"Set {', '.join(merge)} for {user_id} (audit #{entry.pk}). ETag: {etag}",
        )
