"""Conversation states in the shapes Voiceflow's open-source runtime really answers.

Taken from the recorded answers of general-runtime (`observed.json` of the development workspace,
case "GET after no-match turn"): a stack that starts with the runtime's base frame
(`nodeID: null`, `storage.isBase`, its diagramID the versionID), frames without `name`,
`last_response` as a frame variable, `noMatchesCounter` in storage, and the runtime's own
variables (`sessions`, `user_id`, `timestamp`, `_memory_`, `vf_memory`, `last_event` as the
intent a text was matched to, `intent_confidence`, `last_utterance`). The hosted service's
shape (frames with a `name`) is `inspector_support.ORDERING_STATE`.

Tests seed these through the sandbox's control API (`sandbox.set_state`), which stores a state as
given, so they hold whatever the sandbox's own turns produce.
"""

import copy

VERSION_ID = "66b0f00d0000000000000001"
ROOT_DIAGRAM_ID = "66b0f00d0000000000000003"
REPLY = "Sorry, I didn\u2019t get that. Please try again."

BASE_FRAME = {
    "nodeID": None,
    "diagramID": VERSION_ID,
    "storage": {"isBase": True},
    "commands": [],
    "variables": {},
}

MID_FLOW_STATE = {
    "stack": [
        BASE_FRAME,
        {
            "nodeID": "wait",
            "diagramID": ROOT_DIAGRAM_ID,
            "storage": {"output": "Welcome to the offline peer, World."},
            "commands": [],
            "variables": {"last_response": REPLY},
        },
    ],
    "storage": {"noMatchesCounter": 1},
    "variables": {
        "name": "World",
        "counter": 1,
        "hold": 1,
        "sessions": 2,
        "user_id": "probe-30d4f1-mid",
        "timestamp": 1796284485,
        "_memory_": [
            {
                "role": "assistant",
                "content": "Hello, World! This is launch number 1.\nWelcome to the offline peer, World.",
            },
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": REPLY},
        ],
        "vf_memory": "assistant: Hello, World! This is launch number 1.\nWelcome to the offline "
        f"peer, World.\nuser: hello\nassistant: {REPLY}",
        "last_event": {
            "type": "intent",
            "payload": {
                "query": "hello",
                "intent": {"name": "None"},
                "entities": [],
                "confidence": 1,
            },
        },
        "intent_confidence": 100,
        "last_utterance": "hello",
    },
}

# Only the runtime's base frame: what a stack holds once its flows have all ended mid-turn.
BASE_ONLY_STATE = {
    "stack": [BASE_FRAME],
    "storage": {},
    "variables": {"sessions": 1, "user_id": "probe-30d4f1-base", "last_event": {"type": "launch"}},
}


def mid_flow_state(user_id: str = "probe-30d4f1-mid") -> dict:
    """The recorded mid-flow state, its `user_id` variable set to `user_id`."""
    state = copy.deepcopy(MID_FLOW_STATE)
    state["variables"]["user_id"] = user_id
    return state


def base_only_state(user_id: str = "probe-30d4f1-base") -> dict:
    state = copy.deepcopy(BASE_ONLY_STATE)
    state["variables"]["user_id"] = user_id
    return state


def seed(sandbox, environment, user_id: str, state: dict) -> dict:
    """Store `state` as this user's state in the sandbox, through its control API."""
    sandbox.set_state(environment.project.voiceflow_project_id, user_id, state)
    return state
