"""One timeline per session: the turns from the transcripts and every write from the audit trail,
merged by time, and the recorded states a person can compare."""

from dataclasses import dataclass
from datetime import datetime

from ..inspector.diff import StateDiff, entry_diff, state_diff
from ..models import AuditEntry, Environment
from ..personal_data import mask_entry
from .turns import Turn

TIMELINE_WRITES = 200  # the newest audit entries of the session that the timeline shows


@dataclass
class Moment:
    at: datetime | None
    turn: Turn | None = None
    entry: AuditEntry | None = None

    @property
    def is_write(self) -> bool:
        return self.entry is not None


def session_entries(environment: Environment, user_id: str, viewer) -> list[AuditEntry]:
    """The session's audit entries, oldest first, personal data masked for `viewer`."""
    entries = [
        mask_entry(entry, viewer)
        for entry in AuditEntry.objects.filter(environment=environment, user_id=user_id)
        .select_related("job")
        .order_by("-created_at", "-pk")[:TIMELINE_WRITES]
    ]
    entries.reverse()
    for entry in entries:
        entry.diff = entry_diff(entry)
    return entries


def merged(turns: list[Turn], entries: list[AuditEntry]) -> list[Moment]:
    """Turns and writes in one list by time, oldest first; at the same instant a write comes
    after the turns (it was made on what they produced)."""
    moments = [Moment(turn.at, turn=turn) for turn in turns] + [
        Moment(entry.created_at, entry=entry) for entry in entries
    ]
    # Sorting is stable: turns keep their log order among themselves.
    return sorted(
        moments, key=lambda moment: (moment.at.timestamp() if moment.at else 0.0, moment.is_write)
    )


@dataclass
class RecordedState:
    """A state the audit trail recorded: before or after one entry."""

    key: str  # "<entry id>-before" or "<entry id>-after"
    label: str
    state: dict | None


def recorded_states(entries: list[AuditEntry]) -> list[RecordedState]:
    """Every state the session's entries recorded, oldest first, each named for the picker."""
    states = []
    for entry in entries:
        when = entry.created_at.strftime("%Y-%m-%d %H:%M:%S")
        what = entry.get_action_display().lower()
        if entry.state_before is not None:
            states.append(
                RecordedState(
                    f"{entry.pk}-before",
                    f"{when}, before the {what} (#{entry.pk})",
                    entry.state_before,
                )
            )
        if entry.state_after is not None:
            states.append(
                RecordedState(
                    f"{entry.pk}-after",
                    f"{when}, after the {what} (#{entry.pk})",
                    entry.state_after,
                )
            )
    return states


def diff_between(states: list[RecordedState], older: str, newer: str) -> StateDiff | None:
    """The diff from one recorded state to another; None when either key is not recorded."""
    by_key = {state.key: state for state in states}
    if older not in by_key or newer not in by_key:
        return None
    return state_diff(by_key[older].state, by_key[newer].state)
