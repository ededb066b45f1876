"""Settings, all read from the environment (or a `.env` file beside manage.py).

Every variable is documented in README.md ("Configuration"). With no configuration the product
runs embedded: SQLite and a filesystem Celery broker under `var/`. `DATABASE_URL` and
`CELERY_BROKER_URL` switch to PostgreSQL and Redis.
"""

import logging
import os
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import environ
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(env.str("VOICEFLOW_ADMIN_ENV_FILE", default=str(BASE_DIR / ".env")))
# Where a local install keeps its database, broker folder and files (`make start`).
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var"))).resolve()


def _required(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. Run `make start` once to generate a .env file, "
            f"or set {name} in the environment (see README.md, Configuration)."
        )
    return value


def _fernet_keys(name: str) -> list[str]:
    keys = [key.strip() for key in _required(name).split(",") if key.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name}: key number {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from exc
    return keys


def _typed(name: str, default, parse: Callable[[str], object], expected: str):
    """The variable parsed by `parse`, or `default` when unset or empty; never a silent guess."""
    raw = env.str(name, default="").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be {expected}; got {raw!r}.") from exc


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _at_least(minimum: float, parse: Callable[[str], float]) -> Callable[[str], float]:
    def parse_bounded(raw: str) -> float:
        value = parse(raw)
        if value < minimum:
            raise ValueError(raw)
        return value

    return parse_bounded


def _percent_up_to_90(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 90:
        raise ValueError(raw)
    return value


def _bool(name: str, default: bool) -> bool:
    return _typed(name, default, _parse_bool, "1/0, true/false, yes/no or on/off")


def _int(name: str, default: int, minimum: int = 0) -> int:
    return _typed(name, default, _at_least(minimum, int), f"a whole number >= {minimum}")


def _seconds(name: str, default: float) -> float:
    return _typed(name, default, _at_least(0.001, float), "a number of seconds > 0")


def _log_level(name: str, default: str) -> str:
    def parse(raw: str) -> str:
        if not isinstance(logging.getLevelName(raw.upper()), int):
            raise ValueError(raw)
        return raw.upper()

    return _typed(name, default, parse, "DEBUG, INFO, WARNING, ERROR or CRITICAL")


def _database(name: str, default: str) -> dict:
    url = env.str(name, default="").strip() or default
    scheme = urlsplit(url).scheme
    if scheme not in ("sqlite", "postgres", "postgresql", "pgsql"):
        # The URL may hold a password: name the variable and scheme, never echo the value.
        raise ImproperlyConfigured(
            f"{name} must be postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH "
            f"(the scheme is {scheme or 'missing'!r})."
        )
    config = env.db_url_config(url)
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database (…/NAME at the end).")
    return config


def _broker(name: str, default: str) -> str:
    url = env.str(name, default="").strip() or default
    scheme = urlsplit(url).scheme
    if scheme not in ("filesystem", "redis", "rediss"):
        raise ImproperlyConfigured(
            f"{name} must be redis://HOST:PORT/DB, rediss://… or filesystem:// "
            f"(the scheme is {scheme or 'missing'!r})."
        )
    if scheme == "filesystem" and not urlsplit(url).hostname:
        # The folder transport has no host; naming one keeps kombu from warning "No hostname
        # was supplied" on every connection.
        url = "filesystem://localhost/"
    return url


def _http_url(name: str, default: str) -> str:
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(raw)
        return raw

    return _typed(name, default, parse, "an http:// or https:// URL")


def _http_urls(name: str, default: list[str]) -> list[str]:
    def parse(raw: str) -> list[str]:
        urls = [url.strip() for url in raw.split(",") if url.strip()]
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(raw)
        return urls

    return _typed(name, default, parse, "a comma-separated list of http:// or https:// URLs")


def _time_zone(name: str, default: str) -> str:
    def parse(raw: str) -> str:
        try:
            zoneinfo.ZoneInfo(raw)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(raw) from exc
        return raw

    return _typed(name, default, parse, "an IANA time zone such as UTC or Europe/Paris")


SECRET_KEY = _required("DJANGO_SECRET_KEY")
DEBUG = _bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Newest key first: it encrypts; every key in the list decrypts (rotation).
ENCRYPTION_KEYS = _fernet_keys("VOICEFLOW_ADMIN_ENCRYPTION_KEYS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "django_celery_beat",
    "sessions_app",
]

MIDDLEWARE = [
    "sessions_app.logs.RequestIdMiddleware",
    "sessions_app.api.limits.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "voiceflow_admin.urls"
WSGI_APPLICATION = "voiceflow_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sessions_app.context_processors.workspace",
            ],
        },
    },
]

DATABASES = {"default": _database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions and WAL let the web process and the worker write the same file
    # without "database is locked" errors on lock upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a Celery worker process can open the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    # SQLite creates the file but not its folder, which a fresh clone does not have yet.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    VAR_DIR.mkdir(exist_ok=True)
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)
    # No query may hold a request, a worker or a lock forever; lock waits count too.
    statement_timeout_ms = _int("DATABASE_STATEMENT_TIMEOUT_MS", 30000, minimum=1)
    DATABASES["default"]["OPTIONS"]["options"] = " ".join(
        [
            DATABASES["default"]["OPTIONS"].get("options", ""),
            f"-c statement_timeout={statement_timeout_ms}",
        ]
    ).strip()
    # A server that vanishes mid-query (no FIN, e.g. a network partition) is noticed within
    # about a minute instead of never: a blocked read has no time-out of its own.
    keepalives = {"keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
    DATABASES["default"]["OPTIONS"] = keepalives | DATABASES["default"]["OPTIONS"]
    DATABASES["default"]["CONN_MAX_AGE"] = _int("DATABASE_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend reading a user's permissions in one query (access.py).
    "sessions_app.access.PermissionsBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (django-axes): lock a username+address pair after repeated failures.
AXES_FAILURE_LIMIT = _int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = _typed(
    "LOGIN_COOLOFF_HOURS", 0.25, _at_least(0.001, float), "a number of hours > 0"
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The API answers a lockout in its JSON error shape; pages show the template above.
AXES_LOCKOUT_CALLABLE = "sessions_app.api.errors.lockout_response"

SESSION_COOKIE_AGE = _int("SESSION_AGE_SECONDS", 8 * 3600, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Behind TLS (a proxy that terminates HTTPS), turn on secure cookies, redirects and HSTS.
HTTPS = _bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
# Load balancers probe the web process directly over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = _int("DJANGO_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = _bool("DJANGO_HSTS_PRELOAD", False)
if HTTPS and not SECURE_HSTS_PRELOAD:
    # Preloading is a commitment browsers cannot quickly undo (hstspreload.org), so it is opt-in;
    # not having opted in is a decision, not a deployment problem.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
if _bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content Security Policy: no inline scripts or styles anywhere; every script is a static file.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = _time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Uploads larger than this go to a temporary file, so a 100,000-row CSV never sits in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

REST_FRAMEWORK = {
    # Token first: an unauthenticated request is answered 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "sessions_app.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "sessions_app.api.errors.api_exception_handler",
    # One validator for JSON bodies; states answered as Voiceflow answers them (api/json_io.py).
    "DEFAULT_PARSER_CLASSES": [
        "sessions_app.api.json_io.CheckedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "sessions_app.api.json_io.StateJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Voiceflow Session Admin API",
    "DESCRIPTION": "Inspect and edit Voiceflow conversation sessions, run bulk jobs, read the "
    'audit trail. Errors share one shape: `{"error": {"code", "message", "details"?, '
    '"retry_after"?}}` (docs/api.md lists the codes).',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The API's `<id:…>` path converter: a database id of at most 18 digits.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}},
    # The kinds a segment job or a schedule can be (preload, reset, remove_variables).
    "ENUM_NAME_OVERRIDES": {
        "SegmentJobKindEnum": "sessions_app.schedules.SCHEDULABLE_KIND_CHOICES",
    },
}
REST_KNOX = {"TOKEN_TTL": None, "AUTO_REFRESH": False}

# Celery. The default broker is a folder on disk (kombu's filesystem transport): no server needed.
CELERY_BROKER_URL = _broker("CELERY_BROKER_URL", "filesystem://")
if os.environ.get("CELERY_BROKER_URL"):
    # Celery reads this variable itself and prefers it to the setting: give it the checked form.
    os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL
EMBEDDED_BROKER_DIR = Path(env.str("EMBEDDED_BROKER_DIR", default=str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(EMBEDDED_BROKER_DIR / "queue"),
        "data_folder_out": str(EMBEDDED_BROKER_DIR / "queue"),
        "control_folder": str(EMBEDDED_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Socket time-outs: a publish to a Redis that vanished without closing the connection fails
    # after seconds instead of holding the request forever.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
    }
# Job progress lives in the database (BulkJob/BulkItem); task results are never read.
CELERY_TASK_IGNORE_RESULT = True
# Deployments that share one Redis keep their work apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-bulk-work": {
        "task": "sessions_app.bulk.tasks.sweep_stalled_jobs",
        "schedule": _seconds("BULK_SWEEP_INTERVAL_S", 15.0),
    },
    "purge-expired-audit-entries": {
        "task": "sessions_app.tasks.purge_expired_audit_entries",
        "schedule": 24 * 3600.0,
    },
    "end-due-campaigns": {
        "task": "sessions_app.segments.tasks.end_campaigns",
        "schedule": _seconds("CAMPAIGN_END_INTERVAL_S", 60.0),
    },
    "refresh-known-sessions-from-transcripts": {
        "task": "sessions_app.discovery.tasks.refresh_known_sessions",
        "schedule": _seconds("DISCOVERY_INTERVAL_S", 600.0),
    },
}
# Beat reads its schedule from the database (django-celery-beat): the entries above and every
# scheduled job (sessions_app/schedules.py), changed without restarting beat.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Notifications of jobs (sessions_app/notifications.py): outgoing mail, and the page address
# the message links to.
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="voiceflow-session-admin@localhost")
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")
# Each periodic discovery run imports the conversations of this many past hours.
DISCOVERY_LOOKBACK_HOURS = _int("DISCOVERY_LOOKBACK_HOURS", 24, minimum=1)

# Voiceflow.
VOICEFLOW_TIMEOUT_S = _seconds("VOICEFLOW_TIMEOUT_S", 10.0)
VOICEFLOW_DEFAULT_RUNTIME_URL = "https://general-runtime.voiceflow.com"
SANDBOX_URL = _http_url("SANDBOX_URL", "http://127.0.0.1:8200")
# Whether the local sandbox runs beside the dashboard: `make start` (scripts/start.py) sets it
# for the processes of Procfile.dev, which runs one; a deployment runs none.
SANDBOX_ENABLED = _bool("SANDBOX_ENABLED", False)
# Origins a project may point at although they are private, loopback or link-local addresses
# (docs/security.md). By default the sandbox's when it runs, and nothing private otherwise.
VOICEFLOW_ALLOW_PRIVATE_URLS = _http_urls(
    "VOICEFLOW_ALLOW_PRIVATE_URLS", [SANDBOX_URL] if SANDBOX_ENABLED else []
)
# Step-up confirmation: the password re-entered this recently covers high-impact work.
STEP_UP_MINUTES = _int("STEP_UP_MINUTES", 10, minimum=1)
STEP_UP_PRELOAD_THRESHOLD = _int("STEP_UP_PRELOAD_THRESHOLD", 1000, minimum=1)
# Variables whose values only roles with see_personal_data see: shell-style name patterns,
# case-insensitive (sessions_app/personal_data.py; values shaped like emails or phone numbers
# are hidden whatever their name).
PERSONAL_DATA_VARIABLES = [
    name.strip().lower()
    for name in env.str(
        "PERSONAL_DATA_VARIABLES",
        default="*email*,*phone*,*mobile*,*address*,customer_*,*first_name*,*last_name*,"
        "*full_name*,*birth*",
    ).split(",")
    if name.strip()
]
# 0 keeps audit entries forever.
AUDIT_RETENTION_DAYS = _int("AUDIT_RETENTION_DAYS", 365, minimum=0)
# Size limits (README, Configuration): an API body, a job's uploaded input, a job's rows.
API_MAX_BODY_MB = _int("API_MAX_BODY_MB", 2, minimum=1)
BULK_UPLOAD_MAX_MB = _int("BULK_UPLOAD_MAX_MB", 20, minimum=1)
BULK_MAX_ROWS = _int("BULK_MAX_ROWS", 100_000, minimum=1)
# Flow maps (docs/inspector.md): fetch a version's project file when a page first needs it, and
# again when the stored one is older than this many minutes (0: never again).
FLOW_MAP_FETCH = _bool("FLOW_MAP_FETCH", True)
FLOW_MAP_REFRESH_MINUTES = _int("FLOW_MAP_REFRESH_MINUTES", 60, minimum=0)
# How many userIDs the bulk engine works on at once in one worker process.
BULK_CONCURRENCY = _int("BULK_CONCURRENCY", 16, minimum=1)
# The share of each project's request budget a bulk job leaves free for people (pages, the API).
BULK_BUDGET_RESERVE_PERCENT = _typed(
    "BULK_BUDGET_RESERVE_PERCENT", 20, _percent_up_to_90, "a whole number from 0 to 90"
)
# How many tasks a started job is queued as, so that as many worker processes can share it.
BULK_TASKS_PER_JOB = _int("BULK_TASKS_PER_JOB", 1, minimum=1)
# A claimed bulk item whose worker has not finished it within this many seconds is re-queued.
BULK_LEASE_SECONDS = _int("BULK_LEASE_SECONDS", 60, minimum=5)
# How often each worker writes its heartbeat (the Workers page); three missed ones mean it is gone.
WORKER_HEARTBEAT_S = _seconds("WORKER_HEARTBEAT_S", 10.0)

# Exception reports hide any variable holding a credential (sessions_app/exception_reports.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "sessions_app.exception_reports.CredentialHidingFilter"

LOG_LEVEL = _log_level("LOG_LEVEL", "INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").strip().lower() or "plain"
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json; got {LOG_FORMAT!r}.")
# Python's warnings (a deprecation, a missing static folder) become log lines in that format too.
logging.captureWarnings(True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "sessions_app.logs.RequestIdFilter"},
        # What the database says about the data, and SQL parameters, never reach a line.
        "value_free": {"()": "sessions_app.logs.ValueFreeFilter"},
        "forbidden_without_traceback": {"()": "sessions_app.logs.ForbiddenWithoutTraceback"},
    },
    "formatters": {
        "plain": {
            "()": "sessions_app.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        # One JSON object a line; extra fields (request_id, job_id, outcome…) become keys.
        "json": {
            "()": "sessions_app.logs.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(process)d %(message)s",
            "timestamp": "time",
            "rename_fields": {"levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "value_free"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # httpx logs every request line at INFO; keep it quiet unless asked for.
        "httpx": {"level": _log_level("HTTPX_LOG_LEVEL", "WARNING")},
        "django.request": {"filters": ["forbidden_without_traceback"]},
    },
}
