"""Workers you can see: each Celery worker writes its own heartbeat to the database.

The heartbeat is a row per worker (`WorkerHeartbeat`), refreshed every WORKER_HEARTBEAT_S by a
thread of the worker's main process, with the tasks it has in hand (Celery's own record of the
requests it is executing). It works the same on the filesystem broker and on Redis, and needs
no event stream: a page or a monitor reads one small table. A worker whose row has not been
refreshed for WORKER_LOST_AFTER_HEARTBEATS beats is gone (killed, crashed, its machine off).

A queued or running job while no worker is alive is *stalled*: nothing will move it until a
worker starts, and then it resumes where it stopped (leases return the items that were in hand).
"""

import logging
import threading
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from .models import BulkJob, WorkerHeartbeat

logger = logging.getLogger(__name__)

# A worker is taken for gone after this many missed heartbeats.
WORKER_LOST_AFTER_HEARTBEATS = 3
ACTIVE_JOB_STATUSES = (BulkJob.Status.VALIDATING, BulkJob.Status.QUEUED, BulkJob.Status.RUNNING)
WHAT_TO_DO = (
    "No worker is running, so nothing moves this job. Start one: stop and run `make start` "
    "again on a local install, or start the worker service of your deployment "
    "(`celery -A voiceflow_admin worker`, docs/deployment.md). The job resumes where it stopped; "
    "no item is lost or run twice."
)


def lost_after() -> timedelta:
    return timedelta(seconds=settings.WORKER_HEARTBEAT_S * WORKER_LOST_AFTER_HEARTBEATS)


def live_workers():
    """The workers whose last heartbeat is recent and that did not say they stopped."""
    return WorkerHeartbeat.objects.filter(
        stopped_at__isnull=True, last_seen_at__gte=timezone.now() - lost_after()
    )


def is_live(heartbeat: WorkerHeartbeat, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return heartbeat.stopped_at is None and heartbeat.last_seen_at >= now - lost_after()


def stalled_jobs():
    """Queued or running jobs while no worker is alive (none when one is)."""
    if live_workers().exists():
        return BulkJob.objects.none()
    return BulkJob.objects.filter(status__in=ACTIVE_JOB_STATUSES)


def stall_of(job: BulkJob) -> dict | None:
    """Why a job is stalled and what to do, or None when it is not."""
    if job.status not in ACTIVE_JOB_STATUSES or live_workers().exists():
        return None
    last = WorkerHeartbeat.objects.order_by("-last_seen_at").first()
    if last is None:
        seen = "No worker has ever reported to this installation."
    else:
        seen = (
            f"The last worker ({last.hostname}) was last seen at "
            f"{timezone.localtime(last.last_seen_at):%Y-%m-%d %H:%M:%S}"
            + (" and said it stopped." if last.stopped_at else ".")
        )
    return {"reason": f"Stalled: {seen}", "what_to_do": WHAT_TO_DO}


def queue_length() -> int | None:
    """Messages waiting in the task queue (jobs' tasks not taken yet), or None if the broker
    cannot say now. Counted by the broker itself: files in the folder, or the Redis list."""
    from voiceflow_admin.celery import app

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1)
            with connection.channel() as channel:
                return channel.queue_declare(
                    queue=app.conf.task_default_queue, passive=True
                ).message_count
    except Exception as error:  # a queue not declared yet is empty; a broker down is unknown
        if "NOT_FOUND" in str(error):
            return 0
        logger.warning("Could not read the queue length: %s", error)
        return None


# ---- the worker's side ----


def _active_tasks() -> list[dict]:
    from celery.worker import state

    tasks = []
    for request in list(state.active_requests):
        args = request.args or ()
        since = request.time_start
        tasks.append(
            {
                "task": request.name,
                "job_id": args[0]
                if request.name.endswith((".run_job", ".validate_upload")) and args
                else None,
                "since": datetime.fromtimestamp(since, tz=UTC).isoformat() if since else None,
                "pid": request.worker_pid,
            }
        )
    return tasks


def beat_once(hostname: str, pid: int, queues: str, started_at: datetime) -> None:
    close_old_connections()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "pid": pid,
            "queues": queues[:500],
            "started_at": started_at,
            "last_seen_at": timezone.now(),
            "stopped_at": None,
            "active": _active_tasks(),
        },
    )


class Heartbeat:
    """The thread that keeps a worker's row fresh; a database outage skips beats, no more."""

    def __init__(self, hostname: str, pid: int, queues: str) -> None:
        self.hostname, self.pid, self.queues = hostname, pid, queues
        self.started_at = timezone.now()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self.thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                beat_once(self.hostname, self.pid, self.queues, self.started_at)
            except Exception as error:  # the next beat tries again
                logger.warning("Worker heartbeat not written: %s", error)
            if self.stopping.wait(settings.WORKER_HEARTBEAT_S):
                return

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        try:
            close_old_connections()
            WorkerHeartbeat.objects.filter(hostname=self.hostname).update(
                stopped_at=timezone.now(), active=[]
            )
        except Exception as error:
            logger.warning("Worker stop not recorded: %s", error)


_heartbeat: Heartbeat | None = None


def start_heartbeat(hostname: str, pid: int, queues: str) -> None:
    global _heartbeat
    _heartbeat = Heartbeat(hostname, pid, queues).start()


def stop_heartbeat() -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
