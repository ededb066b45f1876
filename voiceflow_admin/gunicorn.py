"""gunicorn's settings for `make start` (Procfile.dev) and production (Procfile), loaded with
`--config python:voiceflow_admin.gunicorn`; the Procfile's command-line flags (workers, threads,
time-out from the environment) take precedence over the values here.

Slow clients: gunicorn's threaded worker gives a connection a thread as soon as its first bytes
arrive and then reads the request headers with a blocking read that has no time-out, so a few
clients that send part of their headers and stop ("slowloris") hold every thread and nothing else
is answered, `/healthz` included. Here a read or write that makes no progress for
CLIENT_TIMEOUT_S gives up and frees its thread, and each process has more threads than such
clients are likely to hold at once. That keeps `make start` answering; in production a buffering
reverse proxy in front (nginx, docs/deployment.md) is what keeps slow clients away altogether, as
gunicorn's own documentation advises.

gunicorn's own log lines (start-up, worker boots and time-outs) go through the settings'
LOGGING, so LOG_FORMAT=json makes them JSON like every other line.
"""

import logging
import os

from django.conf import settings
from gunicorn.workers.gthread import ThreadWorker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceflow_admin.settings")

# Seconds a client may stay silent while sending its request (or reading the answer).
CLIENT_TIMEOUT_S = 10.0


class SlowClientSafeThreadWorker(ThreadWorker):
    """gunicorn's gthread worker whose connections time out when a client stops sending."""

    def handle(self, conn):
        conn.sock.settimeout(CLIENT_TIMEOUT_S)
        return super().handle(conn)


class DropClientTimeouts(logging.Filter):
    """A client that went silent is not a server error worth a traceback in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], TimeoutError))


worker_class = "voiceflow_admin.gunicorn.SlowClientSafeThreadWorker"
workers = 2
threads = 16
timeout = 60
graceful_timeout = 30
keepalive = 5

logconfig_dict = {
    **settings.LOGGING,
    "filters": {
        **settings.LOGGING.get("filters", {}),
        "drop_client_timeouts": {"()": "voiceflow_admin.gunicorn.DropClientTimeouts"},
    },
    "loggers": {
        **settings.LOGGING["loggers"],
        # gunicorn gives its logger a handler of its own and stops propagation before applying
        # this; naming it here replaces both.
        "gunicorn.error": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["drop_client_timeouts"],
        },
    },
}
