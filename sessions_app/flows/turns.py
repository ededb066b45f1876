"""The turns that led to a state: the user's recent conversation, from Voiceflow's transcripts.

voiceflow-api.md §6: the realtime transcript search and read with the project's personal access
token where it has one (§6.1), else the analytics API with the project key (§6.2). A transcript's
logs are the requests the user sent (`action`) and the traces the agent answered (`trace`).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..models import Environment
from ..personal_data import mask_turns
from ..voiceflow import Unauthorized, UpstreamFailure, VoiceflowError, client_for

TRANSCRIPTS_READ = 5  # the user's latest transcripts that are read for turns
TURNS_PER_PAGE = 20
# A `no-reply` trace only tells a client how long to wait for the user; it says nothing.
SHOWN_TRACES = {"text", "speak", "choice", "cardV2", "card", "carousel", "visual", "end"}


@dataclass
class Turn:
    at: datetime | None
    speaker: str  # "user" or "agent"
    text: str
    kind: str  # the request or trace type
    options: list[str] = field(default_factory=list)
    # Whether `text` and `options` are words of the conversation (what the user typed or clicked,
    # what the agent said or offered), which may be personal data; False where they are this
    # module's description of a turn without words ("(started the conversation)") or a name from
    # the agent's design (an intent's or an event's).
    said: bool = True


@dataclass
class TurnsPage:
    turns: list[Turn] = field(default_factory=list)  # oldest first: the newest is last
    page: int = 1
    has_earlier: bool = False
    problem: str = ""  # why there are no turns to show, in plain words
    no_access: bool = False
    expired: int = 0  # transcripts that expired or were deleted before they could be read
    words_hidden: bool = False  # what was said is hidden from the reader's role (personal data)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def _request_turn(request: Any, at: datetime | None) -> Turn | None:
    if not isinstance(request, dict):
        return None
    kind = str(request.get("type") or "")
    payload = request.get("payload")
    if kind == "launch":
        return Turn(at, "user", "(started the conversation)", kind, said=False)
    if kind == "text":
        return Turn(at, "user", str(payload or ""), kind)
    if kind == "intent" and isinstance(payload, dict):
        if payload.get("query"):
            return Turn(at, "user", str(payload["query"]), kind)
        intent = payload.get("intent") if isinstance(payload.get("intent"), dict) else {}
        return Turn(at, "user", str(intent.get("name") or ""), kind, said=False)
    if kind == "event" and isinstance(payload, dict):
        event = payload.get("event") if isinstance(payload.get("event"), dict) else {}
        return Turn(at, "user", f"(event {event.get('name') or ''})", kind, said=False)
    if kind == "no-reply":
        return Turn(at, "user", "(did not reply)", kind, said=False)
    if isinstance(payload, dict) and payload.get("label"):
        return Turn(at, "user", str(payload["label"]), "button")
    return Turn(at, "user", f"({kind or 'request'})", kind, said=False)


def _trace_turn(trace: Any, at: datetime | None) -> Turn | None:
    if not isinstance(trace, dict) or trace.get("type") not in SHOWN_TRACES:
        return None
    kind = trace["type"]
    payload = trace.get("payload") if isinstance(trace.get("payload"), dict) else {}
    if kind in ("text", "speak"):
        return Turn(at, "agent", str(payload.get("message") or ""), kind)
    if kind == "choice":
        labels = [
            str(b.get("name") or "") for b in payload.get("buttons") or [] if isinstance(b, dict)
        ]
        return Turn(at, "agent", "", kind, labels)
    if kind in ("card", "cardV2"):
        labels = [
            str(b.get("name") or "") for b in payload.get("buttons") or [] if isinstance(b, dict)
        ]
        return Turn(at, "agent", str(payload.get("title") or ""), kind, labels)
    if kind == "carousel":
        titles = [
            str(c.get("title") or "") for c in payload.get("cards") or [] if isinstance(c, dict)
        ]
        return Turn(at, "agent", "", kind, titles)
    if kind == "visual":
        return Turn(at, "agent", "(an image)", kind, said=False)
    return Turn(at, "agent", "(the conversation ended)", kind, said=False)


def turns_of(transcript: dict) -> list[Turn]:
    """A transcript's logs as turns, in log order."""
    turns = []
    for log in transcript.get("logs") or []:
        if not isinstance(log, dict):
            continue
        at = _when(log.get("createdAt"))
        turn = (
            _request_turn(log.get("data"), at)
            if log.get("type") == "action"
            else _trace_turn(log.get("data"), at)
            if log.get("type") == "trace"
            else None
        )
        if turn is not None and (turn.text or turn.options):
            turns.append(turn)
    return turns


def _expired(transcript: dict) -> bool:
    expires_at = _when(transcript.get("expiresAt"))
    return expires_at is not None and expires_at <= timezone.now()


def recent_turns(environment: Environment, user_id: str, viewer) -> tuple[list[Turn], TurnsPage]:
    """Every turn of the user's latest transcripts, oldest first, as `viewer` may see them
    (personal_data.mask_turns), and a page describing any problem; never raises for an upstream
    failure."""
    report = TurnsPage()
    client = client_for(environment)
    if not (environment.project.access_token or environment.project.api_key):
        report.no_access = True
        report.problem = "This project has no credentials for Voiceflow's transcript APIs."
        return [], report
    try:
        transcripts = client.user_transcripts(user_id, take=TRANSCRIPTS_READ)
    except Unauthorized as error:
        report.no_access = True
        report.problem = (
            "This project has no access to Voiceflow's transcripts: " + str(error) + " A personal "
            "access token (on the project's page) gives access to the realtime transcript API."
        )
        return [], report
    except VoiceflowError as error:
        report.problem = f"Could not read the transcripts: {error}"
        return [], report
    turns: list[Turn] = []
    for transcript in reversed(transcripts):  # oldest first
        if _expired(transcript):
            report.expired += 1
            continue
        try:
            full = client.transcript_logs(str(transcript.get("id") or ""))
        except UpstreamFailure as error:
            if error.status == 404:
                report.expired += 1
                continue
            report.problem = f"Could not read a transcript: {error}"
            break
        except VoiceflowError as error:
            report.problem = f"Could not read a transcript: {error}"
            break
        turns += turns_of(full)
    if not transcripts:
        report.problem = (
            "Voiceflow has no transcript of this userID: the conversation is older than the "
            "project's transcript retention, or it was held without transcripts."
        )
    elif not turns and report.expired and not report.problem:
        report.problem = (
            "This userID's transcripts have expired (or were deleted): no turns remain."
        )
    shown = mask_turns(turns, viewer)
    report.words_hidden = shown is not turns and any(turn.said for turn in turns)
    return shown, report


def turns_page(environment: Environment, user_id: str, page: int, viewer) -> TurnsPage:
    """Page `page` counted from the newest: page 1 is the last TURNS_PER_PAGE turns."""
    turns, report = recent_turns(environment, user_id, viewer)
    end = max(len(turns) - (page - 1) * TURNS_PER_PAGE, 0)
    start = max(end - TURNS_PER_PAGE, 0)
    report.turns = turns[start:end]
    report.page = page
    report.has_earlier = start > 0
    return report
