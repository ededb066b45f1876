"""The newer APIs: the Realtime "stable" API (§1.C, bearer access token) and the transcript
searches (§6.1 realtime, §6.2 analytics).

The realtime API addresses the same conversation state as the legacy routes: one state per
(projectID, userID). Its environments are `main` (draft = the development version, published =
the production version) and `staging` where the project has one.
"""

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import agent
from .routing import RouteMatch
from .schema import state_body_error
from .store import Project
from .wire import Refused, Request, Response, json_response, status_phrase

if TYPE_CHECKING:
    from .server import SandboxServer

VERSIONS = ("draft", "published")
TAKE_RANGE = (1, 100)
REALTIME_TAKE_DEFAULT = 20
ANALYTICS_TAKE_DEFAULT = 25
SEARCH_KEYS = {
    "take",
    "skip",
    "startDate",
    "endDate",
    "sessionID",
    "environmentAlias",
    "version",
    "filters",
}
ANALYTICS_TRANSCRIPT_KEYS = (
    "id",
    "sessionID",
    "projectID",
    "environmentID",
    "createdAt",
    "updatedAt",
    "expiresAt",
    "endedAt",
    "recordingURL",
    "properties",
    "evaluations",
)


def nest_error(status: int, message: str | list[str]) -> Response:
    """The hosted services' error body (a NestJS rewrite, §7.1 item 2) [inferred]."""
    return json_response(
        status, {"message": message, "error": status_phrase(status), "statusCode": status}
    )


def refuse(status: int, message: str) -> Refused:
    return Refused(nest_error(status, message))


def _environments(project: Project) -> dict[str, dict[str, str | None]]:
    environments = {
        "main": {
            "draft": project.versions.get("development"),
            "published": project.versions.get("production"),
        }
    }
    if "staging" in project.versions:
        staging = project.versions["staging"]
        environments["staging"] = {"draft": staging, "published": staging}
    return environments


def _parse_time(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise refuse(400, f"{name} must be an ISO 8601 date string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise refuse(400, f"{name} must be an ISO 8601 date string") from exc


def _stamp(transcript: dict) -> float:
    return datetime.fromisoformat(transcript["createdAt"].replace("Z", "+00:00")).timestamp()


def _page(items: list[dict], take: Any, skip: Any, default_take: int) -> list[dict]:
    take = default_take if take is None else take
    skip = 0 if skip is None else skip
    lowest, highest = TAKE_RANGE
    if isinstance(take, bool) or not isinstance(take, int) or not lowest <= take <= highest:
        raise refuse(400, f"take must be an integer from {lowest} to {highest}")
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise refuse(400, "skip must be an integer >= 0")
    return items[skip : skip + take]


class RealtimeApi:
    def __init__(self, server: "SandboxServer") -> None:
        self.server = server
        self.store = server.store

    # ---- shared checks ----

    def _project(self, request: Request) -> Project:
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise refuse(401, "Unauthorized")
        project_id = request.query.get("projectID")
        if not project_id:
            raise refuse(400, "projectID should not be empty")
        project = self.store.project(project_id)
        if project is None or not project.access_token or project.access_token != token.strip():
            raise refuse(401, "Unauthorized")
        return project

    @staticmethod
    def _version(project: Project, alias: str | None, version_name: Any) -> str:
        if not alias:
            raise refuse(400, "environmentAlias should not be empty")
        environment = _environments(project).get(alias)
        if environment is None:
            raise refuse(400, "invalid environment tag")
        if version_name not in VERSIONS:
            raise refuse(400, "version must be one of the following values: draft, published")
        version = environment[version_name]
        if not version:
            raise refuse(404, f"environment {alias} has no {version_name} version")
        return version

    def _target(self, request: Request, route: RouteMatch) -> tuple[Project, str]:
        project = self._project(request)
        self._version(project, request.query.get("environmentAlias"), request.query.get("version"))
        return project, route.params["userID"]

    @staticmethod
    def _object_body(request: Request) -> dict:
        body = request.json_object()
        if not isinstance(body, dict):
            raise refuse(400, "data should be object")
        return body

    # ---- conversation ----

    def send(self, request: Request, route: RouteMatch) -> Response:
        """PUT /v1/stable/conversation/{userID}: one turn, answered as `{traces}`."""
        project = self._project(request)
        body = self._object_body(request)
        for key in ("action", "version"):
            if key not in body:
                raise refuse(400, f"data should have required property '{key}'")
        if not isinstance(body["action"], dict):
            raise refuse(400, "data.action should be object")
        version = self._version(project, request.query.get("environmentAlias"), body["version"])
        user_id = route.params["userID"]
        action = body["action"]

        def turn(stored: dict | None) -> tuple[dict, list[dict]]:
            state = agent.prepare_state(stored, user_id=user_id, script=project.agent)
            traces = agent.run_turn(
                state,
                action,
                user_id=user_id,
                now=time.time(),
                version_id=version,
                script=project.agent,
            )
            return state, traces

        traces = agent.visible_traces(self.store.update(project.project_id, user_id, turn), None)
        self.store.record_turn(
            project.project_id,
            user_id,
            version_id=version,
            requests=[action],
            traces=traces,
            now=time.time(),
        )
        return json_response(200, {"traces": traces})

    # ---- conversation state ----

    def get_state(self, request: Request, route: RouteMatch) -> Response:
        project, user_id = self._target(request, route)
        state = self.store.get(project.project_id, user_id)
        if state is None:
            # Unknown user: not confirmed by any source (§7.3 item 17); 404 is our choice.
            raise refuse(404, "conversation state not found")
        return json_response(200, {"state": state})

    def replace_state(self, request: Request, route: RouteMatch) -> Response:
        project, user_id = self._target(request, route)
        body = self._object_body(request)
        problem = state_body_error(body)
        if problem:
            raise refuse(400, problem)
        self.store.put(project.project_id, user_id, body)
        return json_response(200, {"message": "state updated"})

    def update_variables(self, request: Request, route: RouteMatch) -> Response:
        project, user_id = self._target(request, route)
        body = self._object_body(request)
        if "variables" not in body:
            raise refuse(400, "data should have required property 'variables'")
        if set(body) != {"variables"}:
            raise refuse(400, "data should NOT have additional properties")
        if not isinstance(body["variables"], dict):
            raise refuse(400, "data.variables should be object")
        self.store.merge_variables(project.project_id, user_id, body["variables"])
        return json_response(200, {"message": "variables updated"})

    def delete_state(self, request: Request, route: RouteMatch) -> Response:
        project, user_id = self._target(request, route)
        self.store.delete(project.project_id, user_id)
        return json_response(200, {"message": "state deleted"})

    # ---- environments and transcripts ----

    def environments(self, request: Request, route: RouteMatch) -> Response:
        project = self._project(request)
        listed = [
            {
                "id": _environment_id(project, alias),
                "name": "Production" if alias == "main" else alias.capitalize(),
                "alias": alias,
                "isMain": alias == "main",
                "draftVersionID": versions["draft"],
                "publishedVersionID": versions["published"],
                "trafficPercentage": 100 if alias == "main" else 0,
                "releases": [],
            }
            for alias, versions in _environments(project).items()
        ]
        return json_response(200, {"environments": listed})

    def search_transcripts(self, request: Request, route: RouteMatch) -> Response:
        """POST /v1/stable/transcript/search: transcripts with their userID, without logs."""
        project = self._project(request)
        body = self._object_body(request)
        unknown = set(body) - SEARCH_KEYS
        if unknown:
            raise refuse(400, f"property {sorted(unknown)[0]} should not exist")
        found = self._matching(project.project_id, body, _alias_versions(project, body))
        page = _page(found, body.get("take"), body.get("skip"), REALTIME_TAKE_DEFAULT)
        return json_response(200, {"transcripts": [_without_logs(t) for t in page]})

    def get_transcript(self, request: Request, route: RouteMatch) -> Response:
        project = self._project(request)
        for transcript in self.store.transcripts(project.project_id):
            if transcript["id"] == route.params["transcriptID"]:
                return json_response(200, {"transcript": transcript})
        raise refuse(404, "transcript not found")

    def search_analytics(self, request: Request, route: RouteMatch) -> Response:
        """POST /v1/transcript/project/{projectID} (analytics API, VF.DM key): no userID."""
        project = self.store.project_by_key(request.header("authorization") or "")
        if project is None or project.project_id != route.params["projectID"]:
            raise refuse(401, "Unauthorized")
        body = self._object_body(request)
        found = self._matching(project.project_id, body, _environment_versions(project, body))
        if request.query.get("order", "DESC").upper() == "ASC":
            found.reverse()
        take = request.query.get("take")
        skip = request.query.get("skip")
        page = _page(
            found,
            int(take) if take and take.isdigit() else take,
            int(skip) if skip and skip.isdigit() else skip,
            ANALYTICS_TAKE_DEFAULT,
        )
        return json_response(
            200, {"transcripts": [{key: t[key] for key in ANALYTICS_TRANSCRIPT_KEYS} for t in page]}
        )

    def _matching(
        self, project_id: str, body: dict, versions: set[str | None] | None
    ) -> list[dict]:
        """Newest first, filtered by sessionID, the createdAt range and the versions of the
        chosen environment (None: any); `filters` are accepted and ignored."""
        start = _parse_time(body.get("startDate"), "startDate")
        end = _parse_time(body.get("endDate"), "endDate")
        session_id = body.get("sessionID")
        return [
            transcript
            for transcript in self.store.transcripts(project_id)
            if (session_id is None or transcript["sessionID"] == session_id)
            and (start is None or _stamp(transcript) >= start)
            and (end is None or _stamp(transcript) <= end)
            and (versions is None or transcript["environmentID"] in versions)
        ]


def _alias_versions(project: Project, body: dict) -> set[str | None] | None:
    """The versions a realtime search's `environmentAlias` (and `version`) stand for."""
    alias, version = body.get("environmentAlias"), body.get("version")
    if alias is None and version is None:
        return None
    environments = _environments(project)
    if alias is not None and alias not in environments:
        raise refuse(400, "invalid environment tag")
    if version is not None and version not in VERSIONS:
        raise refuse(400, "version must be one of the following values: draft, published")
    chosen = [environments[alias]] if alias is not None else list(environments.values())
    return {
        versions[name]
        for versions in chosen
        for name in ((version,) if version is not None else VERSIONS)
    }


def _environment_versions(project: Project, body: dict) -> set[str | None] | None:
    """The versions an analytics search's `environmentID` stands for: an environment's ID (as
    listed by `GET /v1/stable/environment`), a legacy alias or a version ID."""
    wanted = body.get("environmentID")
    if wanted is None:
        return None
    for alias, versions in _environments(project).items():
        if wanted == _environment_id(project, alias):
            return set(versions.values())
    if wanted in project.versions:
        return {project.versions[wanted]}
    return {wanted}


def _environment_id(project: Project, alias: str) -> str:
    return agent.object_id(f"environment:{project.project_id}:{alias}")


def _without_logs(transcript: dict) -> dict:
    return {key: value for key, value in transcript.items() if key not in ("logs", "environmentID")}
