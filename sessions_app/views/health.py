import os

import redis
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import workers

# A health check answers within seconds whatever is down.
BROKER_CHECK_TIMEOUT_S = 3.0


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: the process answers and its database does.

    `?deep=1` also connects to the Celery broker, for a readiness check that should fail when
    jobs could not be queued; a load balancer's liveness check should not ask for it, so a
    broker outage never takes the pages down.

    `?queue=1` is for a monitor of the job queue: it fails (503, `"queue": "stalled"`) while
    jobs are queued or running, or tasks wait in the queue, and no worker is alive; it also
    reports how many workers are alive, the stalled jobs' ids and the queue's length.
    """
    checks = {"database": _database_ok()}
    if request.GET.get("deep") == "1":
        checks["broker"] = _broker_ok()
    details: dict = {}
    if request.GET.get("queue") == "1" and checks["database"]:
        checks["queue"], details = _queue_ok()
    healthy = all(checks.values())
    body = {"ok": healthy} | {name: "ok" if ok else "unavailable" for name, ok in checks.items()}
    if "queue" in checks and not checks["queue"]:
        body["queue"] = "stalled"
    return JsonResponse(body | details, status=200 if healthy else 503)


def _queue_ok() -> tuple[bool, dict]:
    """Whether queued work will move: some worker is alive, or there is no work waiting."""
    live = workers.live_workers().count()
    stalled = list(workers.stalled_jobs().values_list("pk", flat=True))
    waiting = workers.queue_length()
    ok = not stalled and not (live == 0 and waiting)
    return ok, {"workers": live, "stalled_jobs": stalled, "queue_length": waiting}


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not healthy", whatever the driver raised
        return False
    return True


def _broker_ok() -> bool:
    """Whether a job could be queued now: the broker's folders exist, or Redis answers a PING.

    Redis is asked directly, once: the broker client's own retries would let a broker that
    hangs hold the health check for a minute.
    """
    from voiceflow_admin.celery import app

    url = app.conf.broker_url
    if url.startswith("filesystem://"):
        folders = app.conf.broker_transport_options
        return all(
            os.access(folders[name], os.W_OK) for name in ("data_folder_in", "control_folder")
        )
    client = redis.Redis.from_url(
        url,
        socket_timeout=BROKER_CHECK_TIMEOUT_S,
        socket_connect_timeout=BROKER_CHECK_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
