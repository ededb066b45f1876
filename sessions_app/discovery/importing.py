"""Importing userIDs from transcripts into the known-sessions index, then reading their states."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db import transaction
from django.db.models import F

from ..known_sessions import note_session
from ..models import Environment, KnownSession, Project
from ..voiceflow import (
    INTERACTIVE_MAX_WAIT_S,
    TRANSCRIPT_PAGE_MAX,
    InvalidUserID,
    RateLimited,
    SessionClient,
    Unauthorized,
    UnknownEnvironment,
    VoiceflowError,
    client_for,
    validate_user_id,
)


class TranscriptSearch(StrEnum):
    """Which of Voiceflow's transcript searches an import pages through (voiceflow-api.md §6)."""

    REALTIME = "realtime"  # §6.1, with the project's access token: transcripts name the userID
    ANALYTICS = "analytics"  # §6.2, with the project key: transcripts name a sessionID only


# At most this many pages (of 100 transcripts) per import; a longer range is imported in parts.
MAX_PAGES = 50
# Rows are looked up and written in batches that every database accepts in one statement.
BATCH = 500
# Errors about the project or environment rather than one user: every other read would fail too.
STOPPING_ERRORS = (Unauthorized, UnknownEnvironment, RateLimited)


def source_for(project: Project) -> TranscriptSearch:
    """The realtime search when the project has an access token (it returns userIDs), else the
    analytics search with the project key (it returns sessionIDs only)."""
    # The hint is set whenever the token is, and reading it decrypts nothing.
    return TranscriptSearch.REALTIME if project.access_token_hint else TranscriptSearch.ANALYTICS


@dataclass(frozen=True)
class ImportReport:
    source: TranscriptSearch
    pages: int
    transcripts: int
    user_ids: int
    new: int
    to_read: int
    unusable: int
    complete: bool

    def summary(self) -> str:
        found = (
            f"{self.user_ids} userID{'s' if self.user_ids != 1 else ''} in {self.transcripts} "
            f"transcript{'s' if self.transcripts != 1 else ''} ({self.new} new)"
        )
        parts = [f"Imported {found}."]
        if self.unusable:
            parts.append(
                f"{self.unusable} transcript{'s' if self.unusable != 1 else ''} had no usable "
                "userID (empty, longer than 128 characters or with control characters)."
            )
        if not self.complete:
            parts.append(
                f"Stopped after {self.pages} page{'s' if self.pages != 1 else ''} "
                f"({self.pages * TRANSCRIPT_PAGE_MAX} transcripts, newest first): import the "
                "older part with an earlier end."
            )
        if self.to_read:
            parts.append(
                f"{self.to_read} state{'s are' if self.to_read != 1 else ' is'} read in the "
                "background, paced by the project's request budget; until then they are marked "
                "“not read yet” and variable search does not find them."
            )
        return " ".join(parts)


def _moment(transcript: dict) -> datetime | None:
    value = transcript.get("updatedAt") or transcript.get("createdAt")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def import_from_transcripts(
    environment: Environment,
    *,
    start: datetime | None,
    end: datetime | None,
    this_environment_only: bool,
    max_wait_s: float = INTERACTIVE_MAX_WAIT_S,
    max_pages: int = MAX_PAGES,
) -> ImportReport:
    """Record every userID of the transcripts in the range (newest first, up to `max_pages`).

    A user whose transcript shows activity after the dashboard last read their state is marked
    `state_pending`, for `read_pending_states`. Raises VoiceflowError, recording nothing, when a
    page cannot be read.
    """
    client = client_for(environment, max_wait_s=max_wait_s)
    source = source_for(environment.project)
    if source == TranscriptSearch.REALTIME:
        search, id_field = client.search_transcripts, "userID"
    else:
        # The analytics search has no userID; its sessionID is taken for one (voiceflow-api.md
        # §6.2 leaves open whether they are equal).
        search, id_field = client.search_analytics_transcripts, "sessionID"

    last_activity: dict[str, datetime | None] = {}
    pages = transcripts = unusable = 0
    last_page_full = False
    for page in client.transcript_pages(
        search,
        max_pages=max_pages,
        start=start,
        end=end,
        this_environment_only=this_environment_only,
    ):
        pages += 1
        transcripts += len(page)
        last_page_full = len(page) == TRANSCRIPT_PAGE_MAX
        for transcript in page:
            try:
                user_id = validate_user_id(transcript.get(id_field))
            except InvalidUserID:
                unusable += 1
                continue
            moment = _moment(transcript)
            known = last_activity.get(user_id)
            if user_id not in last_activity or (moment and (known is None or moment > known)):
                last_activity[user_id] = moment

    new, to_read = _record(environment, last_activity)
    return ImportReport(
        source=source,
        pages=pages,
        transcripts=transcripts,
        user_ids=len(last_activity),
        new=new,
        to_read=to_read,
        unusable=unusable,
        complete=not (pages == max_pages and last_page_full),
    )


def _record(environment: Environment, last_activity: dict[str, datetime | None]) -> tuple[int, int]:
    """Create the users not yet known and move the others' last activity forward; return how
    many were new and how many now wait for a read of their state."""
    user_ids = list(last_activity)
    new = to_read = 0
    with transaction.atomic():
        for offset in range(0, len(user_ids), BATCH):
            batch = user_ids[offset : offset + BATCH]
            in_batch = KnownSession.objects.filter(environment=environment, user_id__in=batch)
            known = {row.user_id: row for row in in_batch}
            changed = []
            for user_id, row in known.items():
                moment = last_activity[user_id]
                if moment is None or (row.last_activity_at and row.last_activity_at >= moment):
                    continue
                row.last_activity_at = moment
                # Activity after the last read: the snapshot may be out of date.
                if row.last_seen_at < moment:
                    row.state_pending = True
                changed.append(row)
            KnownSession.objects.bulk_update(changed, ["last_activity_at", "state_pending"])
            created = KnownSession.objects.bulk_create(
                [
                    KnownSession(
                        environment=environment,
                        user_id=user_id,
                        origin=KnownSession.Origin.IMPORTED,
                        has_state=False,
                        state_pending=True,
                        last_activity_at=last_activity[user_id],
                    )
                    for user_id in batch
                    if user_id not in known
                ],
                # A read by someone else in the meantime created the row; it stays as it is.
                ignore_conflicts=True,
            )
            new += len(created)
            to_read += in_batch.filter(state_pending=True).count()
    return new, to_read


@dataclass(frozen=True)
class ReadReport:
    read: int
    failed: int
    stopped_by: str


def read_pending_states(
    environment: Environment, *, max_wait_s: float, limit: int | None = None
) -> ReadReport:
    """Read the state of each user waiting for it (latest activity first) into the index.

    A failure for one user leaves that user waiting for the next run; a failure that every user
    would share (credentials, environment, the budget) stops the run and is reported.
    """
    client = client_for(environment, max_wait_s=max_wait_s)
    waiting = (
        KnownSession.objects.filter(environment=environment, state_pending=True)
        .order_by(F("last_activity_at").desc(nulls_last=True), "pk")
        .values_list("user_id", flat=True)
    )
    return read_states_into_index(
        environment, client, list(waiting[:limit] if limit is not None else waiting)
    )


def read_states_into_index(
    environment: Environment, client: SessionClient, user_ids: list[str]
) -> ReadReport:
    """Read each user's state from Voiceflow into the index, in order; a failure every user
    would share (credentials, environment, the budget) stops the reading and is reported."""
    read = failed = 0
    for user_id in user_ids:
        try:
            state = client.get_state(user_id)
        except STOPPING_ERRORS as error:
            return ReadReport(read=read, failed=failed, stopped_by=error.message)
        except VoiceflowError:
            failed += 1
            continue
        note_session(environment, user_id, state, origin=KnownSession.Origin.IMPORTED)
        read += 1
    return ReadReport(read=read, failed=failed, stopped_by="")
