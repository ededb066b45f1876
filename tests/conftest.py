"""Shared fixtures: a real sandbox process over HTTP, projects registered in it, and personas.

Tests talk to the sandbox over sockets exactly as the product does; they read back the truth
from the sandbox's control API (`sandbox.state(...)`), never from the dashboard.
"""

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sandbox_process
from django.test import Client
from kombu import pools as kombu_pools
from persona_support import create_persona
from project_form_support import STORED_PROJECT_API_KEY
from step_up_support import confirmed_minutes_ago

ROOT = Path(__file__).resolve().parent.parent
# This test process's part of what test runs on one machine share: its PostgreSQL test database,
# its queue on the shared Redis, its workers' names. The process id keeps runs at the same time
# apart; the random part keeps a later process that gets the same id (or one in another
# container on the same servers) from inheriting a killed run's queue or database.
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"


class Sandbox(sandbox_process.Sandbox):
    """A running sandbox process and its control API (docs/sandbox.md)."""

    def register_project(self, *, production_published: bool = True) -> dict:
        """A project only this test uses: its own key, so budgets and stats are its own."""
        project_id = secrets.token_hex(12)
        registration = {
            "project_id": project_id,
            "api_key": f"VF.DM.{project_id}.{secrets.token_hex(16)}",
            "access_token": f"vfp_{secrets.token_hex(8)}_{secrets.token_hex(16)}",
            "name": f"Test project {project_id[-6:]}",
            "versions": {
                "development": secrets.token_hex(12),
                "production": secrets.token_hex(12) if production_published else None,
            },
        }
        self.control.post("/_sandbox/projects", json=registration).raise_for_status()
        return registration

    def reset_knobs(self) -> None:
        self.control.post("/_sandbox/knobs/reset").raise_for_status()


def start_sandbox(*extra_args: str) -> Sandbox:
    url, process = sandbox_process.start_sandbox(extra_args)
    ALLOWED_PRIVATE_URLS.append(url)
    os.environ["VOICEFLOW_ALLOW_PRIVATE_URLS"] = ",".join(ALLOWED_PRIVATE_URLS)  # for workers
    return Sandbox(url, process)


# The dashboard sends nothing to loopback addresses except the origins this setting names
# (docs/security.md); every sandbox a test starts is added, in this process and its workers.
ALLOWED_PRIVATE_URLS: list[str] = []


@pytest.fixture(autouse=True)
def _sandboxes_allowed(settings):
    for url in settings.VOICEFLOW_ALLOW_PRIVATE_URLS:
        if url not in ALLOWED_PRIVATE_URLS:
            ALLOWED_PRIVATE_URLS.append(url)
    settings.VOICEFLOW_ALLOW_PRIVATE_URLS = ALLOWED_PRIVATE_URLS


def stop_sandbox(sandbox: Sandbox) -> None:
    sandbox.close()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    running = start_sandbox()
    yield running
    stop_sandbox(running)


@pytest.fixture(scope="session")
def demo_sandbox() -> Iterator[Sandbox]:
    """A sandbox of its own for the demo project that `make start` shows, so other tests'
    changes to the shared sandbox's demo users never reach the README's screenshots."""
    running = start_sandbox()
    yield running
    stop_sandbox(running)


@pytest.fixture
def own_sandbox() -> Iterator[Sandbox]:
    """A sandbox of the test's own with fresh demo data: the shared one's demo users may have
    been edited by other tests. Started before the worker, which learns the origins it may
    send requests to when it starts."""
    running = start_sandbox()
    yield running
    stop_sandbox(running)


@pytest.fixture
def var_dir(settings, tmp_path) -> Path:
    """VAR_DIR of the test's own (the first admin's password file, `bootstrap`'s demo state)."""
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def demo(db, demo_sandbox: Sandbox) -> dict:
    """The demo project registered and its users indexed, as `make start` leaves them: its
    environments by label ("Development", "Production")."""
    from sessions_app.discovery.tasks import _refresh
    from sessions_app.management.commands.bootstrap import DEMO_HISTORY_HOURS
    from sessions_app.sandbox_registration import register_demo_project

    environments = register_demo_project(demo_sandbox.url)
    for environment in environments:
        _refresh(environment, DEMO_HISTORY_HOURS, this_environment_only=False)
    return {environment.label: environment for environment in environments}


@pytest.fixture
def clean_knobs(sandbox: Sandbox) -> Iterator[Sandbox]:
    """For tests that turn sandbox knobs: they are back to defaults afterwards."""
    yield sandbox
    sandbox.reset_knobs()


# ---- the sandbox's own tests: a sandbox without the demo for each test module ----


@pytest.fixture(scope="module")
def bare_sandbox() -> Iterator[sandbox_process.Sandbox]:
    """A sandbox started with `--no-demo`, shared by the tests of one module; each test
    registers a project of its own (`own_project`), so knobs, budgets and states stay apart."""
    running = sandbox_process.Sandbox(*sandbox_process.start_sandbox(["--no-demo"]))
    yield running
    running.close()


@pytest.fixture
def own_project(bare_sandbox: sandbox_process.Sandbox) -> sandbox_process.RegisteredProject:
    return bare_sandbox.register_project()


@pytest.fixture
def legacy_api(
    bare_sandbox: sandbox_process.Sandbox, own_project: sandbox_process.RegisteredProject
) -> Iterator[httpx.Client]:
    """The legacy state API (/state/user/…) of `bare_sandbox` with `own_project`'s key and the
    development version, as the product's client calls it."""
    with bare_sandbox.client(own_project) as client:
        yield client


@pytest.fixture
def sandbox_project(sandbox: Sandbox) -> dict:
    return sandbox.register_project()


@pytest.fixture
def project(db, sandbox: Sandbox, sandbox_project: dict):
    from sessions_app.models import Project

    return Project.objects.create(
        name=sandbox_project["name"],
        voiceflow_project_id=sandbox_project["project_id"],
        api_key=sandbox_project["api_key"],
        access_token=sandbox_project["access_token"],
        runtime_url=sandbox.url,
        realtime_url=sandbox.url,
        analytics_url=sandbox.url,
        project_api_url=sandbox.url,
        budget_per_minute=100_000,
    )


@pytest.fixture
def environment(project):
    from sessions_app.models import Environment

    return Environment.objects.create(
        project=project, label="Development", version_id="development", badge="green"
    )


@pytest.fixture
def production_environment(project):
    from sessions_app.models import Environment

    return Environment.objects.create(
        project=project,
        label="Production",
        version_id="production",
        realtime_version="published",
        badge="red",
        is_production=True,
    )


@pytest.fixture
def stored_project(db):
    """A project with a Development and a Production environment, stored without a sandbox
    (its runtime URL is never called): for the pages that edit projects."""
    from sessions_app.models import Environment, Project

    project = Project.objects.create(
        name="Pizzeria",
        voiceflow_project_id="0123456789abcdef01234567",
        api_key=STORED_PROJECT_API_KEY,
        runtime_url="https://general-runtime.example.com",
    )
    Environment.objects.create(project=project, label="Development", badge="green")
    Environment.objects.create(
        project=project,
        label="Production",
        version_id="production",
        badge="red",
        is_production=True,
    )
    return project


@pytest.fixture
def realtime_environment(project):
    """Like `environment`, on a project that uses the Realtime state API (main, draft)."""
    from sessions_app.models import Environment, Project

    project.state_api = Project.StateApi.REALTIME
    project.save(update_fields=["state_api"])
    return Environment.objects.create(
        project=project, label="Development", version_id="development", alias="main", badge="green"
    )


# ---- personas: one per role, plus an outsider who is signed in but holds no role ----


@pytest.fixture
def viewer(db):
    return create_persona("vera-viewer", "Viewer")


@pytest.fixture
def support(db):
    return create_persona("sam-support", "Support")


@pytest.fixture
def ops(db):
    return create_persona("olga-ops", "Ops")


@pytest.fixture
def admin_user(db):
    return create_persona("ada-admin", "Admin")


@pytest.fixture
def outsider(db):
    return create_persona("oscar-outsider", None)


def _signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user, backend="sessions_app.access.PermissionsBackend")
    return client


@pytest.fixture
def client_for_user() -> Callable[..., Client]:
    """A page client signed in as the user it is given (another browser each call)."""
    return _signed_in_client


@pytest.fixture
def viewer_client(viewer) -> Client:
    return _signed_in_client(viewer)


@pytest.fixture
def support_client(support) -> Client:
    return _signed_in_client(support)


@pytest.fixture
def ops_client(ops) -> Client:
    return _signed_in_client(ops)


@pytest.fixture
def admin_client_(admin_user) -> Client:
    return _signed_in_client(admin_user)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _signed_in_client(outsider)


@pytest.fixture
def stale_admin(client_for_user, admin_user) -> Client:
    """An Admin's page client whose password confirmation is an hour old (step-up)."""
    client = client_for_user(admin_user)
    confirmed_minutes_ago(client, 60)
    return client


@pytest.fixture
def objects_of_every_route(environment, ops, admin_user) -> dict:
    """One object of each kind a URL names (a job, an audit entry, a token, an account...), for
    the tests that visit every URL of the product."""
    from knox.models import AuthToken

    from sessions_app import schedules, segments
    from sessions_app.known_sessions import note_session
    from sessions_app.models import AuditEntry, BulkJob

    job = BulkJob.objects.create(
        kind=BulkJob.Kind.PRELOAD, environment=environment, created_by=ops, total_items=0
    )
    entry = AuditEntry.objects.create(
        actor=ops,
        source=AuditEntry.Source.PAGE,
        project=environment.project,
        environment=environment,
        user_id="matrix-user",
        action=AuditEntry.Action.SET_VARIABLES,
        outcome=AuditEntry.Outcome.SUCCEEDED,
        state_before={},
        state_after={"stack": [], "storage": {}, "variables": {"a": 1}},
    )
    token, _ = AuthToken.objects.create(admin_user, expiry=None)
    known = note_session(environment, "matrix-user", {"variables": {"a": 1}})
    segment = segments.save_segment(environment, ops, name="matrix", conditions=[])
    schedule = schedules.save_schedule(
        environment, ops, name="matrix", kind="reset", segment=segment, cron="0 2 * * *"
    )
    return {
        "known": known,
        "segment": segment,
        "schedule": schedule,
        "environment": environment,
        "job": job,
        "entry": entry,
        "token": token,
        "account": ops,
    }


def pytest_report_header(config) -> str:
    database = os.environ.get("DATABASE_URL", "sqlite (embedded default)")
    broker = os.environ.get("CELERY_BROKER_URL", "filesystem:// (embedded default)")
    return f"database: {database.split('@')[-1]}; broker: {broker}"


# ---- pages in a real browser: Debian's Chromium driven by Playwright ----

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Personas are created for nearly every test; the production hasher's deliberate slowness
    # would dominate the suite's run time without testing anything.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _plain_static_files() -> Iterator[None]:
    """The manifest storage and STATIC_ROOT need `collectstatic`; tests serve the files straight
    from static/ through the finders. For the whole session, because the live server builds its
    middleware once."""
    from django.conf import settings
    from django.test import override_settings

    with override_settings(
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        STATIC_ROOT=None,
        WHITENOISE_USE_FINDERS=True,
    ):
        yield


@pytest.fixture(scope="session")
def browser(django_db_setup):
    """Chromium for the session. It needs the test database first, so it is closed before the
    database is dropped."""
    import shutil

    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the Django ORM calls that tests
    # make between browser steps are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        # While Playwright's loop runs in this thread, Django's connections belong to a context
        # of their own, which nothing else closes: an open one would keep the test database
        # from being dropped at the end of the run.
        connections.close_all()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab on the live dashboard; fails the test on any CSP violation or JS error."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    tab.problems = problems
    yield tab
    context.close()
    assert not problems, problems


# ---- a real Celery worker process on the test database ----


class CeleryWorker:
    """`celery -A voiceflow_admin worker --beat` in its own process group, on the test database
    and the test broker. `kill()` is a SIGKILL of the whole group (a crash); `start()` again
    starts a fresh one."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"worker-{self.starts}.log"

    def start(self, **settings: str) -> "CeleryWorker":
        import time

        from reliability_support import VENV_BIN

        self.starts += 1
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "voiceflow_admin",
                "worker",
                "--beat",
                "--schedule",
                str(self.log_dir / f"beat-{self.starts}"),
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"test-{RUN_ID}-{self.starts}@%h",
            ],
            cwd=ROOT,
            env={**self.env, **settings},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while " ready." not in self.log_path.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"The Celery worker did not start:\n{self.log_path.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        return self

    def kill(self) -> None:
        from reliability_support import kill_process_group

        kill_process_group(self.process)
        self.process = None


@pytest.fixture(scope="session", autouse=True)
def _own_task_queue() -> None:
    """A queue of this test process's own, for it and every process it starts: parallel test
    processes (pytest -n) share one Redis, and a worker must never take another process's job,
    whose database it cannot see."""
    from voiceflow_admin.celery import app

    queue = f"test-{RUN_ID}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    app.conf.task_default_queue = queue


@pytest.fixture(scope="session")
def test_broker(tmp_path_factory):
    """The broker the tests and their workers share: Redis when CELERY_BROKER_URL says so,
    otherwise a filesystem queue of this test session's own (never the one `make start` uses)."""
    from voiceflow_admin.celery import app

    env = {"CELERY_BROKER_URL": app.conf.broker_url}
    if app.conf.broker_url.startswith("filesystem://"):
        folder = tmp_path_factory.mktemp("broker")
        for name in ("queue", "control"):
            (folder / name).mkdir()
        app.conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
        env["EMBEDDED_BROKER_DIR"] = str(folder)
    # Connections opened before now (a page that queued a task before this fixture ran) would
    # still use the old folder. kombu keeps its pools in a registry keyed by the broker URL, so
    # closing app._pool alone would leave a closed pool there for the next publish to acquire
    # from ("Acquire on closed pool"): reset the registry and the app's producer pool too.
    kombu_pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    return env


@pytest.fixture
def celery_worker(transactional_db, test_broker, tmp_path) -> Iterator[CeleryWorker]:
    """A started worker; its settings make leases and the sweep fast enough for tests."""
    from reliability_support import process_env

    from voiceflow_admin.celery import app

    app.control.purge()  # messages a previous test left for jobs that no longer exist
    worker = CeleryWorker(process_env(test_broker), tmp_path)
    worker.start()
    yield worker
    # The test's outcome is already in the database: a warm shutdown (which waits for the beat
    # and the pool, up to 15 s) would only slow the suite down.
    worker.kill()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """A test database of this run's own (file or PostgreSQL database), so test runs started
    side by side on one machine never share or delete each other's database."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    if database["ENGINE"].endswith("sqlite3"):
        base = Path(test.get("NAME") or ROOT / "var" / "test-db.sqlite3")
        test["NAME"] = str(base.with_name(f"{base.stem}-{RUN_ID}{base.suffix}"))
    else:
        test["NAME"] = f"{test.get('NAME') or 'test_' + database['NAME']}_{RUN_ID}"
