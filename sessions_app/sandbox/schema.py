"""The runtime's schema for a whole conversation state, as its validator words its refusals."""

from typing import Any

STATE_BODY_KEYS = ("stack", "storage", "variables")


def state_body_error(body: Any) -> str | None:
    """The first AJV message (§9) that gr-src's PUT schema gives for `body`, if any.

    AJV checks type, then `required` in order, then additionalProperties, then each property.
    """
    if not isinstance(body, dict):
        return "data should be object"
    for key in STATE_BODY_KEYS:
        if key not in body:
            return f"data should have required property '{key}'"
    if set(body) - set(STATE_BODY_KEYS):
        return "data should NOT have additional properties"
    if not isinstance(body["stack"], list):
        return "data.stack should be array"
    for index, frame in enumerate(body["stack"]):
        path = f"data.stack[{index}]"
        if not isinstance(frame, dict):
            return f"{path} should be object"
        if "diagramID" not in frame:
            return f"{path} should have required property 'diagramID'"
        if not isinstance(frame["diagramID"], str):
            return f"{path}.diagramID should be string"
        if "nodeID" in frame and not isinstance(frame["nodeID"], str):
            return f"{path}.nodeID should be string"
    for key in ("storage", "variables"):
        if not isinstance(body[key], dict):
            return f"data.{key} should be object"
    return None
