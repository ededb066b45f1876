from sessions_app.actions import fingerprint
from sessions_app.known_sessions import note_session
from sessions_app.management.cli import OpsCommand
from sessions_app.stored_json import json_text
from sessions_app.voiceflow import client_for


class Command(OpsCommand):
    help = "Print a conversation's state and its ETag (the fingerprint the writes check)."
    permission = "inspect_session"
    requires_actor = False

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("user_id", help="The userID, exactly (quote it for the shell).")

    def handle(self, *args, environment: str, as_user: str | None, user_id: str, **options) -> None:
        self.actor(as_user)
        target = self.environment(environment)
        self.user_id(user_id)
        state = client_for(target).get_state(user_id)
        note_session(target, user_id, state)
        etag = fingerprint(state)
        self.emit(
            {"environment": target.pk, "user_id": user_id, "etag": etag, "state": state},
            text=f"ETag: {etag}\n{json_text(state, indent=2)}",
        )
