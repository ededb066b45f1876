"""Reading one transcript with its logs through the analytics API (§6.2: `GET
/v1/transcript/{transcriptID}`, project key). The realtime read (`GET /v1/stable/transcript/…`,
access token) is in realtime.py."""

from typing import TYPE_CHECKING

from .routing import RouteMatch
from .wire import Refused, Request, Response, json_response

if TYPE_CHECKING:
    from .server import SandboxServer


class AnalyticsTranscriptApi:
    def __init__(self, server: "SandboxServer") -> None:
        self.store = server.store

    def get_transcript(self, request: Request, route: RouteMatch) -> Response:
        project = self.store.project_by_key(request.header("authorization") or "")
        if project is None:
            raise Refused(json_response(401, {"message": "Unauthorized", "statusCode": 401}))
        for transcript in self.store.transcripts(project.project_id):
            if transcript["id"] == route.params["transcriptID"]:
                return json_response(200, {"transcript": transcript})
        raise Refused(json_response(404, {"message": "transcript not found", "statusCode": 404}))
