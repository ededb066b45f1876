"""Faults injected through the sandbox's knobs (docs/sandbox.md), shared by the fault suites.

Every page and API call under a fault must answer within the client's time-out plus a margin:
that is a bound (no request hangs), not a speed measurement. A held request lasts HOLD_S, far
longer than the bound, so an answer that waited for it fails the bound clearly.
"""

import time

import httpx

CLIENT_TIMEOUT_S = 0.5
HOLD_S = 10
MARGIN_S = 3.0
BOUND_S = CLIENT_TIMEOUT_S + MARGIN_S

# Each fault as the sandbox's `failures` knob, restricted to one route.
FAILURES = {
    "timeout": {"mode": "timeout", "hold_seconds": HOLD_S},
    "5xx": {"mode": "5xx", "status": 503},
    "drop": {"mode": "drop"},
}
# What the person reads for each (the messages of sessions_app/voiceflow/transport.py).
FAILURE_WORDS = {
    "timeout": f"Voiceflow did not answer within {CLIENT_TIMEOUT_S:g} s.",
    "5xx": "Voiceflow failed (503).",
    "drop": "Could not reach Voiceflow at",
}
RATE_LIMITED_WORDS = "Voiceflow's rate limit was reached; retry in"


def inject(sandbox, api_key: str, fault: str, route: str, **limits) -> None:
    sandbox.knobs(api_key=api_key, failures={**FAILURES[fault], "routes": [route], **limits})


def start_429_storm(sandbox, api_key: str) -> None:
    """One request a minute for this key, and it is spent: every request now answers 429."""
    sandbox.knobs(api_key=api_key, budget_per_minute=1, window_seconds=60)
    for _ in range(2):
        answer = httpx.get(
            f"{sandbox.url}/state/user/storm-opener",
            headers={"Authorization": api_key, "versionID": "development"},
        )
    assert answer.status_code == 429


def timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def writes(sandbox, api_key: str) -> dict:
    return sandbox.stats(api_key)["writes_by_user"]
