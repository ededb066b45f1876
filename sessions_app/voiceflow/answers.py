"""What Voiceflow answers, read in one place into the shapes the rest of the product uses.

Each reader takes one kind of answer (its parsed JSON, or a refusal's text) and returns the part
the product needs, or raises `UpstreamFailure` when an answer the product cannot do without is
missing it. The shapes are those of voiceflow-api.md (§1, §3, §6, §7.1).
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import UpstreamFailure


class StreamEvent(NamedTuple):
    """One server-sent event of a streamed turn (§3.4): `trace` events carry a trace (JSON, or
    the text when it does not parse), and `end` closes the turn."""

    name: str
    data: Any


@dataclass(frozen=True)
class TurnAnswer:
    """One turn: the traces Voiceflow answered, in order, and the state after the turn when it
    was asked for (`verbose`)."""

    traces: list
    state: dict | None = None


def parse_json(text: str) -> Any:
    # Traces may carry raw control characters inside strings (voiceflow-api.md §1.C), which
    # strict JSON refuses.
    return json.loads(text, strict=False)


def state_of(answer: Any) -> dict:
    """A legacy state read (§1.A): the state, or `{}` when Voiceflow has none for the user."""
    return answer if isinstance(answer, dict) else {}


def realtime_state_of(answer: Any) -> dict:
    """A realtime state read (§1.C) wraps the state in `{state}`."""
    return state_of(answer.get("state") if isinstance(answer, dict) else None)


def legacy_turn(answer: Any) -> TurnAnswer:
    """The legacy interact (§1.A) answers a bare trace list, or `{state, trace, request}` when
    verbose."""
    if isinstance(answer, dict) and isinstance(answer.get("trace"), list):
        state = answer.get("state")
        return TurnAnswer(answer["trace"], state if isinstance(state, dict) else None)
    if isinstance(answer, list):
        return TurnAnswer(answer)
    return TurnAnswer([])


def realtime_traces(answer: Any) -> list:
    """The realtime send (§1.C) answers `{traces}`."""
    traces = answer.get("traces") if isinstance(answer, dict) else answer
    return traces if isinstance(traces, list) else []


def session_key_of(answer: Any) -> str:
    """A started v4 session (§1.B)."""
    if not isinstance(answer, dict) or not answer.get("sessionKey"):
        raise UpstreamFailure("Voiceflow did not return a session key.")
    return answer["sessionKey"]


def transcripts_of(answer: Any) -> list[dict]:
    """A page of either transcript search (§6.1, §6.2)."""
    transcripts = answer.get("transcripts") if isinstance(answer, dict) else None
    if not isinstance(transcripts, list):
        raise UpstreamFailure("Voiceflow's transcript search answered without a transcript list.")
    return [transcript for transcript in transcripts if isinstance(transcript, dict)]


def transcript_of(answer: Any) -> dict:
    """One transcript with its logs (§6.1, §6.2)."""
    transcript = answer.get("transcript") if isinstance(answer, dict) else None
    if not isinstance(transcript, dict):
        raise UpstreamFailure("Voiceflow answered without the transcript.")
    return transcript


def project_file_of(answer: Any) -> dict:
    """A version's project file (`.vf`) from the Project API's export."""
    if not isinstance(answer, dict):
        raise UpstreamFailure("Voiceflow's Project API answered without a project file.")
    return answer


def error_message_of(text: str) -> str:
    """The human part of a refusal, in any of the runtime's three error envelopes (§7.1 item 2)."""
    try:
        body = parse_json(text)
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return str(body)[:500]
    if isinstance(body.get("errors"), dict):
        return "; ".join(
            f"{field + ': ' if field else ''}{detail.get('message', detail) if isinstance(detail, dict) else detail}"
            for field, detail in body["errors"].items()
        )[:500]
    for key in ("message", "data"):
        if isinstance(body.get(key), str):
            return body[key][:500]
    return ""


def _event_data(data_lines: list[str]) -> Any:
    """An event's data: JSON when it parses, else its text."""
    raw = "\n".join(data_lines)
    try:
        return parse_json(raw)
    except ValueError:
        return raw


def server_sent_events(lines: Iterator[str]) -> Iterator[StreamEvent]:
    event, data_lines = "message", []
    for line in lines:
        if line == "":
            if data_lines:
                yield StreamEvent(event, _event_data(data_lines))
            event, data_lines = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data_lines.append(line[5:].lstrip(" "))
    if data_lines:
        yield StreamEvent(event, _event_data(data_lines))
