"""gunicorn's own log lines (start-up, worker boots and time-outs) go through the settings'
LOGGING, so LOG_FORMAT=json makes them JSON like every other line. The Procfile's web process
loads this with `--config python:voiceflow_admin.gunicorn`; everything else is on its command
line."""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceflow_admin.settings")

logconfig_dict = {
    **settings.LOGGING,
    "loggers": {
        **settings.LOGGING["loggers"],
        # gunicorn gives its logger a handler of its own and stops propagation before applying
        # this; naming it here replaces both.
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
