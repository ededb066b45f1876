"""Every request this product makes to Voiceflow, and what its failures mean.

`Transport.send` and `Transport.stream` pace each request against the project's shared budget,
apply the time-out, open connections only through the private-address guard, and turn every
HTTP status and transport failure into a typed `VoiceflowError` (errors.py). They know hosts
and credentials (`Surface`), not endpoints: `client.py` and `state_apis.py` say which path to
call with which body, and `answers.py` reads what came back.
"""

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ..stored_json import escape_lone_surrogates, oddities
from .address_guard import GuardedTransport
from .answers import StreamEvent, error_message_of, parse_json, server_sent_events
from .errors import (
    ProjectMisconfigured,
    RateLimited,
    Unauthorized,
    UnknownEnvironment,
    UpstreamFailure,
    UpstreamTimeout,
    ValidationFailed,
    VoiceflowError,
)

# What an HTTP header value may hold here: printable ASCII, single spaces inside ("Bearer x").
_HEADER_VALUE = re.compile(r"[!-~]+( [!-~]+)*")

Pacer = Callable[[], None]
RateLimitListener = Callable[[float], None]


@dataclass(frozen=True)
class Surface:
    """One of Voiceflow's hosts as this product addresses it, and the words its failures need."""

    base_url: str
    authorization: str = field(repr=False)
    credential: str  # what a refused Authorization was, for people
    environment: str  # how this host was told the environment
    environment_messages: tuple[str, ...]  # upstream wording that means "no such environment"
    url_name: str  # the project setting that holds base_url
    headers: tuple[tuple[str, str], ...] = ()


_pools: dict[tuple[str, float], httpx.Client] = {}
_pools_lock = threading.Lock()


def pooled_http(base_url: str, timeout_s: float) -> httpx.Client:
    """One keep-alive connection pool per host, shared by every thread of the process
    (httpx.Client is thread-safe; bulk workers call from a thread pool)."""
    key = (base_url.rstrip("/"), timeout_s)
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


class Transport:
    """Sends the requests of one project: `pacer` waits for a slot of its budget (or refuses),
    `on_rate_limited(retry_after_s)` hears of every 429 so that every caller waits it out."""

    def __init__(
        self,
        *,
        timeout_s: float,
        pacer: Pacer | None = None,
        on_rate_limited: RateLimitListener | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.pacer = pacer
        self.on_rate_limited = on_rate_limited

    def http_for(self, surface: Surface) -> httpx.Client:
        return pooled_http(surface.base_url, self.timeout_s)

    def send(
        self,
        surface: Surface,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict | None = None,
        authorization: str | None = None,
    ) -> Any:
        """One request; its JSON answer (None for an empty body), or a typed error."""
        headers = self._headers(surface, authorization, json_body)
        body = None if json_body is None else json_body_bytes(json_body)
        self._pace()
        try:
            response = self.http_for(surface).request(
                method,
                path,
                content=body,
                params=params,
                headers=headers,
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(self.timeout_message()) from exc
        except httpx.TransportError as exc:
            raise UpstreamFailure(self._unreachable_message(exc, surface)) from exc
        if response.status_code >= 400:
            raise self._error_for(response, surface)
        # DELETE answers 200 with an empty body under a JSON content type (§9).
        if not response.content.strip():
            return None
        try:
            return parse_json(response.text)
        except ValueError as exc:
            raise UpstreamFailure(
                f"Voiceflow answered {response.status_code} with a body that is not JSON.",
                status=response.status_code,
            ) from exc

    def stream(
        self,
        surface: Surface,
        path: str,
        *,
        json_body: Any,
        authorization: str | None = None,
    ) -> Iterator[StreamEvent]:
        """POST, then yield each server-sent event as it arrives (§3.4). A refusal raises the
        same typed error `send` would, from the first `next()`."""
        headers = self._headers(surface, authorization, json_body)
        headers["Accept"] = "text/event-stream"
        body = json_body_bytes(json_body)
        self._pace()
        try:
            with self.http_for(surface).stream(
                "POST", path, content=body, headers=headers
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error_for(response, surface)
                yield from server_sent_events(response.iter_lines())
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(self.timeout_message()) from exc
        except httpx.TransportError as exc:
            raise UpstreamFailure(self._unreachable_message(exc, surface)) from exc

    def timeout_message(self) -> str:
        return (
            f"Voiceflow did not answer within {self.timeout_s:g} s. Nothing is known to have "
            "changed; try again."
        )

    def _pace(self) -> None:
        if self.pacer is not None:
            self.pacer()

    @staticmethod
    def _headers(surface: Surface, authorization: str | None, json_body: Any) -> dict[str, str]:
        if not (authorization or surface.authorization):
            raise Unauthorized(
                f"This project has no {surface.credential}, which this call needs; add one on "
                "the project's page."
            )
        headers = {"Authorization": authorization or surface.authorization, **dict(surface.headers)}
        for name, value in headers.items():
            if not _HEADER_VALUE.fullmatch(value):
                what = {"Authorization": surface.credential}.get(name, name)
                raise ProjectMisconfigured(
                    f"The project's {what} cannot be sent to Voiceflow: it holds spaces, line "
                    "breaks or non-ASCII characters, which an HTTP header cannot carry. Enter it "
                    "again on the project's page."
                )
        if json_body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    @staticmethod
    def _unreachable_message(exc: Exception, surface: Surface) -> str:
        return (
            f"Could not reach Voiceflow at {surface.base_url} ({type(exc).__name__}). "
            "Try again shortly."
        )

    def _error_for(self, response: httpx.Response, surface: Surface) -> VoiceflowError:
        status = response.status_code
        upstream_message = error_message_of(response.text)
        if status in (401, 403):
            return Unauthorized(
                f"Voiceflow refused the credentials (the {surface.credential} is wrong, revoked, "
                f"expired, or for another project). Upstream said: {upstream_message or status}",
                status=status,
                upstream_message=upstream_message,
            )
        if status == 429:
            wait_s = retry_after_s(response)
            if self.on_rate_limited is not None:
                self.on_rate_limited(wait_s)
            return RateLimited(
                "Voiceflow's rate limit was reached",
                status=status,
                upstream_message=upstream_message,
                retry_after_s=wait_s,
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
            return UpstreamTimeout(self.timeout_message(), status=status)
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


def retry_after_s(response: httpx.Response, now: datetime | None = None) -> float:
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
