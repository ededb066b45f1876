"""Voiceflow access for the rest of the product: `client_for(environment)` and the typed errors."""

from django.conf import settings

from . import budget
from .answers import StreamEvent, TurnAnswer
from .client import TRANSCRIPT_PAGE_MAX, SessionClient, Target
from .errors import (
    InvalidUserID,
    NoSessionApi,
    RateLimited,
    Unauthorized,
    UnknownEnvironment,
    UpstreamFailure,
    UpstreamTimeout,
    ValidationFailed,
    VoiceflowError,
)
from .transport import Transport
from .userids import edge_space_warning, user_id_warning, validate_user_id

__all__ = [
    "TRANSCRIPT_PAGE_MAX",
    "InvalidUserID",
    "NoSessionApi",
    "RateLimited",
    "SessionClient",
    "StreamEvent",
    "Target",
    "TurnAnswer",
    "Unauthorized",
    "UnknownEnvironment",
    "UpstreamFailure",
    "UpstreamTimeout",
    "ValidationFailed",
    "VoiceflowError",
    "client_for",
    "edge_space_warning",
    "user_id_warning",
    "validate_user_id",
]

# Interactive callers (pages, the REST API) wait this long at most for a budget slot; bulk
# workers wait as long as pacing needs.
INTERACTIVE_MAX_WAIT_S = 5.0


def client_for(
    environment, *, max_wait_s: float = INTERACTIVE_MAX_WAIT_S, bulk: bool = False
) -> SessionClient:
    """A client for one environment over the state API its project chose, paced by the
    project's shared request budget (`bulk`: in the bulk lane, after people; budget.py)."""
    project = environment.project
    target = Target(
        runtime_url=project.runtime_url,
        project_id=project.voiceflow_project_id,
        version_id=environment.version_id,
        api_key=project.api_key,
        state_api=project.state_api,
        realtime_url=project.realtime_url,
        analytics_url=project.analytics_url,
        project_api_url=project.project_api_url,
        access_token=project.access_token,
        environment_alias=environment.alias,
        realtime_version=environment.realtime_version,
    )

    def pacer() -> None:
        try:
            budget.pace(project.pk, project.budget_per_minute, max_wait_s=max_wait_s, bulk=bulk)
        except budget.BudgetWaitTooLong as exc:
            if exc.paused_by_voiceflow:
                raise RateLimited(
                    "Voiceflow's own rate limit for this project was reached (it answered 429 "
                    "and asked to wait); nothing was sent",
                    retry_after_s=exc.wait_s,
                    limited_by="voiceflow",
                ) from exc
            raise RateLimited(
                f"This dashboard's request budget for the project "
                f"({project.budget_per_minute}/min) is taken by other requests (bulk jobs, "
                "imports, other operators); nothing was sent",
                retry_after_s=exc.wait_s,
                limited_by="budget",
            ) from exc

    def on_rate_limited(retry_after_s: float) -> None:
        budget.defer(project.pk, retry_after_s)

    transport = Transport(
        timeout_s=settings.VOICEFLOW_TIMEOUT_S, pacer=pacer, on_rate_limited=on_rate_limited
    )
    return SessionClient(target, transport)
