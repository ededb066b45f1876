"""The one way this product calls Voiceflow (voiceflow-api.md is the contract).

`SessionClient` addresses one environment of one project. Every call goes through `_send`, which
paces the request against the project's shared budget, applies the time-out, and turns every
status and transport failure into a typed `VoiceflowError`. Views, the REST API and bulk workers
all use this class; bulk workers call it from a thread pool (httpx.Client is thread-safe and keeps
one connection pool per project).
"""

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .errors import (
    InvalidUserID,
    RateLimited,
    Unauthorized,
    UnknownEnvironment,
    UpstreamFailure,
    UpstreamTimeout,
    ValidationFailed,
    VoiceflowError,
)

USER_ID_MAX_LENGTH = 128
# Messages of the runtime's `verror` envelope that mean "this environment/version does not
# resolve" rather than "your request is malformed" (voiceflow-api.md §1.A, §7.1 item 1).
_VERSION_MESSAGES = (
    "cannot resolve",
    "not published",
    "missing versionid",
    "could not resolve project",
    "model not found",
)

Pacer = Callable[[], None]
RateLimitListener = Callable[[float], None]


@dataclass(frozen=True)
class Target:
    """Everything needed to address one environment; secrets stay out of repr()."""

    runtime_url: str
    project_id: str
    version_id: str
    api_key: str

    def __repr__(self) -> str:
        return f"Target(runtime_url={self.runtime_url!r}, project_id={self.project_id!r}, version_id={self.version_id!r})"


def validate_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not user_id:
        raise InvalidUserID("A userID is required.")
    if len(user_id) > USER_ID_MAX_LENGTH:
        raise InvalidUserID(
            f"A userID has at most {USER_ID_MAX_LENGTH} characters; this one has {len(user_id)}."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in user_id):
        raise InvalidUserID("A userID cannot contain control characters (line breaks, tabs…).")
    return user_id


def user_path(user_id: str) -> str:
    """The userID as one path segment: `/`, `?`, `#`, `%`, spaces and unicode all encoded."""
    segment = quote(validate_user_id(user_id), safe="")
    # URL normalisation (RFC 3986 §5.2.4, applied by httpx) would resolve a bare "." or ".."
    # segment against the path and address another resource; encoded, it stays a userID.
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return segment


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
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                headers={"User-Agent": "voiceflow-session-admin"},
            )
            _pools[key] = client
        return client


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
        self.http = pooled_http(target.runtime_url, timeout_s)

    # ---- conversation state (§1.A) ----

    def get_state(self, user_id: str) -> dict:
        """The stored state; `{}` when Voiceflow has none for this user."""
        state = self._send("GET", f"/state/user/{user_path(user_id)}")
        return state if isinstance(state, dict) else {}

    def replace_state(self, user_id: str, state: dict) -> dict:
        return self._send("PUT", f"/state/user/{user_path(user_id)}", json_body=state)

    def delete_state(self, user_id: str) -> None:
        self._send("DELETE", f"/state/user/{user_path(user_id)}")

    def update_variables(self, user_id: str, variables: dict) -> dict:
        """Shallow merge: each key replaces its whole value; returns the state after the merge."""
        return self._send(
            "PATCH", f"/state/user/{user_path(user_id)}/variables", json_body=variables
        )

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
        """Legacy turn: a bare trace list, or `{state, trace, request}` when verbose."""
        body: dict[str, Any] = {"action": action}
        if config is not None:
            body["config"] = config
        if variables:
            body["state"] = {"variables": variables}
        params = {"verbose": "true"} if verbose else None
        return self._send(
            "POST", f"/state/user/{user_path(user_id)}/interact", json_body=body, params=params
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
        answer = self._send("POST", path, json_body={"userID": user_id})
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
        answer = self._send("POST", "/v4/interact", json_body=body, authorization=session_key)
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
        headers = self._headers(session_key) | {"Accept": "text/event-stream"}
        try:
            with self.http.stream(
                "POST", "/v4/interact/stream", json=body, headers=headers
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error_for(response)
                yield from _server_sent_events(response.iter_lines())
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(self._timeout_message()) from exc
        except httpx.TransportError as exc:
            raise UpstreamFailure(self._unreachable_message(exc)) from exc

    def emit_event(self, session_id: str, action: dict) -> None:
        project = quote(self.target.project_id, safe="")
        path = f"/v2/project/{project}/session/{quote(session_id, safe='')}/event"
        self._send("POST", path, json_body={"action": action})

    def probe(self) -> dict:
        """A harmless read used by "Test connection": the state of a user nobody has."""
        return self.get_state("voiceflow-session-admin-connection-probe")

    # ---- plumbing ----

    @staticmethod
    def _v4_body(action: dict, variables: dict | None, config: dict | None) -> dict:
        body: dict[str, Any] = {"action": action}
        if variables:
            body["variables"] = variables
        if config:
            body["config"] = config
        return body

    def _headers(self, authorization: str | None = None) -> dict[str, str]:
        return {
            "Authorization": authorization or self.target.api_key,
            "versionID": self.target.version_id,
            "projectID": self.target.project_id,
        }

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
    ) -> Any:
        self._pace()
        try:
            response = self.http.request(
                method,
                path,
                json=json_body,
                params=params,
                headers=self._headers(authorization),
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(self._timeout_message()) from exc
        except httpx.TransportError as exc:
            raise UpstreamFailure(self._unreachable_message(exc)) from exc
        if response.status_code >= 400:
            raise self._error_for(response)
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

    def _unreachable_message(self, exc: Exception) -> str:
        return f"Could not reach Voiceflow at {self.target.runtime_url} ({type(exc).__name__}). Try again shortly."

    def _error_for(self, response: httpx.Response) -> VoiceflowError:
        status = response.status_code
        upstream_message = _upstream_message(response)
        if status in (401, 403):
            return Unauthorized(
                "Voiceflow refused the credentials (the API key is wrong, revoked, or for another "
                f"project). Upstream said: {upstream_message or status}",
                status=status,
                upstream_message=upstream_message,
            )
        if status == 429:
            retry_after_s = _retry_after_s(response)
            if self.on_rate_limited is not None:
                self.on_rate_limited(retry_after_s)
            return RateLimited(
                f"Voiceflow's rate limit was reached; retry in {retry_after_s:g} s.",
                status=status,
                upstream_message=upstream_message,
                retry_after_s=retry_after_s,
            )
        lowered = upstream_message.lower()
        if status in (400, 404) and any(marker in lowered for marker in _VERSION_MESSAGES):
            return UnknownEnvironment(
                f"Voiceflow cannot find this environment's version "
                f"(versionID {self.target.version_id!r}): {upstream_message}",
                status=status,
                upstream_message=upstream_message,
            )
        if status == 404:
            return UpstreamFailure(
                f"Voiceflow has no such endpoint at {self.target.runtime_url}; check the runtime URL.",
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


def _retry_after_s(response: httpx.Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "1")), 0.0)
    except ValueError:
        return 1.0


def _server_sent_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    event, data_lines = "message", []
    for line in lines:
        if line == "":
            if data_lines:
                raw = "\n".join(data_lines)
                try:
                    data: Any = _parse_json(raw)
                except ValueError:
                    data = raw
                yield event, data
            event, data_lines = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data_lines.append(line[5:].lstrip(" "))
    if data_lines:
        yield event, _parse_json("\n".join(data_lines))
