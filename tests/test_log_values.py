"""No value reaches a log line: what the database says about a failed statement (PostgreSQL's
DETAIL and CONTEXT quote the data) and the parameters of Django's SQL debug lines are withheld,
in the plain and the JSON format, in a real process's output and in a real web server's log."""

import httpx
import pytest
from knox.models import AuthToken
from reliability_support import WebServer, process_env, run_django

from sessions_app.logs import WITHHELD

pytestmark = pytest.mark.production_path

SECRET_USER = "secret.person@example.com"
SECRET_VALUE = "s3cr3t-variable-value"

# A process as the web server or a worker runs: a duplicate row (PostgreSQL quotes the key in
# its DETAIL), a query with the userID as a parameter logged at DEBUG, and a failed statement
# logged by logger.exception as the API's error handler does.
DATABASE_ERRORS = f"""
import logging
from django.db import IntegrityError, connection
from sessions_app.models import Environment, KnownSession

environment = Environment.objects.get(pk=int(ENVIRONMENT_ID))
# An operator chasing a problem turns on Django's SQL lines.
logging.getLogger("django.db.backends").setLevel(logging.DEBUG)
connection.force_debug_cursor = True
KnownSession.objects.filter(user_id={SECRET_USER!r}).exists()
KnownSession.objects.create(environment=environment, user_id={SECRET_USER!r})
try:
    KnownSession.objects.create(environment=environment, user_id={SECRET_USER!r})
except IntegrityError as error:
    logging.getLogger("sessions_app.api.errors").exception("Unexpected error in SessionView")
    logging.getLogger("sessions_app").warning("It failed: %s", error, exc_info=True)
    # As Celery reports a task that raised: the error's repr in the message.
    logging.getLogger("celery.app.trace").error(
        "Task %s raised unexpected: %s", "run_job", repr(error), exc_info=True
    )
print("done", flush=True)
"""


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_database_errors_and_sql_parameters_are_withheld_from_real_log_output(
    transactional_db, environment, log_format
):
    from django.db import connection
    from reliability_support import database_url_of

    code = DATABASE_ERRORS.replace("ENVIRONMENT_ID", str(environment.pk))
    result, _ = run_django(
        code,
        DATABASE_URL=database_url_of(connection.settings_dict),
        LOG_LEVEL="DEBUG",
        LOG_FORMAT=log_format,
    )

    assert "done" in result.stdout, result.stderr[-3000:]
    output = result.stderr
    assert SECRET_USER not in output
    assert "IntegrityError" in output  # the kind of failure stays
    assert WITHHELD in output
    assert "sessions_app_knownsession" in output  # the SQL, without its values, stays


@pytest.fixture
def refusing_database(transactional_db):
    """PostgreSQL refuses an audit row and quotes its data in DETAIL, as it does for a
    duplicate key or a value jsonb cannot hold."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's messages quote no data")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_and_quote() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'refused row for %', NEW.user_id "
            "USING ERRCODE = '22023', DETAIL = 'Row: ' || NEW.request_sent::text; "
            "END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_and_quote BEFORE INSERT ON sessions_app_auditentry "
            "FOR EACH ROW EXECUTE FUNCTION refuse_and_quote()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_and_quote ON sessions_app_auditentry")
        cursor.execute("DROP FUNCTION refuse_and_quote()")


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_request_that_fails_in_the_database_logs_no_value(
    refusing_database, sandbox, environment, support, test_broker, tmp_path, log_format
):
    sandbox.set_state(
        environment.project.voiceflow_project_id,
        SECRET_USER,
        {"stack": [], "storage": {}, "variables": {}},
    )
    env = process_env(test_broker, LOG_FORMAT=log_format)
    web = WebServer(env, tmp_path / "web.log").start()
    try:
        _, token = AuthToken.objects.create(support, expiry=None)
        response = httpx.patch(
            f"{web.url}/api/v1/environments/{environment.pk}/sessions/state/variables",
            params={"user": SECRET_USER},
            json={"note": SECRET_VALUE},
            headers={"Authorization": f"Token {token}"},
            timeout=60,
        )
        log = web.log()
    finally:
        web.kill()

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert SECRET_USER not in log and SECRET_VALUE not in log
    assert "DataError" in log and "SQLSTATE 22023" in log
