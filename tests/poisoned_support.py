"""A conversation state that a database column refuses (NUL characters, lone surrogates, NaN and
Infinity, numbers like 1e400), and writing it to and reading it from the sandbox."""

import json
import math

from sessions_app.stored_json import MARK

USER = "poisoned-1"
# A name holding a NUL character, and its twin: the same name with the NUL typed out as the six
# characters `\u0000`. The inspector shows both alike (`printable`); only one is meant by a click.
NUL_NAME = "nick\x00name"
TYPED_OUT_NUL_NAME = "nick\\u0000name"
POISONED_VARIABLES = {
    "last_utterance": "my order\x00 is late",
    NUL_NAME: "nul in a name",
    "half_emoji": "\ud83d and more",
    "marked": MARK + "s looks like our own escape",
    "nested": {"deep": ["\x00", "\udfff", {"k\ud800": 1}]},
    "plan": "basic",
}
STATE = {
    "stack": [{"diagramID": "root", "nodeID": "start", "storage": {}, "variables": {}}],
    "storage": {"note": "\x00"},
    "variables": POISONED_VARIABLES,
}
# What Python can hold but JSON and both databases cannot; the sandbox's control API reads
# Python's own JSON (NaN, Infinity), and 1e400 becomes infinity there, as in JavaScript.
NON_FINITE = {"score": math.nan, "ceiling": math.inf, "floor": -math.inf, "huge": "<1e400>"}


def seed(sandbox, environment, user_id: str, state: dict) -> None:
    """PUT /_sandbox/state with the JSON text written by hand: httpx refuses to send these."""
    payload = {
        "project_id": environment.project.voiceflow_project_id,
        "user_id": user_id,
        "state": state,
    }
    body = json.dumps(payload).replace('"<1e400>"', "1e400")
    sandbox.control.put(
        "/_sandbox/state", content=body.encode(), headers={"Content-Type": "application/json"}
    ).raise_for_status()


def remote(sandbox, environment, user_id: str) -> dict | None:
    return sandbox.state(environment.project.voiceflow_project_id, user_id)
