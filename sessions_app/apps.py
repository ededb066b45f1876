from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Voiceflow sessions"

    def ready(self) -> None:
        # Connects the receivers: signing in with the password is a step-up confirmation
        # (step_up); a changed password revokes the account's API tokens (account_actions).
        from . import account_actions, step_up  # noqa: F401
