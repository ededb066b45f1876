"""The Voiceflow runtime routes: the legacy Dialog Manager surface (§1.A) and the v4 session API
(§1.B), with the runtime's auth, version resolution, validation and rate limiting.
"""

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import agent
from .knobs import Settings
from .project_file import ProjectFileApi
from .ratelimit import Verdict
from .realtime import RealtimeApi
from .routing import RouteMatch
from .schema import state_body_error
from .sessions import Session
from .store import ALIASES, Project
from .transcript_reads import AnalyticsTranscriptApi
from .wire import (
    JSON_TYPE,
    EventStream,
    Refused,
    Request,
    Response,
    coded_error,
    json_response,
    named_error,
    parse_body,
    validation_error,
)

if TYPE_CHECKING:
    from .server import SandboxServer

# The runtime's health check answers as its environment is named; the sandbox is "local".
HEALTH_BODY = b"local Healthy"
SESSION_USER_ID_LENGTH = (1, 256)  # v4 start-session body (§1.B)
# Without an Authorization header gr-src budgets per versionID, with twice the keyed budget (§9).
KEYLESS_BUDGET_FACTOR = 2
COMPLETION_WORDS_PER_DELTA = 3
COMPLETION_DELTA_DELAY_S = 0.05
INVALID_KEY = "Invalid API key"
INVALID_SESSION = "Invalid session key"


def resolve_version(project: Project, version_header: str | None) -> str:
    """The version a legacy request runs on (§7.1 items 1 and 3)."""
    alias = version_header or "development"
    if alias == "development" and not project.versions.get("development"):
        raise Refused(coded_error(404, "Model not found. Ensure project is properly rendered."))
    # gr-src knows development and production; `staging` (§4) is an alias where a project has it.
    if alias in ("development", "production") or (alias in ALIASES and alias in project.versions):
        version = project.versions.get(alias)
        if not version:
            raise Refused(
                named_error(400, "verror", f"Voiceflow project was not published to {alias}")
            )
        return version
    if alias in project.version_ids():
        return alias
    raise Refused(named_error(400, "verror", f"Could not resolve project with version ID {alias}"))


def resolve_environment(project: Project, environment: str | None) -> str:
    """The version a v4 session runs on. `main` is the production environment (§4); without an
    environment the traffic split sends everyone to production once it is published."""
    if environment is None:
        version = project.versions.get("production") or project.versions.get("development")
    elif environment == "main":
        version = project.versions.get("production")
    elif environment in ALIASES:
        version = project.versions.get(environment)
    else:
        version = environment if environment in project.version_ids() else None
    if not version:
        raise Refused(coded_error(404, f"Environment not found: {environment}"))
    return version


def completion_traces(trace: dict) -> Iterator[dict]:
    """A text trace as completion events: start, content deltas, end (§3.3)."""
    message_id = trace["payload"]["slate"]["id"]
    words = trace["payload"]["message"].split(" ")
    stamp = {"time": trace["time"]}
    yield {"type": "completion", "payload": {"state": "start", "messageID": message_id}, **stamp}
    for start in range(0, len(words), COMPLETION_WORDS_PER_DELTA):
        chunk = " ".join(words[start : start + COMPLETION_WORDS_PER_DELTA])
        content = chunk if start == 0 else f" {chunk}"
        yield {
            "type": "completion",
            "payload": {"state": "content", "messageID": message_id, "content": content},
            **stamp,
        }
    yield {"type": "completion", "payload": {"state": "end", "messageID": message_id}, **stamp}


class RuntimeApi:
    def __init__(self, server: "SandboxServer") -> None:
        self.server = server
        self.store = server.store
        self.sessions = server.sessions
        realtime = RealtimeApi(server)
        self._newer_routes = {
            "realtime.send": realtime.send,
            "realtime.state.get": realtime.get_state,
            "realtime.state.replace": realtime.replace_state,
            "realtime.state.delete": realtime.delete_state,
            "realtime.variables.patch": realtime.update_variables,
            "realtime.environments": realtime.environments,
            "realtime.transcripts.search": realtime.search_transcripts,
            "realtime.transcript.get": realtime.get_transcript,
            "analytics.transcripts.search": realtime.search_analytics,
            "analytics.transcript.get": AnalyticsTranscriptApi(server).get_transcript,
            "project.export": ProjectFileApi(server).export,
        }

    def handle(
        self, request: Request, route: RouteMatch, settings: Settings
    ) -> Response | EventStream:
        """Parse the body, spend the budget, answer. Express parses the body before the rate
        limiter runs, so a malformed body is refused without spending budget and without the
        X-RateLimit-* headers every other answer carries (observed.json)."""
        if route.name == "health":
            return Response(200, HEALTH_BODY, "text/html; charset=utf-8")
        try:
            parse_body(request)
        except Refused as refusal:
            return refusal.response
        verdict = self._consume_budget(request, route, settings)
        try:
            if not verdict.allowed:
                response = coded_error(429, "Too Many Requests")
                response.headers["Retry-After"] = str(verdict.retry_after_s(time.time()))
                raise Refused(response)
            if route.name in self._newer_routes:
                answer = self._newer_routes[route.name](request, route)
            else:
                answer = getattr(self, "_" + route.name.replace(".", "_"))(request, route, settings)
        except Refused as refusal:
            answer = refusal.response
        answer.headers = {**verdict.headers(), **answer.headers}
        return answer

    def _consume_budget(self, request: Request, route: RouteMatch, settings: Settings) -> Verdict:
        authorization = request.header("authorization")
        if authorization:
            bucket, limit = f"key:{authorization}", settings.budget_per_minute
        else:
            version = route.params.get("versionID") or request.header("versionid") or ""
            bucket = f"versionID:{version}"
            limit = settings.budget_per_minute * KEYLESS_BUDGET_FACTOR
        return self.server.limiter.consume(bucket, limit, settings.window_seconds)

    # ---- legacy Dialog Manager surface ----

    def _project(self, request: Request, route: RouteMatch | None = None) -> Project:
        authorization = request.header("authorization")
        path_version = route.params.get("versionID") if route is not None else None
        if not authorization and path_version:
            # The older routes name the version in the path; gr-src answers them without a key
            # (observed.json), so the version alone finds the project.
            project = self.store.project_by_version(path_version)
            if project is not None:
                return project
        if not authorization:
            raise Refused(coded_error(401, "Auth Key Required"))
        project = self.store.project_by_key(authorization)
        if project is None:
            # §9: hosted Voiceflow refuses an unknown key with 401 (gr-src answers a 400 verror).
            raise Refused(coded_error(401, INVALID_KEY))
        return project

    def _legacy_target(
        self, request: Request, route: RouteMatch, settings: Settings, *, state_route: bool
    ) -> tuple[Project, str, str]:
        """The project, the version and the userID a legacy request addresses."""
        project = self._project(request, route)
        path_version = route.params.get("versionID")
        version = resolve_version(project, path_version or request.header("versionid"))
        if state_route and settings.require_project_id and not request.header("projectid"):
            raise Refused(validation_error("projectid", "Invalid value"))
        # No length check: the runtime stores any userID its 16 KiB request line can carry (§9).
        return project, version, route.params["userID"]

    def _state_get(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        project, _, user_id = self._legacy_target(request, route, settings, state_route=True)
        state = self.store.get(project.project_id, user_id)
        return json_response(200, state if state is not None else {})

    def _state_put(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        project, _, user_id = self._legacy_target(request, route, settings, state_route=True)
        body = request.json_object()
        problem = state_body_error(body)
        if problem:
            return validation_error("", problem)
        self.store.put(project.project_id, user_id, body)
        return json_response(200, body)

    def _state_delete(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        project, _, user_id = self._legacy_target(request, route, settings, state_route=True)
        self.store.delete(project.project_id, user_id)
        # Express's res.json(undefined): 200, a JSON content type and no body at all, sent
        # chunked without Content-Length (§9, observed.json).
        return Response(200, b"", JSON_TYPE, chunked=True, etag=False)

    def _state_patch(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        project, _, user_id = self._legacy_target(request, route, settings, state_route=True)
        body = request.json_object()
        if isinstance(body, list):
            # The runtime spreads the body into the variables: an array's items by index.
            body = {str(index): item for index, item in enumerate(body)}
        return json_response(200, self.store.merge_variables(project.project_id, user_id, body))

    def _state_reset(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        """POST /state/user/{userID}: the version's initial state, stored and answered (§1.A)."""
        project, _, user_id = self._legacy_target(request, route, settings, state_route=True)
        state = agent.generate_state(project.agent)
        self.store.put(project.project_id, user_id, state)
        return json_response(200, state)

    def _state_interact(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        project, version, user_id = self._legacy_target(request, route, settings, state_route=False)
        action, config, variables = _turn_body(request)

        def turn(stored: dict | None) -> tuple[dict, tuple[dict, list]]:
            state = agent.prepare_state(stored, user_id=user_id, script=project.agent)
            if isinstance(variables, dict):
                agent.deep_merge(state["variables"], variables)
            traces = agent.run_turn(
                state,
                action,
                user_id=user_id,
                now=time.time(),
                config=config,
                locale=request.query.get("locale"),
                version_id=version,
                script=project.agent,
            )
            return state, (state, traces)

        state, traces = self.store.update(project.project_id, user_id, turn)
        visible = agent.visible_traces(traces, config)
        self._log_turn(project.project_id, user_id, version, [action], traces)
        if request.query.get("verbose") == "true":
            # The request as the runtime understood it: a text turn as its matched intent.
            understood = agent.understood_request(state) if action is not None else action
            return json_response(200, {"state": state, "trace": visible, "request": understood})
        return json_response(200, visible)

    def _interact_stateless(
        self, request: Request, route: RouteMatch, settings: Settings
    ) -> Response:
        """POST /interact/{versionID}: one turn on the state the client sends, stored nowhere;
        answered `{request, state, trace}` (§1.A older variants, observed.json)."""
        project = self._project(request, route)
        version = resolve_version(project, route.params["versionID"])
        action, config, _ = _turn_body(request)
        body = request.json_object()
        sent_state = body.get("state") if isinstance(body, dict) else None
        if sent_state == {}:
            # An empty state is taken as is: no generated session (observed.json: sessions 1).
            state = {"stack": [], "storage": {}, "variables": {}}
        else:
            state = agent.prepare_state(sent_state, user_id="", script=project.agent)
        traces = agent.run_turn(
            state,
            action,
            user_id=None,
            now=time.time(),
            config=config,
            version_id=version,
            script=project.agent,
        )
        understood = agent.understood_request(state) if action is not None else action
        return json_response(
            200,
            {"request": understood, "state": state, "trace": agent.visible_traces(traces, config)},
        )

    # ---- v4 session API ----

    def _v4_session(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        project = self._project(request)
        if project.project_id != route.params["projectID"]:
            return coded_error(401, INVALID_KEY)
        body = request.json_object()
        problem = _session_body_error(body)
        if problem:
            return validation_error("", problem)
        version = resolve_environment(project, route.params.get("environmentID"))
        session = self.sessions.start(project.project_id, body["userID"], version)
        return json_response(200, {"sessionKey": session.key})

    def _live_session(self, request: Request) -> Session:
        authorization = request.header("authorization")
        if not authorization:
            raise Refused(coded_error(401, "Auth Key Required"))
        session = self.sessions.get(authorization)
        if session is None:
            # Also a project key: v4 turns take only a session key (§7.3 item 16).
            raise Refused(coded_error(401, INVALID_SESSION))
        return session

    def _session_turn(self, request: Request) -> tuple[list[dict], dict]:
        session = self._live_session(request)
        body = request.json_object()
        if not isinstance(body, dict):
            raise Refused(validation_error("", "data should be object"))
        if "action" not in body:
            raise Refused(validation_error("", "data should have required property 'action'"))
        if not isinstance(body["action"], dict):
            raise Refused(validation_error("", "data.action should be object"))
        config = body.get("config") if isinstance(body.get("config"), dict) else {}
        variables = body.get("variables")
        # Emitted events reach a live session at its next turn, before the action (§1.B).
        requests = [*self.sessions.take_events(session), body["action"]]

        script = self.store.project(session.project_id)
        script = script.agent if script is not None else None

        def turn(stored: dict | None) -> tuple[dict, list]:
            state = agent.prepare_state(stored, user_id=session.user_id, script=script)
            if isinstance(variables, dict):
                agent.deep_merge(state["variables"], variables)
            traces: list[dict] = []
            for action in requests:
                traces += agent.run_turn(
                    state,
                    action,
                    user_id=session.user_id,
                    now=time.time(),
                    config=config,
                    version_id=session.version_id,
                    script=script,
                )
            return state, traces

        traces = self.store.update(session.project_id, session.user_id, turn)
        self._log_turn(session.project_id, session.user_id, session.version_id, requests, traces)
        return agent.visible_traces(traces, config), config

    def _log_turn(
        self, project_id: str, user_id: str, version_id: str, requests: list, traces: list[dict]
    ) -> None:
        # Transcripts keep what a default client would see (block, debug, flow left out).
        self.store.record_turn(
            project_id,
            user_id,
            version_id=version_id,
            requests=requests,
            traces=agent.visible_traces(traces, None),
            now=time.time(),
        )

    def _v4_interact(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        traces, _ = self._session_turn(request)
        return json_response(200, {"traces": traces})

    def _v4_stream(self, request: Request, route: RouteMatch, settings: Settings) -> EventStream:
        traces, config = self._session_turn(request)
        return EventStream(self._stream(traces, completion=config.get("completionEvents") is True))

    def _stream(self, traces: list[dict], *, completion: bool) -> Iterator[tuple[str, Any]]:
        for trace in traces:
            if completion and trace["type"] == "text":
                for index, event in enumerate(completion_traces(trace)):
                    if index > 1 and event["payload"]["state"] == "content":
                        # Deltas arrive one by one, as an LLM's tokens would.
                        self.server.stopping.wait(COMPLETION_DELTA_DELAY_S)
                    yield "trace", event
            else:
                yield "trace", trace
        yield "end", {}

    def _v2_event(self, request: Request, route: RouteMatch, settings: Settings) -> Response:
        project = self._project(request)
        if project.project_id != route.params["projectID"]:
            return coded_error(401, INVALID_KEY)
        body = request.json_object()
        if not isinstance(body, dict):
            return validation_error("", "data should be object")
        action = body.get("action")
        if not isinstance(action, dict):
            message = (
                "data.action should be object"
                if "action" in body
                else ("data should have required property 'action'")
            )
            return validation_error("", message)
        if not isinstance(action.get("type"), str):
            return validation_error("", "data.action should have required property 'type'")
        self.sessions.emit(project.project_id, route.params["sessionID"], action)
        return Response(201, b"", content_type=None)


def _turn_body(request: Request) -> tuple[dict | None, dict, Any]:
    """The action, config and state variables of a legacy turn's body."""
    body = request.json_object()
    body = body if isinstance(body, dict) else {}
    # `request` is the deprecated name of `action` (gr-src).
    action = body["action"] if "action" in body else body.get("request")
    if action is not None and not isinstance(action, dict):
        # A bare-string action crashes the turn in the runtime (observed.json).
        raise Refused(
            coded_error(500, "Cannot read properties of undefined (reading 'startsWith')")
        )
    config = body.get("config") if isinstance(body.get("config"), dict) else {}
    body_state = body.get("state") if isinstance(body.get("state"), dict) else {}
    return action, config, body_state.get("variables")


def _session_body_error(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "data should be object"
    if "userID" not in body:
        return "data should have required property 'userID'"
    user_id = body["userID"]
    if not isinstance(user_id, str):
        return "data.userID should be string"
    shortest, longest = SESSION_USER_ID_LENGTH
    if len(user_id) < shortest:
        return f"data.userID should NOT be shorter than {shortest} characters"
    if len(user_id) > longest:
        return f"data.userID should NOT be longer than {longest} characters"
    return None
