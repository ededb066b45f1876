"""The contract check's HTTP side: requests to the target that can only address this run's own
userIDs, each remembered so that the run can delete it at the end."""

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .expect import Answer

REQUEST_TIMEOUT_S = 30.0
USER_ID_PREFIX = "contract-check-"
USER_AGENT = "voiceflow-session-admin-contract-check"


@dataclass(frozen=True)
class Target:
    url: str
    api_key: str
    project_id: str
    version: str = "development"
    realtime_url: str | None = None
    token: str | None = None
    alias: str = "main"
    realtime_version: str = "draft"


class TargetUnreachable(Exception):
    """The target did not answer the first request; nothing was written."""


class Probe:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.prefix = f"{USER_ID_PREFIX}{secrets.token_hex(4)}-"
        # The userIDs this run sent a write for (the cleanup deletes them), in order.
        self.written: list[str] = []
        self.written_through_realtime: set[str] = set()
        self._client = httpx.Client(timeout=REQUEST_TIMEOUT_S, headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self._client.close()

    def user(self, name: str) -> str:
        return self.prefix + name

    def remember_write(self, user_id: str) -> None:
        if user_id not in self.written:
            self.written.append(user_id)

    def _segment(self, user_id: str, method: str) -> str:
        """The userID as one path segment; refuses any userID this run did not make up."""
        if not user_id.startswith(self.prefix):
            raise ValueError(f"the contract check addresses only its own userIDs, not {user_id!r}")
        if method != "GET":
            self.remember_write(user_id)
        return quote(user_id, safe="")

    # ---- the legacy Dialog Manager surface ----

    def legacy_headers(self) -> dict[str, str]:
        return {
            "Authorization": self.target.api_key,
            "versionID": self.target.version,
            "projectID": self.target.project_id,
        }

    def state(
        self,
        method: str,
        user_id: str,
        *,
        variables: bool = False,
        body: Any = None,
        raw_body: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str | None] | None = None,
    ) -> Answer:
        """A request to `/state/user/{userID}` (or its `/variables`) with the project's headers;
        `headers` adds or, with None, removes some. `body` is sent as JSON; `raw_body` as is,
        with `content_type` if given."""
        suffix = "/variables" if variables else ""
        path = f"/state/user/{self._segment(user_id, method)}{suffix}"
        label = f"{method} /state/user/{{userID}}{suffix}"
        sent = _merge(self.legacy_headers(), headers or {})
        if body is not None:
            raw_body = json.dumps(body).encode()
            content_type = "application/json"
        if content_type is not None:
            sent["Content-Type"] = content_type
        return self.send(method, self.target.url + path, label, headers=sent, content=raw_body)

    def unknown_route(self) -> Answer:
        """GET of a path no runtime route matches, inside this run's own name space."""
        path = f"/{self.prefix}no-such-route"
        return self.send("GET", self.target.url + path, f"GET {path}", self.legacy_headers())

    def wrong_method(self, user_id: str) -> Answer:
        """GET on the interact route, which only takes POST: no turn can run."""
        path = f"/state/user/{self._segment(user_id, 'GET')}/interact"
        label = "GET /state/user/{userID}/interact"
        return self.send("GET", self.target.url + path, label, self.legacy_headers())

    # ---- the realtime API ----

    def realtime(
        self,
        method: str,
        user_id: str | None = None,
        *,
        variables: bool = False,
        body: Any = None,
        query: dict[str, str | None] | None = None,
        token: str | None = None,
        send_token: bool = True,
    ) -> Answer:
        """A request to `/v1/stable/conversation-state/{userID}[/variables]`, or without a
        userID to `/v1/stable/environment`, with the token and the usual query; `query` adds
        or, with None, removes parameters."""
        if self.target.realtime_url is None:
            raise ValueError("no realtime target")
        if user_id is None:
            path = label = "/v1/stable/environment"
            params = {"projectID": self.target.project_id}
        else:
            suffix = "/variables" if variables else ""
            path = f"/v1/stable/conversation-state/{self._segment(user_id, method)}{suffix}"
            if method != "GET":
                self.written_through_realtime.add(user_id)
            label = f"/v1/stable/conversation-state/{{userID}}{suffix}"
            params = {
                "projectID": self.target.project_id,
                "environmentAlias": self.target.alias,
                "version": self.target.realtime_version,
            }
        params = {k: v for k, v in _merge(params, query or {}).items() if v is not None}
        headers = {}
        if send_token:
            headers["Authorization"] = f"Bearer {token or self.target.token}"
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = str(httpx.URL(self.target.realtime_url + path, params=params))
        return self.send(method, url, f"{method} {label}", headers=headers, content=content)

    def send(
        self,
        method: str,
        url: str,
        label: str,
        headers: dict[str, str],
        content: bytes | None = None,
    ) -> Answer:
        try:
            response = self._client.request(method, url, headers=headers, content=content)
        except httpx.TransportError as error:
            return Answer(label, None, {}, "", error=f"{type(error).__name__}: {error}")
        return Answer(
            label,
            response.status_code,
            {name.lower(): value for name, value in response.headers.items()},
            response.text,
        )


def _merge(base: dict[str, str], changes: dict[str, str | None]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(base)
    for name, value in changes.items():
        for existing in [key for key in merged if key.lower() == name.lower()]:
            del merged[existing]
        if value is not None:
            merged[name] = value
    return merged
