import os
from pathlib import Path

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceflow_admin.settings")

app = Celery("voiceflow_admin")
app.config_from_object("django.conf:settings", namespace="CELERY")


@signals.setup_logging.connect
def log_as_the_settings_say(**kwargs) -> None:
    """Workers and beat log like the web processes (LOG_LEVEL, LOG_FORMAT in settings), not in
    Celery's own format, so one log pipeline reads every process."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@app.on_after_configure.connect
def create_embedded_broker_folders(sender: Celery, **kwargs) -> None:
    """kombu's filesystem transport expects its folders to exist, in the worker (consuming) and
    in every web process (publishing) alike."""
    if not sender.conf.broker_url.startswith("filesystem://"):
        return
    options = sender.conf.broker_transport_options
    for name in ("data_folder_in", "data_folder_out", "control_folder"):
        Path(options[name]).mkdir(parents=True, exist_ok=True)


@signals.worker_ready.connect
def start_worker_heartbeat(sender, **kwargs) -> None:
    """The worker's heartbeat row (sessions_app/workers.py): the Workers page and /healthz."""
    from sessions_app.workers import start_heartbeat

    queues = sorted(sender.app.amqp.queues.consume_from or sender.app.amqp.queues)
    start_heartbeat(sender.hostname, os.getpid(), ",".join(queues))


@signals.worker_shutdown.connect
def stop_worker_heartbeat(**kwargs) -> None:
    from sessions_app.workers import stop_heartbeat

    stop_heartbeat()


app.autodiscover_tasks()
# Bulk job, discovery, flow-map and segment tasks live one level down (sessions_app/bulk/tasks.py, …).
app.autodiscover_tasks(
    ["sessions_app.bulk", "sessions_app.discovery", "sessions_app.flows", "sessions_app.segments"]
)
