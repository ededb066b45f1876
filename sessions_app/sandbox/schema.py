"""The runtime's schema for a whole conversation state, as its validator words its refusals."""

from typing import Any

STATE_BODY_KEYS = ("stack", "storage", "variables")


def state_body_error(body: Any) -> str | None:
    """The AJV message (§9) that gr-src's PUT schema gives for `body`, if any.

    The validator reports every error (AJV's `allErrors`), joined by ", ": the type, each missing
    required property in order, each additional property, then each property's own errors
    (observed.json: `{}` is refused naming stack, storage and variables).
    """
    if not isinstance(body, dict):
        return "data should be object"
    errors = [
        f"data should have required property '{key}'" for key in STATE_BODY_KEYS if key not in body
    ]
    errors += [
        "data should NOT have additional properties" for key in body if key not in STATE_BODY_KEYS
    ]
    if "stack" in body:
        errors += _stack_errors(body["stack"])
    for key in ("storage", "variables"):
        if key in body and not isinstance(body[key], dict):
            errors.append(f"data.{key} should be object")
    return ", ".join(errors) or None


def _stack_errors(stack: Any) -> list[str]:
    if not isinstance(stack, list):
        return ["data.stack should be array"]
    errors = []
    for index, frame in enumerate(stack):
        path = f"data.stack[{index}]"
        if not isinstance(frame, dict):
            errors.append(f"{path} should be object")
            continue
        if "diagramID" not in frame:
            errors.append(f"{path} should have required property 'diagramID'")
        elif not isinstance(frame["diagramID"], str):
            errors.append(f"{path}.diagramID should be string")
        if "nodeID" in frame and not isinstance(frame["nodeID"], str):
            errors.append(f"{path}.nodeID should be string")
    return errors
