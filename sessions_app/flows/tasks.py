"""Fetching a project file through the Project API, in the worker. Tasks take ids."""

import logging

from celery import shared_task
from django.utils import timezone

from ..encryption import UndecryptableSecret
from ..models import Environment, FlowMap
from ..voiceflow import UpstreamFailure, UpstreamTimeout, VoiceflowError, client_for
from .loading import store_project_file
from .vf import ProjectFileError, parse_project_file

logger = logging.getLogger(__name__)

# The worker waits this long at most for a budget slot; a busy project is fetched later.
BACKGROUND_MAX_WAIT_S = 30.0
# Voiceflow out of reach: tried again this many times, this many seconds apart.
UNREACHABLE_RETRIES = 10
UNREACHABLE_RETRY_S = 6


def _failed(row_id: int, message: str) -> None:
    # A map that was loaded before keeps its names; only a map never loaded shows the failure.
    FlowMap.objects.filter(pk=row_id).exclude(status=FlowMap.Status.READY).update(
        status=FlowMap.Status.FAILED, error=message[:1000], requested_at=timezone.now()
    )


@shared_task(bind=True, name="sessions_app.flows.tasks.fetch_flow_map")
def fetch_flow_map(self, flow_map_id: int, environment_id: int) -> str:
    """Fetch and store the project file of one map's version; returns the outcome. Voiceflow
    out of reach (or the demo's sandbox not listening yet) is tried again a few times."""
    row = FlowMap.objects.defer("flows").filter(pk=flow_map_id).first()
    environment = Environment.objects.select_related("project").filter(pk=environment_id).first()
    if row is None or environment is None:
        return "gone"
    try:
        document = client_for(environment, max_wait_s=BACKGROUND_MAX_WAIT_S).export_project(
            row.version_key
        )
        parsed = parse_project_file(document)
    except UndecryptableSecret:
        _failed(row.pk, "The project's API key does not decrypt; enter it again on its page.")
        return "failed"
    except (UpstreamTimeout, UpstreamFailure) as error:
        if error.status is None and self.request.retries < UNREACHABLE_RETRIES:
            raise self.retry(countdown=UNREACHABLE_RETRY_S) from error
        logger.warning("Flow map of %s could not be fetched: %s", row, error)
        _failed(row.pk, str(error))
        return "failed"
    except (VoiceflowError, ProjectFileError) as error:
        logger.warning("Flow map of %s could not be fetched: %s", row, error)
        _failed(row.pk, str(error))
        return "failed"
    store_project_file(row.project_id, row.version_key, parsed, source=FlowMap.Source.API)
    return "ready"
