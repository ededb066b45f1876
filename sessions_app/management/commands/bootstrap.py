import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from sessions_app.roles import ensure_roles
from sessions_app.sandbox_registration import register_demo_project


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
        groups = ensure_roles()
        User = get_user_model()
        if not User.objects.exists():
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
            self.stdout.write(
                f"Demo project registered against the sandbox at {settings.SANDBOX_URL} "
                f"({', '.join(env.label for env in environments)})."
            )
