"""Searching the known-sessions index by the time of the conversation's last activity."""

from datetime import timedelta

from django.db.models import F, QuerySet
from django.utils import timezone

from ..known_sessions import search_known_sessions
from ..models import Environment, KnownSession

# (value, label, window): what "active in the last …" offers.
ACTIVITY_WINDOWS = (
    ("15m", "Active in the last 15 minutes", timedelta(minutes=15)),
    ("1h", "Active in the last hour", timedelta(hours=1)),
    ("24h", "Active in the last 24 hours", timedelta(hours=24)),
    ("7d", "Active in the last 7 days", timedelta(days=7)),
)


def search_by_activity(
    environment: Environment,
    *,
    user_id_prefix: str = "",
    variable_value: str = "",
    active_within: timedelta | None = None,
) -> QuerySet[KnownSession]:
    """Known sessions, most recently active first (those without a known activity last).

    `variable_value` matches the last snapshot the dashboard read, `name=value` included;
    `active_within` keeps sessions whose transcripts show activity in that window.
    """
    sessions = search_known_sessions(
        environment, user_id_prefix=user_id_prefix, variable_value=variable_value
    )
    if active_within is not None:
        sessions = sessions.filter(last_activity_at__gte=timezone.now() - active_within)
    return sessions.order_by(F("last_activity_at").desc(nulls_last=True), "-last_seen_at")
