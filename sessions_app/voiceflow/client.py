"""The one way this product calls Voiceflow (voiceflow-api.md is the contract).

`SessionClient` addresses one environment of one project. Every call goes through `_send`, which
paces the request against the project's shared budget, applies the time-out, and turns every
status and transport failure into a typed `VoiceflowError`. Views, the REST API and bulk workers
all use this class; bulk workers call it from a thread pool (httpx.Client is thread-safe and keeps
one connection pool per host).

Voiceflow serves a project from three hosts (§0): the runtime (legacy state API, v4 sessions), the
realtime API (newer state API, transcript search with a personal access token) and the analytics
API (transcript search with the project key). Each is a `Surface`; the state calls go to the one
the project chose, through `state_apis.py`.
"""

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from ..stored_json import escape_lone_surrogates, oddities
from .address_guard import GuardedTransport
from .errors import (
    InvalidUserID,
    NoSessionApi,
    ProjectMisconfigured,
    RateLimited,
    Unauthorized,
    UnknownEnvironment,
    UpstreamFailure,
    UpstreamTimeout,
    ValidationFailed,
    VoiceflowError,
)
from .state_apis import LegacyStateApi, RealtimeStateApi

LEGACY = "legacy"
REALTIME = "realtime"
# Messages of the runtime's `verror` envelope that mean "this environment/version does not
# resolve" rather than "your request is malformed" (voiceflow-api.md §1.A, §7.1 item 1).
_VERSION_MESSAGES = (
    "cannot resolve",
    "not published",
    "missing versionid",
    "could not resolve project",
    "model not found",
    "environment not found",  # v4 start-session with an alias the project lacks (§7.3 item 15)
)
# The realtime API's refusals of an alias or version all name one or the other (§1.C, §7.3).
_REALTIME_ENVIRONMENT_MESSAGES = ("environment", "version")
# What an HTTP header value may hold here: printable ASCII, single spaces inside ("Bearer x").
_HEADER_VALUE = re.compile(r"[!-~]+( [!-~]+)*")
# Both transcript searches take at most this many per page (§6.1, §6.2).
TRANSCRIPT_PAGE_MAX = 100

Pacer = Callable[[], None]
RateLimitListener = Callable[[float], None]


@dataclass(frozen=True)
class Target:
    """Everything needed to address one environment; secrets stay out of repr()."""

    runtime_url: str
    project_id: str
    version_id: str
    api_key: str = field(repr=False)
    state_api: str = LEGACY
    realtime_url: str = ""
    analytics_url: str = ""
    project_api_url: str = ""
    access_token: str = field(default="", repr=False)
    environment_alias: str = "main"
    realtime_version: str = "draft"


@dataclass(frozen=True)
class Surface:
    """One of Voiceflow's hosts as this client addresses it, and the words its failures need."""

    base_url: str
    authorization: str = field(repr=False)
    credential: str  # what a refused Authorization was, for people
    environment: str  # how this host was told the environment
    environment_messages: tuple[str, ...]  # upstream wording that means "no such environment"
    url_name: str  # the project setting that holds base_url
    headers: tuple[tuple[str, str], ...] = ()


_pools: dict[tuple[str, float], httpx.Client] = {}
_pools_lock = threading.Lock()


def pooled_http(runtime_url: str, timeout_s: float) -> httpx.Client:
    """One keep-alive connection pool per runtime host, shared by every thread of the process."""
    key = (runtime_url.rstrip("/"), timeout_s)
    with _pools_lock:
        client = _pools.get(key)
        if client is None or client.is_closed:
            client = httpx.Client(
                base_url=key[0],
                timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
                transport=GuardedTransport(
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=32)
                ),
                headers={"User-Agent": "voiceflow-session-admin"},
            )
            _pools[key] = client
        return client


def json_body_bytes(value: Any) -> bytes:
    """A request body as Voiceflow's own JSON.stringify would write it: lone surrogates a state
    may hold (read from Voiceflow, stored_json.py) as \\uXXXX escapes, so what was read can be
    written back. NaN and Infinity have no JSON form at all: refused, naming where they are."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        where = next((odd for odd in oddities(value) if "not a JSON number" in odd), "a value")
        raise ValidationFailed(
            f"Nothing was sent: {where}, and JSON cannot carry it to Voiceflow. Set it to a "
            "number or null first."
        ) from None
    return escape_lone_surrogates(text).encode()


def _parse_json(text: str) -> Any:
    # Traces may carry raw control characters inside strings (voiceflow-api.md §1.C), which
    # strict JSON refuses.
    return json.loads(text, strict=False)


class SessionClient:
    def __init__(
        self,
        target: Target,
        *,
        timeout_s: float,
        pacer: Pacer | None = None,
        on_rate_limited: RateLimitListener | None = None,
    ) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.pacer = pacer
        self.on_rate_limited = on_rate_limited
        self.runtime = Surface(
            base_url=target.runtime_url,
            authorization=target.api_key,
            credential="API key",
            environment=f"versionID {target.version_id!r}",
            environment_messages=_VERSION_MESSAGES,
            url_name="runtime URL",
            headers=(("versionID", target.version_id), ("projectID", target.project_id)),
        )
        self.realtime = Surface(
            base_url=target.realtime_url or target.runtime_url,
            authorization=f"Bearer {target.access_token}" if target.access_token else "",
            credential="personal access token",
            environment=f"environment alias {target.environment_alias!r}, {target.realtime_version}",
            environment_messages=_REALTIME_ENVIRONMENT_MESSAGES,
            url_name="Realtime API base URL",
        )
        self.analytics = Surface(
            base_url=target.analytics_url or target.runtime_url,
            authorization=target.api_key,
            credential="API key",
            environment=f"environmentID {target.version_id!r}",
            environment_messages=("environment",),
            url_name="Analytics API base URL",
        )
        self.project_api = Surface(
            base_url=target.project_api_url or target.runtime_url,
            authorization=target.api_key,
            credential="API key",
            environment=f"versionID {target.version_id!r}",
            environment_messages=("version",),
            url_name="Project API base URL",
        )
        self.http = pooled_http(target.runtime_url, timeout_s)
        self.state_api = (
            RealtimeStateApi(self) if target.state_api == REALTIME else LegacyStateApi(self)
        )

    # ---- conversation state (§1.A or §1.C, as the project chose) ----

    def get_state(self, user_id: str) -> dict:
        """The stored state; `{}` when Voiceflow has none for this user."""
        return self.state_api.get_state(user_id)

    def replace_state(self, user_id: str, state: dict) -> dict:
        """Replace the whole state; returns the state Voiceflow holds after it."""
        return self.state_api.replace_state(user_id, state)

    def delete_state(self, user_id: str) -> None:
        self.state_api.delete_state(user_id)

    def update_variables(self, user_id: str, variables: dict) -> dict:
        """Shallow merge: each key replaces its whole value; returns the state after the merge."""
        return self.state_api.update_variables(user_id, variables)

    # ---- turns ----

    def interact(
        self,
        user_id: str,
        action: dict,
        *,
        config: dict | None = None,
        variables: dict | None = None,
        verbose: bool = False,
    ) -> Any:
        """One turn: a bare trace list, or `{state, trace, request}` when verbose."""
        return self.state_api.interact(
            user_id, action, config=config, variables=variables, verbose=verbose
        )

    def start_session(self, user_id: str, environment_alias: str | None = None) -> str:
        """v4: a session key for the user; any earlier key of the same user stops working."""
        if not 1 <= len(user_id) <= 256:
            raise InvalidUserID("A v4 session userID has 1 to 256 characters.")
        project = quote(self.target.project_id, safe="")
        if environment_alias:
            path = f"/v4/project/{project}/environment/{quote(environment_alias, safe='')}/session"
        else:
            path = f"/v4/project/{project}/session"
        try:
            answer = self._send("POST", path, json_body={"userID": user_id})
        except UpstreamFailure as error:
            raise self._without_v4(error) from error
        if not isinstance(answer, dict) or not answer.get("sessionKey"):
            raise UpstreamFailure("Voiceflow did not return a session key.")
        return answer["sessionKey"]

    def interact_v4(
        self,
        session_key: str,
        action: dict,
        *,
        variables: dict | None = None,
        config: dict | None = None,
    ) -> list[dict]:
        body = self._v4_body(action, variables, config)
        try:
            answer = self._send("POST", "/v4/interact", json_body=body, authorization=session_key)
        except UpstreamFailure as error:
            raise self._without_v4(error) from error
        return answer.get("traces", []) if isinstance(answer, dict) else []

    def stream_v4(
        self,
        session_key: str,
        action: dict,
        *,
        variables: dict | None = None,
        config: dict | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Yield `(event, data)` as each server-sent event arrives, ending with `("end", {})`."""
        body = self._v4_body(action, variables, config)
        self._pace()
        headers = self._headers(self.runtime, session_key) | {"Accept": "text/event-stream"}
        try:
            with self.http.stream(
                "POST", "/v4/interact/stream", json=body, headers=headers
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    error = self._error_for(response, self.runtime)
                    raise self._without_v4(error) if isinstance(error, UpstreamFailure) else error
                yield from _server_sent_events(response.iter_lines())
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(self._timeout_message()) from exc
        except httpx.TransportError as exc:
            raise UpstreamFailure(self._unreachable_message(exc)) from exc

    def _without_v4(self, error: UpstreamFailure) -> VoiceflowError:
        """A 404 from a v4 route that names no environment: the runtime has no such routes."""
        if error.status != 404:
            return error
        return NoSessionApi(
            f"This runtime has no v4 session API: {self.runtime.base_url} answered 404 on "
            "/v4/… (older private clouds and the open-source runtime do not have it). Send the "
            "turn with “Answer at once” (the legacy interact) instead.",
            status=404,
            upstream_message=error.upstream_message,
        )

    def emit_event(self, session_id: str, action: dict) -> None:
        project = quote(self.target.project_id, safe="")
        path = f"/v2/project/{project}/session/{quote(session_id, safe='')}/event"
        self._send("POST", path, json_body={"action": action})

    def probe(self) -> dict:
        """A harmless read used by "Test connection": the state of a user nobody has."""
        return self.get_state("voiceflow-session-admin-connection-probe")

    # ---- transcripts (§6): the only way to learn which userIDs exist ----

    def search_transcripts(
        self,
        *,
        take: int = TRANSCRIPT_PAGE_MAX,
        skip: int = 0,
        start: datetime | None = None,
        end: datetime | None = None,
        this_environment_only: bool = False,
    ) -> list[dict]:
        """One page of the realtime transcript search (§6.1, access token), newest first.

        Each transcript carries the `userID`. The environment filter is this environment's
        alias and version.
        """
        body: dict[str, Any] = {"take": take, "skip": skip} | _date_range(start, end)
        if this_environment_only:
            body |= {
                "environmentAlias": self.target.environment_alias,
                "version": self.target.realtime_version,
            }
        answer = self._send(
            "POST",
            "/v1/stable/transcript/search",
            surface=self.realtime,
            params={"projectID": self.target.project_id},
            json_body=body,
        )
        return _transcripts_of(answer)

    def search_analytics_transcripts(
        self,
        *,
        take: int = TRANSCRIPT_PAGE_MAX,
        skip: int = 0,
        start: datetime | None = None,
        end: datetime | None = None,
        this_environment_only: bool = False,
    ) -> list[dict]:
        """One page of the analytics transcript search (§6.2, project key), newest first.

        Transcripts carry a `sessionID` and no `userID`. The environment filter sends this
        environment's versionID as `environmentID`; which identifier the analytics API expects
        there is not documented.
        """
        body: dict[str, Any] = _date_range(start, end)
        if this_environment_only:
            body["environmentID"] = self.target.version_id
        answer = self._send(
            "POST",
            f"/v1/transcript/project/{quote(self.target.project_id, safe='')}",
            surface=self.analytics,
            params={"take": take, "skip": skip, "order": "DESC"},
            json_body=body,
        )
        return _transcripts_of(answer)

    def transcript_pages(
        self,
        search: Callable[..., list[dict]],
        *,
        max_pages: int,
        page_size: int = TRANSCRIPT_PAGE_MAX,
        **filters: Any,
    ) -> Iterator[list[dict]]:
        """Every page of one of the searches above, until a short page or `max_pages`.

        Pages are newest first: a conversation that starts while paging pushes the rest one
        place back, so a transcript may be seen twice but none is skipped.
        """
        for number in range(max_pages):
            page = search(take=page_size, skip=number * page_size, **filters)
            yield page
            if len(page) < page_size:
                return

    def transcript_logs(self, transcript_id: str) -> dict:
        """One transcript with its logs (`{"logs": [{type, data, createdAt}], ...}`): the
        realtime API with the access token where the project has one (§6.1), else the analytics
        API with the key (§6.2)."""
        if self.realtime.authorization:
            answer = self._send(
                "GET",
                f"/v1/stable/transcript/{quote(transcript_id, safe='')}",
                surface=self.realtime,
                params={"projectID": self.target.project_id},
            )
        else:
            answer = self._send(
                "GET",
                f"/v1/transcript/{quote(transcript_id, safe='')}",
                surface=self.analytics,
            )
        transcript = answer.get("transcript") if isinstance(answer, dict) else None
        if not isinstance(transcript, dict):
            raise UpstreamFailure("Voiceflow answered without the transcript.")
        return transcript

    def user_transcripts(self, user_id: str, *, take: int = 10) -> list[dict]:
        """The user's latest transcripts, newest first (without logs).

        Both searches filter on `sessionID`, which for conversations over the Dialog Manager API
        is the userID (§6.3); the realtime search also names the `userID`, so other users'
        transcripts are dropped when it does.
        """
        body = {"sessionID": user_id}
        if self.realtime.authorization:
            answer = self._send(
                "POST",
                "/v1/stable/transcript/search",
                surface=self.realtime,
                params={"projectID": self.target.project_id},
                json_body={"take": take, "skip": 0} | body,
            )
        else:
            answer = self._send(
                "POST",
                f"/v1/transcript/project/{quote(self.target.project_id, safe='')}",
                surface=self.analytics,
                params={"take": take, "skip": 0, "order": "DESC"},
                json_body=body,
            )
        return [
            transcript
            for transcript in _transcripts_of(answer)
            if transcript.get("userID") in (None, user_id)
        ]

    # ---- the project file (Project API, docs-new /api-reference/project/fetch-project) ----

    def export_project(self, version: str) -> dict:
        """The project file (`.vf`) of a version: a versionID, `development` or `production`."""
        answer = self._send(
            "GET", f"/v2/versions/{quote(version, safe='')}/export", surface=self.project_api
        )
        if not isinstance(answer, dict):
            raise UpstreamFailure("Voiceflow's Project API answered without a project file.")
        return answer

    # ---- plumbing ----

    @staticmethod
    def _v4_body(action: dict, variables: dict | None, config: dict | None) -> dict:
        body: dict[str, Any] = {"action": action}
        if variables:
            body["variables"] = variables
        if config:
            body["config"] = config
        return body

    def _headers(self, surface: Surface, authorization: str | None = None) -> dict[str, str]:
        headers = {"Authorization": authorization or surface.authorization, **dict(surface.headers)}
        for name, value in headers.items():
            if not _HEADER_VALUE.fullmatch(value):
                what = {"Authorization": surface.credential}.get(name, name)
                raise ProjectMisconfigured(
                    f"The project's {what} cannot be sent to Voiceflow: it holds spaces, line "
                    "breaks or non-ASCII characters, which an HTTP header cannot carry. Enter it "
                    "again on the project's page."
                )
        return headers

    def _pace(self) -> None:
        if self.pacer is not None:
            self.pacer()

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict | None = None,
        authorization: str | None = None,
        surface: Surface | None = None,
    ) -> Any:
        surface = surface or self.runtime
        if not (authorization or surface.authorization):
            raise Unauthorized(
                f"This project has no {surface.credential}, which this call needs; add one on "
                "the project's page."
            )
        headers = self._headers(surface, authorization)
        body = None
        if json_body is not None:
            body = json_body_bytes(json_body)
            headers["Content-Type"] = "application/json"
        self._pace()
        try:
            response = pooled_http(surface.base_url, self.timeout_s).request(
                method,
                path,
                content=body,
                params=params,
                headers=headers,
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(self._timeout_message()) from exc
        except httpx.TransportError as exc:
            raise UpstreamFailure(self._unreachable_message(exc, surface)) from exc
        if response.status_code >= 400:
            raise self._error_for(response, surface)
        # DELETE answers 200 with an empty body under a JSON content type (§9).
        if not response.content.strip():
            return None
        try:
            return _parse_json(response.text)
        except ValueError as exc:
            raise UpstreamFailure(
                f"Voiceflow answered {response.status_code} with a body that is not JSON.",
                status=response.status_code,
            ) from exc

    def _timeout_message(self) -> str:
        return f"Voiceflow did not answer within {self.timeout_s:g} s. Nothing is known to have changed; try again."

    def _unreachable_message(self, exc: Exception, surface: Surface | None = None) -> str:
        base_url = (surface or self.runtime).base_url
        return f"Could not reach Voiceflow at {base_url} ({type(exc).__name__}). Try again shortly."

    def _error_for(self, response: httpx.Response, surface: Surface) -> VoiceflowError:
        status = response.status_code
        upstream_message = _upstream_message(response)
        if status in (401, 403):
            return Unauthorized(
                f"Voiceflow refused the credentials (the {surface.credential} is wrong, revoked, "
                f"expired, or for another project). Upstream said: {upstream_message or status}",
                status=status,
                upstream_message=upstream_message,
            )
        if status == 429:
            retry_after_s = _retry_after_s(response)
            if self.on_rate_limited is not None:
                self.on_rate_limited(retry_after_s)
            return RateLimited(
                "Voiceflow's rate limit was reached",
                status=status,
                upstream_message=upstream_message,
                retry_after_s=retry_after_s,
                limited_by="voiceflow",
            )
        lowered = upstream_message.lower()
        if status in (400, 404) and any(
            marker in lowered for marker in surface.environment_messages
        ):
            return UnknownEnvironment(
                f"Voiceflow cannot find this environment's version "
                f"({surface.environment}): {upstream_message}",
                status=status,
                upstream_message=upstream_message,
            )
        if status == 404:
            return UpstreamFailure(
                f"Voiceflow has no such endpoint at {surface.base_url}; check the {surface.url_name}.",
                status=status,
                upstream_message=upstream_message,
            )
        if status == 408:
            return UpstreamTimeout(self._timeout_message(), status=status)
        if status == 413:
            return ValidationFailed(
                "The state is too large for Voiceflow (the limit is 1 MB).", status=status
            )
        if 400 <= status < 500:
            return ValidationFailed(
                f"Voiceflow refused the request: {upstream_message or status}",
                status=status,
                upstream_message=upstream_message,
            )
        return UpstreamFailure(
            f"Voiceflow failed ({status}). Nothing is known to have changed; try again.",
            status=status,
            upstream_message=upstream_message,
        )


def _iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the transcript searches ask (§6.1)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _date_range(start: datetime | None, end: datetime | None) -> dict[str, str]:
    dates = {}
    if start is not None:
        dates["startDate"] = _iso_utc(start)
    if end is not None:
        dates["endDate"] = _iso_utc(end)
    return dates


def _transcripts_of(answer: Any) -> list[dict]:
    transcripts = answer.get("transcripts") if isinstance(answer, dict) else None
    if not isinstance(transcripts, list):
        raise UpstreamFailure("Voiceflow's transcript search answered without a transcript list.")
    return [transcript for transcript in transcripts if isinstance(transcript, dict)]


def _upstream_message(response: httpx.Response) -> str:
    """The human part of any of the runtime's three error envelopes (§7.1 item 2)."""
    try:
        body = _parse_json(response.text)
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


def _retry_after_s(response: httpx.Response, now: datetime | None = None) -> float:
    """How long Voiceflow really asks to wait after a 429.

    Its Retry-After is whole seconds rounded down (backend-utils sends
    `Math.floor(msBeforeNext / 1000)`), so it says 0 in the last second of the window;
    `X-RateLimit-Reset` (an ISO time, voiceflow-api.md §9) gives the window's end exactly. The
    later of the two is the wait.
    """
    try:
        wait_s = max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        wait_s = 0.0
    reset = response.headers.get("X-RateLimit-Reset", "")
    try:
        reset_at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
    except ValueError:
        reset_at = None
    if reset_at is not None and reset_at.tzinfo is not None:
        wait_s = max(wait_s, (reset_at - (now or datetime.now(UTC))).total_seconds())
    return wait_s if wait_s > 0 else 1.0


def _event_data(data_lines: list[str]) -> Any:
    """An event's data: JSON when it parses, else its text."""
    raw = "\n".join(data_lines)
    try:
        return _parse_json(raw)
    except ValueError:
        return raw


def _server_sent_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    event, data_lines = "message", []
    for line in lines:
        if line == "":
            if data_lines:
                yield event, _event_data(data_lines)
            event, data_lines = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data_lines.append(line[5:].lstrip(" "))
    if data_lines:
        yield event, _event_data(data_lines)
