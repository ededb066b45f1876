"""The control API under `/_sandbox/` (docs/sandbox.md): register projects, turn knobs, read
counters and the stored truth. JSON in and out, no auth, loopback only, never counted in budgets
or stats.
"""

import json
from typing import TYPE_CHECKING, Any

from .agent import object_id
from .store import Project
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
    return Project(
        project_id=project_id,
        api_key=api_key,
        name=name if isinstance(name, str) and name else project_id,
        versions=dict(versions),
        access_token=access_token,
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
        return json_response(200, server.store.get(project_id, user_id))
    if method == "DELETE":
        server.store.delete(project_id, user_id)
        return json_response(200, {"ok": True})
    state = source.get("state")
    if not isinstance(state, dict):
        raise _BadRequest("state must be a JSON object")
    server.store.put(project_id, user_id, state)
    return json_response(200, {"ok": True})
