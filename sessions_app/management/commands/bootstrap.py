import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from sessions_app.discovery.tasks import index_sandbox_sessions
from sessions_app.flows.loading import request_flow_maps
from sessions_app.roles import ensure_roles
from sessions_app.sandbox.demo import OLDEST_ACTIVITY_AGE_S
from sessions_app.sandbox_registration import register_demo_project

# Far enough back to find every demo conversation, the oldest two weeks old.
DEMO_HISTORY_HOURS = OLDEST_ACTIVITY_AGE_S // 3600 + 24


class Command(BaseCommand):
    help = (
        "First-run setup: the role groups, an admin account (only when no user exists yet) and "
        "the local sandbox's demo project. Safe to run on every start."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-demo", action="store_true", help="Do not register the sandbox demo project."
        )
        parser.add_argument("--admin-username", default="admin")

    def handle(self, *args, no_demo: bool, admin_username: str, **options) -> None:
        try:
            self._bootstrap(no_demo, admin_username)
        except DatabaseError as error:
            raise CommandError(
                f"The database refused the setup: {error}. Is it migrated (manage.py migrate)?"
            ) from None

    def _bootstrap(self, no_demo: bool, admin_username: str) -> None:
        groups = ensure_roles()
        User = get_user_model()
        if not User.objects.exists():
            try:
                User.username_validator(admin_username)
                if not admin_username:
                    raise ValidationError("it is empty")
            except ValidationError as error:
                raise CommandError(
                    f"--admin-username {admin_username!r} cannot be a username: "
                    f"{' '.join(error.messages)}",
                    returncode=2,
                ) from None
            password = secrets.token_urlsafe(12)
            admin = User.objects.create_superuser(admin_username, email="", password=password)
            admin.groups.add(groups["Admin"])
            password_file = Path(settings.VAR_DIR) / "initial-admin-password"
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created the admin account. Sign in as {admin_username!r} with password "
                    f"{password!r} (also saved in {password_file}; change it after signing in)."
                )
            )
        if not no_demo:
            environments = register_demo_project(settings.SANDBOX_URL)
            # The worker indexes the demo users once the sandbox answers, so the first screen
            # already lists them rather than waiting for the periodic refresh.
            environment_ids = [environment.pk for environment in environments]
            index_sandbox_sessions.delay_on_commit(environment_ids, DEMO_HISTORY_HOURS)
            # And fetches the demo agent's project file, so the inspector names flows at once.
            request_flow_maps(environments)
            self.stdout.write(
                f"Demo project registered against the sandbox at {settings.SANDBOX_URL} "
                f"({', '.join(env.label for env in environments)}); its users are being indexed."
            )
