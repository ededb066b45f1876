"""The one way this product calls Voiceflow (voiceflow-api.md is the contract).

`SessionClient` addresses one environment of one project. It knows Voiceflow's endpoints; every
request goes through the project's `Transport` (transport.py: pacing against the shared budget,
time-outs, the private-address guard, typed errors), and every answer is read by `answers.py`.
Views, the REST API and bulk workers all use this class, bulk workers from a thread pool.

Voiceflow serves a project from three hosts (§0): the runtime (legacy state API, v4 sessions), the
realtime API (newer state API, transcript search with a personal access token) and the analytics
API (transcript search with the project key). Each is a `Surface`; the state calls go to the one
the project chose, through `state_apis.py`.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ..models import Project
from .answers import (
    StreamEvent,
    TurnAnswer,
    project_file_of,
    session_key_of,
    transcript_of,
    transcripts_of,
)
from .errors import InvalidUserID, NoSessionApi, UpstreamFailure
from .state_apis import LegacyStateApi, RealtimeStateApi
from .transport import Surface, Transport

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
# Both transcript searches take at most this many per page (§6.1, §6.2).
TRANSCRIPT_PAGE_MAX = 100


@dataclass(frozen=True)
class Target:
    """Everything needed to address one environment; secrets stay out of repr()."""

    runtime_url: str
    project_id: str
    version_id: str
    api_key: str = field(repr=False)
    state_api: str = Project.StateApi.LEGACY
    realtime_url: str = ""
    analytics_url: str = ""
    project_api_url: str = ""
    access_token: str = field(default="", repr=False)
    environment_alias: str = "main"
    realtime_version: str = "draft"


class SessionClient:
    def __init__(self, target: Target, transport: Transport) -> None:
        self.target = target
        self.transport = transport
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
        if target.state_api == Project.StateApi.REALTIME:
            self.state_api: LegacyStateApi | RealtimeStateApi = RealtimeStateApi(
                transport,
                self.realtime,
                project_id=target.project_id,
                environment_alias=target.environment_alias,
                version=target.realtime_version,
            )
        else:
            self.state_api = LegacyStateApi(transport, self.runtime)

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
        self, user_id: str, action: dict, *, config: dict | None = None, verbose: bool = False
    ) -> TurnAnswer:
        """One turn: its traces, and with `verbose` the state after it."""
        return self.state_api.interact(user_id, action, config=config, verbose=verbose)

    def start_session(self, user_id: str, environment_alias: str) -> str:
        """v4: a session key for the user in that environment; any earlier key of the same user
        stops working."""
        if not 1 <= len(user_id) <= 256:
            raise InvalidUserID("A v4 session userID has 1 to 256 characters.")
        path = (
            f"/v4/project/{quote(self.target.project_id, safe='')}"
            f"/environment/{quote(environment_alias, safe='')}/session"
        )
        try:
            answer = self.transport.send(self.runtime, "POST", path, json_body={"userID": user_id})
        except UpstreamFailure as error:
            if error.status == 404:
                raise self._no_session_api(error) from error
            raise
        return session_key_of(answer)

    def stream_v4(
        self, session_key: str, action: dict, *, config: dict | None = None
    ) -> Iterator[StreamEvent]:
        """A v4 turn: each server-sent event as it arrives (`trace`…), ending with `end`."""
        body: dict[str, Any] = {"action": action}
        if config:
            body["config"] = config
        try:
            yield from self.transport.stream(
                self.runtime, "/v4/interact/stream", json_body=body, authorization=session_key
            )
        except UpstreamFailure as error:
            if error.status == 404:
                raise self._no_session_api(error) from error
            raise

    def _no_session_api(self, error: UpstreamFailure) -> NoSessionApi:
        """A 404 from a v4 route that names no environment: the runtime has no such routes."""
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
        self.transport.send(self.runtime, "POST", path, json_body={"action": action})

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
        answer = self.transport.send(
            self.realtime,
            "POST",
            "/v1/stable/transcript/search",
            params={"projectID": self.target.project_id},
            json_body=body,
        )
        return transcripts_of(answer)

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
        answer = self.transport.send(
            self.analytics,
            "POST",
            f"/v1/transcript/project/{quote(self.target.project_id, safe='')}",
            params={"take": take, "skip": skip, "order": "DESC"},
            json_body=body,
        )
        return transcripts_of(answer)

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
            answer = self.transport.send(
                self.realtime,
                "GET",
                f"/v1/stable/transcript/{quote(transcript_id, safe='')}",
                params={"projectID": self.target.project_id},
            )
        else:
            answer = self.transport.send(
                self.analytics, "GET", f"/v1/transcript/{quote(transcript_id, safe='')}"
            )
        return transcript_of(answer)

    def user_transcripts(self, user_id: str, *, take: int = 10) -> list[dict]:
        """The user's latest transcripts, newest first (without logs).

        Both searches filter on `sessionID`, which for conversations over the Dialog Manager API
        is the userID (§6.3); the realtime search also names the `userID`, so other users'
        transcripts are dropped when it does.
        """
        body = {"sessionID": user_id}
        if self.realtime.authorization:
            answer = self.transport.send(
                self.realtime,
                "POST",
                "/v1/stable/transcript/search",
                params={"projectID": self.target.project_id},
                json_body={"take": take, "skip": 0} | body,
            )
        else:
            answer = self.transport.send(
                self.analytics,
                "POST",
                f"/v1/transcript/project/{quote(self.target.project_id, safe='')}",
                params={"take": take, "skip": 0, "order": "DESC"},
                json_body=body,
            )
        return [
            transcript
            for transcript in transcripts_of(answer)
            if transcript.get("userID") in (None, user_id)
        ]

    # ---- the project file (Project API, docs-new /api-reference/project/fetch-project) ----

    def export_project(self, version: str) -> dict:
        """The project file (`.vf`) of a version: a versionID, `development` or `production`."""
        answer = self.transport.send(
            self.project_api, "GET", f"/v2/versions/{quote(version, safe='')}/export"
        )
        return project_file_of(answer)


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
