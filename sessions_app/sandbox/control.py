"""The control API under `/_sandbox/` (docs/sandbox.md): register projects, turn knobs, read
counters and the stored truth. JSON in and out, no auth, loopback only, never counted in budgets
or stats.
"""

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .agent import SCRIPTS, object_id
from .store import ALIASES, Project
from .wire import Response, json_response

if TYPE_CHECKING:
    from .server import SandboxServer


# A project registered without versions has both environments published.
PUBLISHED = ("development", "production")


class _BadRequest(Exception):
    pass


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def _body(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _BadRequest(f"the body is not JSON: {exc}") from exc


def _required(source: dict, name: str) -> str:
    value = source.get(name)
    if not isinstance(value, str) or not value:
        raise _BadRequest(f"{name} is required (a non-empty string)")
    return value


def _project_from(payload: Any) -> Project:
    if not isinstance(payload, dict):
        raise _BadRequest("the project must be a JSON object")
    project_id = _required(payload, "project_id")
    api_key = _required(payload, "api_key")
    versions = payload.get("versions")
    if versions is None:
        versions = {alias: object_id(f"version:{project_id}:{alias}") for alias in PUBLISHED}
    if not isinstance(versions, dict) or not all(
        isinstance(alias, str) and (version is None or isinstance(version, str))
        for alias, version in versions.items()
    ):
        raise _BadRequest("versions maps aliases to a version ID or null")
    access_token = payload.get("access_token")
    if access_token is not None and not isinstance(access_token, str):
        raise _BadRequest("access_token must be a string")
    name = payload.get("name")
    script = payload.get("agent", "pizzeria")
    if script not in SCRIPTS:
        raise _BadRequest(f"agent is one of: {', '.join(SCRIPTS)}")
    return Project(
        project_id=project_id,
        api_key=api_key,
        name=name if isinstance(name, str) and name else project_id,
        versions=dict(versions),
        access_token=access_token,
        agent=script,
    )


def handle(
    server: "SandboxServer", method: str, raw_path: str, query: dict[str, str], raw_body: bytes
) -> Response:
    route = raw_path.removeprefix("/_sandbox").strip("/")
    try:
        return _dispatch(server, method, route, query, raw_body)
    except _BadRequest as problem:
        return _error(400, str(problem))


def _dispatch(
    server: "SandboxServer", method: str, route: str, query: dict[str, str], raw_body: bytes
) -> Response:
    store = server.store
    if (method, route) == ("GET", "health"):
        return json_response(200, {"ok": True})
    if (method, route) == ("GET", "projects"):
        return json_response(200, {"projects": [p.describe() for p in store.projects()]})
    if (method, route) == ("POST", "projects"):
        try:
            project = store.register(_project_from(_body(raw_body)))
        except ValueError as conflict:
            return _error(409, str(conflict))
        return json_response(200, {"project": project.describe()})
    if (method, route) == ("GET", "knobs"):
        return json_response(200, server.knobs.describe())
    if (method, route) == ("POST", "knobs"):
        try:
            server.knobs.apply(_body(raw_body))
        except ValueError as invalid:
            raise _BadRequest(str(invalid)) from invalid
        return json_response(200, server.knobs.describe())
    if (method, route) == ("POST", "knobs/reset"):
        server.knobs.reset()
        return json_response(200, server.knobs.describe())
    if (method, route) == ("GET", "stats"):
        return json_response(200, server.stats.describe(query.get("api_key")))
    if (method, route) == ("POST", "stats/reset"):
        payload = _body(raw_body)
        api_key = payload.get("api_key") if isinstance(payload, dict) else None
        server.stats.reset(api_key or query.get("api_key"))
        return json_response(200, {"ok": True})
    if route == "state" and method in ("GET", "PUT", "DELETE"):
        return _state(server, method, query, raw_body)
    if (method, route) == ("POST", "transcripts"):
        return _add_transcript(server, _body(raw_body))
    if (method, route) == ("GET", "users"):
        return json_response(200, {"user_ids": store.user_ids(_required(query, "project_id"))})
    if (method, route) == ("GET", "events"):
        return json_response(200, {"events": server.sessions.events(query.get("project_id"))})
    if (method, route) == ("POST", "reset"):
        server.reset()
        return json_response(200, {"ok": True})
    return _error(404, f"no control endpoint {method} /_sandbox/{route}")


def _state(
    server: "SandboxServer", method: str, query: dict[str, str], raw_body: bytes
) -> Response:
    """The stored truth, bypassing auth, budgets and stats."""
    payload = _body(raw_body) if method != "GET" else {}
    source = {**query, **payload} if isinstance(payload, dict) else query
    project_id = _required(source, "project_id")
    user_id = _required(source, "user_id")
    if method == "GET":
        # The stored truth exactly, for tests: NaN and Infinity as Python writes them, lone
        # surrogates escaped (the runtime's routes answer as JSON.stringify would, wire.to_json).
        return Response(200, json.dumps(server.store.get(project_id, user_id)).encode())
    if method == "DELETE":
        server.store.delete(project_id, user_id)
        return json_response(200, {"ok": True})
    state = source.get("state")
    if not isinstance(state, dict):
        raise _BadRequest("state must be a JSON object")
    server.store.put(project_id, user_id, state)
    return json_response(200, {"ok": True})


def _add_transcript(server: "SandboxServer", payload: Any) -> Response:
    """A transcript of a conversation held at the given times (the store's `add_transcript`)."""
    if not isinstance(payload, dict):
        raise _BadRequest("the transcript must be a JSON object")
    project = server.store.project(_required(payload, "project_id"))
    if project is None:
        raise _BadRequest("no such project; register it first")
    user_id = _required(payload, "user_id")
    created_at = _moment(payload, "created_at")
    updated_at = _moment(payload, "updated_at") if "updated_at" in payload else created_at
    if updated_at < created_at:
        raise _BadRequest("updated_at is before created_at")
    version = payload.get("version", "development")
    version_id = project.versions.get(version) if version in ALIASES else version
    if not isinstance(version_id, str) or not version_id:
        raise _BadRequest("version is an alias the project has published, or a version ID")
    transcript = server.store.add_transcript(
        project.project_id,
        user_id,
        version_id=version_id,
        created_at=created_at,
        updated_at=updated_at,
        ended=bool(payload.get("ended", True)),
    )
    return json_response(200, {"transcript": transcript})


def _moment(payload: dict, name: str) -> float:
    problem = f"{name} must be an ISO 8601 time with a zone, e.g. 2025-01-31T09:00:00Z"
    try:
        moment = datetime.fromisoformat(str(payload.get(name)).replace("Z", "+00:00"))
    except ValueError as exc:
        raise _BadRequest(problem) from exc
    if moment.tzinfo is None:
        raise _BadRequest(problem)
    return moment.timestamp()
