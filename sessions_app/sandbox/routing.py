"""The runtime routes the sandbox answers, and matching a raw request path against them.

A userID may contain `/`, `?`, `#`, `%`, spaces or any unicode; clients send it percent-encoded
as one path segment. So the path is split on `/` first and each parameter is decoded afterwards:
decoding first would turn `a%2Fb` into two segments.
"""

import re
from dataclasses import dataclass
from urllib.parse import unquote

# (method, path pattern, route name); `:name` segments are parameters.
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/state/user/:userID", "state.get"),
    ("PUT", "/state/user/:userID", "state.put"),
    ("DELETE", "/state/user/:userID", "state.delete"),
    ("PATCH", "/state/user/:userID/variables", "state.patch"),
    ("POST", "/state/user/:userID/interact", "state.interact"),
    ("POST", "/state/user/:userID", "state.reset"),
    # The older variants with the version in the path (§1.A, gr-src only).
    ("GET", "/state/:versionID/user/:userID", "state.get"),
    ("PUT", "/state/:versionID/user/:userID", "state.put"),
    ("DELETE", "/state/:versionID/user/:userID", "state.delete"),
    ("POST", "/state/:versionID/user/:userID", "state.reset"),
    ("PATCH", "/state/:versionID/user/:userID/variables", "state.patch"),
    ("POST", "/state/:versionID/user/:userID/interact", "state.interact"),
    ("POST", "/interact/:versionID", "interact.stateless"),
    ("GET", "/health", "health"),
    ("POST", "/v4/project/:projectID/environment/:environmentID/session", "v4.session"),
    ("POST", "/v4/project/:projectID/session", "v4.session"),
    ("POST", "/v4/interact", "v4.interact"),
    ("POST", "/v4/interact/stream", "v4.stream"),
    ("POST", "/v2/project/:projectID/session/:sessionID/event", "v2.event"),
    ("PUT", "/v1/stable/conversation/:userID", "realtime.send"),
    ("GET", "/v1/stable/conversation-state/:userID", "realtime.state.get"),
    ("PATCH", "/v1/stable/conversation-state/:userID", "realtime.state.replace"),
    ("DELETE", "/v1/stable/conversation-state/:userID", "realtime.state.delete"),
    ("PATCH", "/v1/stable/conversation-state/:userID/variables", "realtime.variables.patch"),
    ("GET", "/v1/stable/environment", "realtime.environments"),
    ("POST", "/v1/stable/transcript/search", "realtime.transcripts.search"),
    ("GET", "/v1/stable/transcript/:transcriptID", "realtime.transcript.get"),
    ("POST", "/v1/transcript/project/:projectID", "analytics.transcripts.search"),
    ("GET", "/v1/transcript/:transcriptID", "analytics.transcript.get"),
    ("GET", "/v2/versions/:versionID/export", "project.export"),
)
ROUTE_NAMES = frozenset(name for _, _, name in ROUTES)
WRITE_ROUTES = frozenset(
    {
        "state.put",
        "state.patch",
        "state.delete",
        "state.reset",
        "realtime.state.replace",
        "realtime.state.delete",
        "realtime.variables.patch",
    }
)

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


class BadEscape(ValueError):
    """A path parameter that is not valid percent-encoded UTF-8."""


@dataclass(frozen=True)
class RouteMatch:
    name: str
    params: dict[str, str]

    @property
    def user_id(self) -> str | None:
        return self.params.get("userID")


def _decode(segment: str) -> str:
    if _BAD_ESCAPE.search(segment):
        raise BadEscape(segment)
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        raise BadEscape(segment) from exc


def match_route(method: str, raw_path: str) -> RouteMatch | None:
    """The route for a request, or None (Express would answer its HTML 404).

    HEAD is answered by GET routes, literal segments match case-insensitively and one trailing
    slash is ignored, as Express's default router does.
    """
    segments = raw_path.split("/")[1:]
    if len(segments) > 1 and segments[-1] == "":
        segments.pop()
    wanted = "GET" if method == "HEAD" else method
    for route_method, pattern, name in ROUTES:
        parts = pattern.split("/")[1:]
        if route_method != wanted or len(parts) != len(segments):
            continue
        params: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith(":"):
                if not segment:
                    break
                params[part[1:]] = segment
            elif part.lower() != segment.lower():
                break
        else:
            return RouteMatch(name, {key: _decode(value) for key, value in params.items()})
    return None
