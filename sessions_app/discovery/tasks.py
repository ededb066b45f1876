"""The periodic refresh of the known-sessions index (settings.CELERY_BEAT_SCHEDULE) and the
background read of imported users' states. Tasks take ids, never objects."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from ..encryption import UndecryptableSecret
from ..models import Environment
from ..voiceflow import UpstreamFailure, UpstreamTimeout, VoiceflowError
from .importing import import_from_transcripts, read_pending_states

logger = logging.getLogger(__name__)

# Background work waits this long at most for a budget slot; a project whose budget is taken by
# a bulk job is left for the next run rather than holding a worker.
BACKGROUND_MAX_WAIT_S = 60.0
# How long the first index of the demo project waits for the sandbox to listen: 20 × 3 s.
SANDBOX_WAIT_RETRIES = 20
SANDBOX_WAIT_RETRY_S = 3


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


def _refresh(environment: Environment, lookback_hours: int, *, this_environment_only: bool) -> int:
    """Import the users active in the last `lookback_hours` (in `environment`'s conversations
    only, or in any) into `environment`'s index, then read the states that changed; returns the
    number of userIDs found."""
    end = timezone.now()
    start = end - timedelta(hours=lookback_hours)
    report = import_from_transcripts(
        environment,
        start=start,
        end=end,
        this_environment_only=this_environment_only,
        max_wait_s=BACKGROUND_MAX_WAIT_S,
    )
    read = read_pending_states(environment, max_wait_s=BACKGROUND_MAX_WAIT_S)
    if read.stopped_by:
        logger.warning("Discovery: reading states in %s stopped: %s", environment, read.stopped_by)
    return report.user_ids


@shared_task(name="sessions_app.discovery.tasks.refresh_known_sessions")
def refresh_known_sessions() -> dict[int, int]:
    """Refresh every environment of every project with discovery enabled over the last
    DISCOVERY_LOOKBACK_HOURS. Returns the number of userIDs found per environment id; one
    environment's failure does not stop the others."""
    found: dict[int, int] = {}
    environments = Environment.objects.select_related("project").filter(
        project__discovery_enabled=True
    )
    for environment in environments:
        try:
            found[environment.pk] = _refresh(
                environment, settings.DISCOVERY_LOOKBACK_HOURS, this_environment_only=True
            )
        except (VoiceflowError, UndecryptableSecret) as error:
            logger.warning("Discovery: refreshing %s failed: %s", environment, error)
    return found


@shared_task(
    name="sessions_app.discovery.tasks.index_sandbox_sessions",
    bind=True,
    max_retries=SANDBOX_WAIT_RETRIES,
    default_retry_delay=SANDBOX_WAIT_RETRY_S,
)
def index_sandbox_sessions(self, environment_ids: list[int], lookback_hours: int) -> dict[int, int]:
    """The first refresh of the sandbox's demo project, queued by `manage.py bootstrap` so a
    newcomer's first screen already lists the demo users. The sandbox starts beside the worker
    and may not listen yet: an unreachable sandbox is retried rather than reported."""
    found: dict[int, int] = {}
    environments = Environment.objects.select_related("project").filter(pk__in=environment_ids)
    for environment in environments:
        try:
            # A state belongs to the project and user, not to a version: every demo user, whose
            # conversations were all in Production, is a session of Development too.
            found[environment.pk] = _refresh(
                environment, lookback_hours, this_environment_only=False
            )
        except (UpstreamFailure, UpstreamTimeout) as error:
            if self.request.retries >= self.max_retries:
                logger.warning(
                    "Discovery: the sandbox never answered for %s: %s", environment, error
                )
                return found
            raise self.retry(exc=error) from error
        except (VoiceflowError, UndecryptableSecret) as error:
            logger.warning("Discovery: indexing %s failed: %s", environment, error)
    return found
