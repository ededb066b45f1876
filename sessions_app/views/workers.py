"""The Workers page, for Ops: each worker, its last heartbeat, what it is running, the queue.

In the spirit of Celery Flower's dashboard, read from the heartbeats the workers write to the
database (sessions_app/workers.py), so it works on either broker. It refreshes itself.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import workers
from ..access import require
from ..models import BulkJob, WorkerHeartbeat

PERMISSION = "run_bulk_jobs"
# Workers that stopped or vanished stay listed this long, so a crash is seen after the fact.
GONE_SHOWN_HOURS = 24


@require_GET
def worker_list(request: HttpRequest) -> HttpResponse:
    require(request, PERMISSION)
    now = timezone.now()
    rows = []
    recent = WorkerHeartbeat.objects.filter(
        last_seen_at__gte=now - timezone.timedelta(hours=GONE_SHOWN_HOURS)
    )
    job_ids = {task["job_id"] for row in recent for task in row.active if task.get("job_id")}
    jobs = BulkJob.objects.in_bulk(job_ids)
    for heartbeat in recent:
        live = workers.is_live(heartbeat, now)
        rows.append(
            {
                "worker": heartbeat,
                "state": "live" if live else ("stopped" if heartbeat.stopped_at else "lost"),
                "seconds_ago": round((now - heartbeat.last_seen_at).total_seconds()),
                # What a lost worker had in hand is not running any more.
                "tasks": [
                    {**task, "job": jobs.get(task.get("job_id"))} for task in heartbeat.active
                ]
                if live
                else [],
            }
        )
    stalled = list(workers.stalled_jobs().select_related("environment__project"))
    context = {
        "rows": rows,
        "live_count": sum(1 for row in rows if row["state"] == "live"),
        "queue_length": workers.queue_length(),
        "stalled": stalled,
        "what_to_do": workers.WHAT_TO_DO,
        "heartbeat_s": settings.WORKER_HEARTBEAT_S,
    }
    template = "workers/_workers.html" if request.htmx else "workers/list.html"
    return render(request, template, context)
