"""Segments: saved questions over the known-sessions index ("everyone stuck at this block").

`conditions.py` says what a condition means, as a query and against a live state; this module
saves segments, counts and samples them, and refreshes their members from Voiceflow.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Min, QuerySet
from django.utils import timezone

from ..flows.loading import loaded_map_of
from ..models import Environment, KnownSession, Segment
from ..voiceflow import INTERACTIVE_MAX_WAIT_S, client_for
from .conditions import Condition, ConditionError, as_q, mismatch, parse_conditions

if TYPE_CHECKING:
    from ..discovery.importing import ReadReport

SAMPLE_SIZE = 20
# A refresh on request reads at most this many states (paced by the project's budget).
REFRESH_MAX = 500

__all__ = [
    "Condition",
    "ConditionError",
    "Preview",
    "members",
    "mismatch",
    "parse_conditions",
    "preview",
    "refresh_segment",
    "save_segment",
]


def save_segment(
    environment: Environment,
    actor: AbstractBaseUser | None,
    *,
    name: str,
    conditions,
    segment: Segment | None = None,
) -> Segment:
    """Create (or change) a segment after validating its conditions; bad input changes nothing.
    Flow and block names are resolved into IDs through the project's flow map now (both kept)."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ConditionError("Give the segment a name (at most 120 characters).")
    parsed = [
        condition.as_dict()
        for condition in parse_conditions(conditions, flow_map=loaded_map_of(environment))
    ]
    try:
        with transaction.atomic():
            if segment is None:
                return Segment.objects.create(
                    environment=environment,
                    name=name,
                    conditions=parsed,
                    created_by=actor if actor is not None and actor.is_authenticated else None,
                )
            segment.name, segment.conditions = name, parsed
            segment.save(update_fields=["name", "conditions", "updated_at"])
            return segment
    except IntegrityError:
        raise ConditionError(f"This environment already has a segment named {name!r}.") from None


def members(
    environment: Environment, conditions: list[Condition] | list[dict]
) -> QuerySet[KnownSession]:
    """The indexed sessions that match, most recently active first."""
    parsed = (
        parse_conditions(conditions)
        if conditions and isinstance(conditions[0], dict)
        else conditions
    )
    return (
        KnownSession.objects.filter(environment=environment)
        .filter(as_q(parsed))
        .order_by(F("last_activity_at").desc(nulls_last=True), "pk")
    )


@dataclass(frozen=True)
class Preview:
    conditions: list[Condition]  # as counted: a named position with the IDs it resolved to
    count: int
    sample: list[KnownSession]
    oldest_read_at: object  # datetime | None: the oldest index read among the members
    newest_read_at: object
    not_read: int  # imported sessions of the environment whose state was never read

    def as_dict(self) -> dict:
        return {
            "conditions": [condition.as_dict() for condition in self.conditions],
            "count": self.count,
            "sample": [
                {
                    "user_id": row.user_id,
                    "last_activity_at": row.last_activity_at,
                    "read_at": row.last_seen_at,
                    "flow": row.current_diagram_id,
                    "block": row.current_node_id,
                }
                for row in self.sample
            ],
            "oldest_read_at": self.oldest_read_at,
            "newest_read_at": self.newest_read_at,
            "not_read": self.not_read,
        }


def preview(environment: Environment, conditions, *, sample_size: int = SAMPLE_SIZE) -> Preview:
    """The count and a sample, before anything is done; and how old the index is for them."""
    parsed = (
        parse_conditions(conditions)
        if conditions and isinstance(conditions[0], dict)
        else list(conditions)
    )
    matching = members(environment, parsed)
    ages = matching.order_by().aggregate(oldest=Min("last_seen_at"), newest=Max("last_seen_at"))
    return Preview(
        conditions=parsed,
        count=matching.count(),
        sample=list(matching[:sample_size]),
        oldest_read_at=ages["oldest"],
        newest_read_at=ages["newest"],
        not_read=KnownSession.objects.filter(environment=environment, state_pending=True).count(),
    )


def refresh_candidates(segment: Segment) -> QuerySet[KnownSession]:
    """Who a refresh reads: the sessions the index-only conditions (userID prefix, last
    activity) allow, whatever their last snapshot said, so that members who moved *into* the
    segment are found as well as those who left it."""
    index_only = [
        condition
        for condition in parse_conditions(segment.conditions)
        if condition.field in ("user_id", "last_active")
    ]
    return members(segment.environment, index_only)


def refresh_segment(
    segment: Segment, *, max_wait_s: float = INTERACTIVE_MAX_WAIT_S, limit: int = REFRESH_MAX
) -> "ReadReport":
    """Read the candidates' states from Voiceflow into the index (most recently active first,
    at most `limit`), the same reading discovery does for imported users."""
    # Imported here: discovery imports known_sessions, which imports this package's conditions.
    from ..discovery.importing import read_states_into_index

    client = client_for(segment.environment, max_wait_s=max_wait_s)
    user_ids = list(refresh_candidates(segment).values_list("user_id", flat=True)[:limit])
    report = read_states_into_index(segment.environment, client, user_ids)
    if not report.stopped_by:
        Segment.objects.filter(pk=segment.pk).update(refreshed_at=timezone.now())
    return report
