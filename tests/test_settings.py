"""Settings come from the environment: the embedded defaults, PostgreSQL and Redis, and refusals.

Each case runs Django in a fresh interpreter with exactly the given environment (no .env file),
as `make start`, gunicorn and the worker do.
"""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from settings_support import FERNET_KEY, run_django

ROOT = Path(__file__).resolve().parent.parent

RESOLVE = """
import django
django.setup()
from django.conf import settings
from voiceflow_admin.celery import app
print("ENGINE", settings.DATABASES["default"]["ENGINE"])
print("BROKER", app.connection_for_write().transport_cls)
"""


def resolved(**variables: str | None) -> dict[str, str]:
    result = run_django(RESOLVE, **variables)
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def refusal(**variables: str | None) -> str:
    """The last line of what start-up printed when it refused to start."""
    result = run_django(RESOLVE, **variables)
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


def test_with_no_configuration_it_runs_on_sqlite_and_the_filesystem_broker():
    assert resolved() == {"ENGINE": "django.db.backends.sqlite3", "BROKER": "filesystem"}


def test_database_url_and_broker_url_switch_to_postgresql_and_redis():
    assert resolved(
        DATABASE_URL="postgres://vsa:pw@127.0.0.1:5432/voiceflow_admin",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/14",
    ) == {"ENGINE": "django.db.backends.postgresql", "BROKER": "redis"}


@pytest.mark.production_path
def test_the_configured_postgresql_and_redis_answer():
    check = """
import django
django.setup()
from django.db import connection
from voiceflow_admin.celery import app
with connection.cursor() as cursor:
    cursor.execute("SELECT version()")
    print(cursor.fetchone()[0].split()[0])
with app.connection_for_write() as broker:
    broker.ensure_connection(max_retries=1)
    print(broker.transport.driver_type)
"""
    # The server the suite's production path uses, through its maintenance database, which
    # always exists (the configured one may not: the test runner creates its own).
    server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    result = run_django(
        check,
        DATABASE_URL=urlunsplit(server._replace(path="/postgres")),
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PostgreSQL", "redis"]


def test_it_refuses_to_start_without_a_secret_key():
    assert "DJANGO_SECRET_KEY is not set" in refusal(DJANGO_SECRET_KEY=None)


def test_it_refuses_to_start_without_encryption_keys():
    assert "VOICEFLOW_ADMIN_ENCRYPTION_KEYS is not set" in refusal(
        VOICEFLOW_ADMIN_ENCRYPTION_KEYS=None
    )


def test_it_refuses_an_encryption_key_that_is_not_a_fernet_key_and_says_which():
    message = refusal(VOICEFLOW_ADMIN_ENCRYPTION_KEYS=f"{FERNET_KEY},not-a-key")

    assert "VOICEFLOW_ADMIN_ENCRYPTION_KEYS: key number 2 is not a valid Fernet key" in message
    assert "not-a-key" not in message


@pytest.mark.parametrize(
    "database_url", ["not a url", "mysql://user:hunter2@db/app", "postgres://user:hunter2@db:5432"]
)
def test_it_refuses_an_unusable_database_url_without_echoing_its_password(database_url):
    message = refusal(DATABASE_URL=database_url)

    assert message.startswith("django.core.exceptions.ImproperlyConfigured: DATABASE_URL")
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_DEBUG", "maybe"),
        ("DJANGO_HTTPS", "sure"),
        ("VOICEFLOW_TIMEOUT_S", "ten"),
        ("VOICEFLOW_TIMEOUT_S", "0"),
        ("BULK_CONCURRENCY", "0"),
        ("LOGIN_FAILURE_LIMIT", "many"),
        ("CELERY_BROKER_URL", "localhost:6379"),
        ("SANDBOX_URL", "127.0.0.1:8200"),
        ("SANDBOX_ENABLED", "maybe"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_an_unusable_value_stops_start_up_with_a_message_naming_the_variable(name, value):
    message = refusal(**{name: value})

    assert message.startswith(f"django.core.exceptions.ImproperlyConfigured: {name} must be")


ALLOWED_PRIVATE_URLS = """
import django
django.setup()
from django.conf import settings
print(settings.VOICEFLOW_ALLOW_PRIVATE_URLS)
"""


def test_with_the_sandbox_enabled_its_url_is_the_private_address_allowed_by_default():
    result = run_django(
        ALLOWED_PRIVATE_URLS, SANDBOX_ENABLED="true", SANDBOX_URL="http://127.0.0.1:8299"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['http://127.0.0.1:8299']"


def test_without_the_sandbox_no_private_address_is_allowed_by_default():
    result = run_django(ALLOWED_PRIVATE_URLS, SANDBOX_URL="http://127.0.0.1:8299")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_explicit_list_of_private_addresses_is_taken_as_it_is():
    result = run_django(
        ALLOWED_PRIVATE_URLS,
        SANDBOX_ENABLED="true",
        VOICEFLOW_ALLOW_PRIVATE_URLS="http://10.0.0.5:8080",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['http://10.0.0.5:8080']"


def test_every_variable_settings_reads_is_documented_in_the_readme():
    source = (ROOT / "voiceflow_admin" / "settings.py").read_text()
    readme = (ROOT / "README.md").read_text()
    configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    # Every reader settings.py uses takes the variable's name as its first argument.
    read = set(re.findall(r'(?:\b_[a-z_]+|env\.[a-z_]+)\(\s*"([A-Z][A-Z0-9_]+)"', source))

    undocumented = sorted(name for name in read if f"`{name}`" not in configuration)

    assert read >= {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL"}
    assert not undocumented, f"Add these to README.md, Configuration: {undocumented}"


def test_audit_retention_of_zero_keeps_entries_forever_and_starts():
    code = "import django; django.setup(); from django.conf import settings; print(settings.AUDIT_RETENTION_DAYS)"
    result = run_django(code, AUDIT_RETENTION_DAYS="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_a_negative_audit_retention_is_refused_naming_the_variable():
    assert "AUDIT_RETENTION_DAYS" in refusal(AUDIT_RETENTION_DAYS="-1")


STATIC_FOLDER = """
import django
django.setup()
from django.conf import settings
print(settings.STATIC_ROOT)
"""


def test_static_files_are_collected_where_static_root_says(tmp_path):
    default = run_django(STATIC_FOLDER)
    chosen = run_django(STATIC_FOLDER, STATIC_ROOT=str(tmp_path / "static"))

    assert default.returncode == 0 and chosen.returncode == 0, default.stderr + chosen.stderr
    assert default.stdout.strip() == str(Path(__file__).resolve().parent.parent / "staticfiles")
    assert chosen.stdout.strip() == str(tmp_path / "static")
