"""The periodic refresh of the known-sessions index (settings.CELERY_BEAT_SCHEDULE) and the
background read of imported users' states. Tasks take ids, never objects."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from ..models import Environment
from ..secrets import UndecryptableSecret
from ..voiceflow import VoiceflowError
from .importing import import_from_transcripts, read_pending_states

logger = logging.getLogger(__name__)

# Background work waits this long at most for a budget slot; a project whose budget is taken by
# a bulk job is left for the next run rather than holding a worker.
BACKGROUND_MAX_WAIT_S = 60.0


@shared_task(name="sessions_app.discovery.tasks.read_imported_states")
def read_imported_states(environment_id: int) -> int:
    """Read the states an import left waiting; returns how many were read."""
    environment = Environment.objects.select_related("project").filter(pk=environment_id).first()
    if environment is None:
        return 0
    try:
        report = read_pending_states(environment, max_wait_s=BACKGROUND_MAX_WAIT_S)
    except UndecryptableSecret:
        logger.warning(
            "Discovery: the credentials of %s do not decrypt; nothing read.", environment
        )
        return 0
    if report.stopped_by:
        logger.warning(
            "Discovery: reading states in %s stopped: %s", environment, report.stopped_by
        )
    return report.read


@shared_task(name="sessions_app.discovery.tasks.refresh_known_sessions")
def refresh_known_sessions() -> dict[int, int]:
    """For every environment of every project with discovery enabled: import the users active
    in the last DISCOVERY_LOOKBACK_HOURS, then read the states that changed. Returns the number
    of userIDs found per environment id; one environment's failure does not stop the others."""
    end = timezone.now()
    start = end - timedelta(hours=settings.DISCOVERY_LOOKBACK_HOURS)
    found: dict[int, int] = {}
    environments = Environment.objects.select_related("project").filter(
        project__discovery_enabled=True
    )
    for environment in environments:
        try:
            report = import_from_transcripts(
                environment,
                start=start,
                end=end,
                this_environment_only=True,
                max_wait_s=BACKGROUND_MAX_WAIT_S,
            )
            found[environment.pk] = report.user_ids
            read = read_pending_states(environment, max_wait_s=BACKGROUND_MAX_WAIT_S)
        except (VoiceflowError, UndecryptableSecret) as error:
            logger.warning("Discovery: refreshing %s failed: %s", environment, error)
            continue
        if read.stopped_by:
            logger.warning(
                "Discovery: reading states in %s stopped: %s", environment, read.stopped_by
            )
    return found
