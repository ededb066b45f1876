from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Voiceflow sessions"

    def ready(self) -> None:
        # Connects the sign-in receiver: signing in with the password is a step-up confirmation.
        from . import step_up  # noqa: F401
