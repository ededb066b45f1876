"""The two generations of Voiceflow's state API, behind one set of methods.

A project chooses one (`Project.state_api`); `SessionClient` hands its state calls to the matching
class here, so the rest of the product reads and writes a conversation the same way over either.
Both send through the project's `Transport` (pacing, time-outs, error mapping) and read answers
with `answers.py`; these classes only know paths and bodies (voiceflow-api.md §1.A, §1.C, §8).
"""

from typing import Any

from .answers import TurnAnswer, legacy_turn, realtime_state_of, realtime_traces, state_of
from .errors import UpstreamFailure
from .transport import Surface, Transport
from .userids import user_path


class LegacyStateApi:
    """`/state/user/{userID}` on the runtime host: project key, `versionID` header (§1.A)."""

    def __init__(self, transport: Transport, runtime: Surface) -> None:
        self.transport = transport
        self.runtime = runtime

    def _send(self, method: str, path: str, **options: Any) -> Any:
        return self.transport.send(self.runtime, method, path, **options)

    def get_state(self, user_id: str) -> dict:
        return state_of(self._send("GET", f"/state/user/{user_path(user_id)}"))

    def replace_state(self, user_id: str, state: dict) -> dict:
        return self._send("PUT", f"/state/user/{user_path(user_id)}", json_body=state)

    def delete_state(self, user_id: str) -> None:
        self._send("DELETE", f"/state/user/{user_path(user_id)}")

    def update_variables(self, user_id: str, variables: dict) -> dict:
        return self._send(
            "PATCH", f"/state/user/{user_path(user_id)}/variables", json_body=variables
        )

    def interact(
        self, user_id: str, action: dict, *, config: dict | None, verbose: bool
    ) -> TurnAnswer:
        body: dict[str, Any] = {"action": action}
        if config is not None:
            body["config"] = config
        answer = self._send(
            "POST",
            f"/state/user/{user_path(user_id)}/interact",
            json_body=body,
            params={"verbose": "true"} if verbose else None,
        )
        turn = legacy_turn(answer)
        if verbose and turn.state is None:
            return TurnAnswer(turn.traces, self.get_state(user_id))
        return turn


class RealtimeStateApi:
    """`/v1/stable/conversation-state/{userID}` on the realtime host: bearer access token, and
    `projectID`, `environmentAlias` and `version` on every call (§1.C).

    Its writes answer only `{message}`, so `replace_state` and `update_variables` read the state
    back to return it like the legacy API does: each such write costs one more request, paced
    like any other.
    """

    def __init__(
        self,
        transport: Transport,
        realtime: Surface,
        *,
        project_id: str,
        environment_alias: str,
        version: str,
    ) -> None:
        self.transport = transport
        self.realtime = realtime
        self.version = version
        self.query = {
            "projectID": project_id,
            "environmentAlias": environment_alias,
            "version": version,
        }

    def _send(self, method: str, path: str, json_body: Any = None) -> Any:
        return self.transport.send(
            self.realtime, method, path, params=self.query, json_body=json_body
        )

    @staticmethod
    def _state_path(user_id: str) -> str:
        return f"/v1/stable/conversation-state/{user_path(user_id)}"

    def get_state(self, user_id: str) -> dict:
        try:
            answer = self._send("GET", self._state_path(user_id))
        except UpstreamFailure as error:
            # What the realtime API answers for a user it has no state for is undocumented
            # (§7.3 item 17); a 404 that the API itself explains (a JSON message) is taken as
            # "no state", while a 404 without one still means a wrong base URL.
            if _answered_not_found(error):
                return {}
            raise
        return realtime_state_of(answer)

    def replace_state(self, user_id: str, state: dict) -> dict:
        self._send("PATCH", self._state_path(user_id), json_body=state)
        return self.get_state(user_id)

    def delete_state(self, user_id: str) -> None:
        try:
            self._send("DELETE", self._state_path(user_id))
        except UpstreamFailure as error:
            # Deleting what is not there leaves it not there, as the legacy DELETE answers.
            if not _answered_not_found(error):
                raise

    def update_variables(self, user_id: str, variables: dict) -> dict:
        self._send("PATCH", f"{self._state_path(user_id)}/variables", {"variables": variables})
        return self.get_state(user_id)

    def interact(
        self, user_id: str, action: dict, *, config: dict | None, verbose: bool
    ) -> TurnAnswer:
        """Send (`PUT /v1/stable/conversation/{userID}`), answered like the legacy interact.

        The realtime body has no `config`: Voiceflow's defaults decide which trace types come
        back. `verbose` reads the state after the turn.
        """
        answer = self._send(
            "PUT",
            f"/v1/stable/conversation/{user_path(user_id)}",
            {"action": action, "version": self.version},
        )
        traces = realtime_traces(answer)
        return TurnAnswer(traces, self.get_state(user_id) if verbose else None)


def _answered_not_found(error: UpstreamFailure) -> bool:
    return error.status == 404 and bool(error.upstream_message)
