"""The two generations of Voiceflow's state API, behind one set of methods.

A project chooses one (`Project.state_api`); `SessionClient` hands its state calls to the matching
class here, so the rest of the product reads and writes a conversation the same way over either.
Both send through `SessionClient._send`, which keeps pacing, time-outs and error mapping in one
place; these classes only know paths, bodies and answer shapes (voiceflow-api.md §1.A, §1.C, §8).
"""

from typing import TYPE_CHECKING, Any

from .errors import UpstreamFailure
from .userids import user_path

if TYPE_CHECKING:
    from .client import SessionClient


class LegacyStateApi:
    """`/state/user/{userID}` on the runtime host: project key, `versionID` header (§1.A)."""

    def __init__(self, client: "SessionClient") -> None:
        self.client = client

    def get_state(self, user_id: str) -> dict:
        state = self.client._send("GET", f"/state/user/{user_path(user_id)}")
        return state if isinstance(state, dict) else {}

    def replace_state(self, user_id: str, state: dict) -> dict:
        return self.client._send("PUT", f"/state/user/{user_path(user_id)}", json_body=state)

    def delete_state(self, user_id: str) -> None:
        self.client._send("DELETE", f"/state/user/{user_path(user_id)}")

    def update_variables(self, user_id: str, variables: dict) -> dict:
        return self.client._send(
            "PATCH", f"/state/user/{user_path(user_id)}/variables", json_body=variables
        )

    def interact(
        self,
        user_id: str,
        action: dict,
        *,
        config: dict | None,
        variables: dict | None,
        verbose: bool,
    ) -> Any:
        body: dict[str, Any] = {"action": action}
        if config is not None:
            body["config"] = config
        if variables:
            body["state"] = {"variables": variables}
        params = {"verbose": "true"} if verbose else None
        return self.client._send(
            "POST", f"/state/user/{user_path(user_id)}/interact", json_body=body, params=params
        )


class RealtimeStateApi:
    """`/v1/stable/conversation-state/{userID}` on the realtime host: bearer access token, and
    `projectID`, `environmentAlias` and `version` on every call (§1.C).

    Its writes answer only `{message}`, so `replace_state` and `update_variables` read the state
    back to return it like the legacy API does: each such write costs one more request, paced
    like any other.
    """

    def __init__(self, client: "SessionClient") -> None:
        self.client = client

    def _send(self, method: str, path: str, json_body: Any = None) -> Any:
        target = self.client.target
        query = {
            "projectID": target.project_id,
            "environmentAlias": target.environment_alias,
            "version": target.realtime_version,
        }
        return self.client._send(
            method, path, surface=self.client.realtime, params=query, json_body=json_body
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
        state = answer.get("state") if isinstance(answer, dict) else None
        return state if isinstance(state, dict) else {}

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
        self,
        user_id: str,
        action: dict,
        *,
        config: dict | None,
        variables: dict | None,
        verbose: bool,
    ) -> Any:
        """Send (`PUT /v1/stable/conversation/{userID}`), answered in the legacy shapes.

        The realtime body has no `config` and no state: Voiceflow's defaults decide which trace
        types come back, and variables are merged by a PATCH before the turn (shallow, where the
        legacy interact deep-merges). `verbose` reads the state after the turn.
        """
        if variables:
            self._send("PATCH", f"{self._state_path(user_id)}/variables", {"variables": variables})
        answer = self._send(
            "PUT",
            f"/v1/stable/conversation/{user_path(user_id)}",
            {"action": action, "version": self.client.target.realtime_version},
        )
        traces = answer.get("traces") if isinstance(answer, dict) else answer
        traces = traces if isinstance(traces, list) else []
        if not verbose:
            return traces
        return {"state": self.get_state(user_id), "trace": traces, "request": action}


def _answered_not_found(error: UpstreamFailure) -> bool:
    return error.status == 404 and bool(error.upstream_message)
