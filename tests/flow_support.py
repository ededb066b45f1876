"""Helpers of the flow-map, turns and timeline tests: talking to the sandbox's scripted agent."""

import json
from pathlib import Path

import httpx

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "pizza-agent.vf"


def fixture_document() -> dict:
    return json.loads(FIXTURE.read_text())


def talk(sandbox, registration: dict, user_id: str, *texts: str) -> dict:
    """Launch a conversation and send `texts` as the user's turns; the state after them."""
    headers = {"Authorization": registration["api_key"], "versionID": "development"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=30) as http:
        for action in [{"type": "launch"}] + [{"type": "text", "payload": t} for t in texts]:
            http.post(f"/state/user/{user_id}/interact", json={"action": action}).raise_for_status()
        return http.get(f"/state/user/{user_id}").json()
