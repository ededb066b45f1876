"""Knobs for tests and benchmarks: added latency, the request budget, injected failures.

Every knob has a global value and can be overridden for one API key, so a test can slow down or
break its own project without disturbing anybody else's.
"""

import random
import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .routing import ROUTE_NAMES

FAILURE_MODES = ("5xx", "timeout", "drop")


@dataclass
class FailurePlan:
    """Which requests fail and how: "5xx" answers `status`, "timeout" holds the request open
    without answering, "drop" closes the connection without a response."""

    mode: str = "5xx"
    rate: float = 1.0
    status: int = 503
    user_ids: frozenset[str] | None = None
    routes: frozenset[str] | None = None
    remaining: int | None = None
    hold_seconds: float = 60.0

    def applies_to(self, route: str, user_id: str | None) -> bool:
        if self.routes is not None and route not in self.routes:
            return False
        return self.user_ids is None or user_id in self.user_ids

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "rate": self.rate,
            "status": self.status,
            "user_ids": sorted(self.user_ids) if self.user_ids is not None else None,
            "routes": sorted(self.routes) if self.routes is not None else None,
            "count": self.remaining,
            "hold_seconds": self.hold_seconds,
        }


@dataclass(frozen=True)
class Settings:
    latency_ms: int = 0
    budget_per_minute: int = 500
    # rate-limiter-flexible's fixed window is 60 s (§5); tests shorten it to see it reset.
    window_seconds: float = 60.0
    # docs-new require the projectID header on state routes, gr-src ignores it (§7.1 item 4).
    require_project_id: bool = False
    # Older private clouds and the open-source runtime have no v4 session API: `/v4/…` is an
    # unknown route there (Express's HTML 404).
    v4_routes: bool = True
    failures: FailurePlan | None = None

    def describe(self) -> dict[str, Any]:
        described = asdict(self)
        described["failures"] = self.failures.describe() if self.failures else None
        return described


SETTING_NAMES = tuple(f.name for f in fields(Settings))


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
    return value


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{name} must be a number > 0")
    return float(value)


def _strings(name: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} must be a list of strings")
    return frozenset(value)


def parse_failures(value: Any) -> FailurePlan | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("failures must be an object or null")
    unknown = set(value) - {"mode", "rate", "status", "user_ids", "routes", "count", "hold_seconds"}
    if unknown:
        raise ValueError(f"unknown failures keys: {', '.join(sorted(unknown))}")
    plan = FailurePlan()
    mode = value.get("mode", plan.mode)
    if mode not in FAILURE_MODES:
        raise ValueError(f"failures.mode must be one of {', '.join(FAILURE_MODES)}")
    rate = value.get("rate", plan.rate)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise ValueError("failures.rate must be a number between 0 and 1")
    status = _int("failures.status", value.get("status", plan.status), 400)
    if status > 599:
        raise ValueError("failures.status must be an HTTP error status (400-599)")
    routes = _strings("failures.routes", value.get("routes"))
    if routes is not None and routes - ROUTE_NAMES:
        raise ValueError(
            f"unknown routes {sorted(routes - ROUTE_NAMES)}; known: {sorted(ROUTE_NAMES)}"
        )
    count = value.get("count")
    return FailurePlan(
        mode=mode,
        rate=float(rate),
        status=status,
        user_ids=_strings("failures.user_ids", value.get("user_ids")),
        routes=routes,
        remaining=None if count is None else _int("failures.count", count, 0),
        hold_seconds=_positive_number(
            "failures.hold_seconds", value.get("hold_seconds", plan.hold_seconds)
        ),
    )


def _parse_setting(name: str, value: Any) -> Any:
    if name == "latency_ms":
        return _int(name, value, 0)
    if name == "budget_per_minute":
        return _int(name, value, 1)
    if name == "window_seconds":
        return _positive_number(name, value)
    if name in ("require_project_id", "v4_routes"):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    return parse_failures(value)


class Knobs:
    def __init__(self, defaults: Settings) -> None:
        self.defaults = defaults
        self._global = defaults
        self._per_key: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._rng = random.Random()

    def for_key(self, api_key: str | None) -> Settings:
        with self._lock:
            overrides = self._per_key.get(api_key) if api_key else None
            return replace(self._global, **overrides) if overrides else self._global

    def apply(self, payload: Any) -> None:
        """Set the knobs named in `payload`, for `payload["api_key"]` or globally.

        A payload naming no knob restores the defaults: everywhere, or for that key only.
        Raises ValueError, with a message for the caller, on an unknown or invalid knob.
        """
        if not isinstance(payload, dict):
            raise ValueError("the knobs must be a JSON object")
        api_key = payload.get("api_key")
        if api_key is not None and not isinstance(api_key, str):
            raise ValueError("api_key must be a string")
        unknown = set(payload) - set(SETTING_NAMES) - {"api_key"}
        if unknown:
            raise ValueError(
                f"unknown knobs: {', '.join(sorted(unknown))}; known: {', '.join(SETTING_NAMES)}"
            )
        changes = {
            name: _parse_setting(name, payload[name]) for name in SETTING_NAMES if name in payload
        }
        with self._lock:
            if not changes and api_key is None:
                self._global = self.defaults
                self._per_key.clear()
            elif not changes:
                self._per_key.pop(api_key, None)
            elif api_key is None:
                self._global = replace(self._global, **changes)
            else:
                self._per_key.setdefault(api_key, {}).update(changes)

    def reset(self) -> None:
        self.apply({})

    def draw_failure(
        self, api_key: str | None, route: str, user_id: str | None
    ) -> FailurePlan | None:
        """The failure to inject into this request, if any; counts it against `count`."""
        plan = self.for_key(api_key).failures
        if plan is None or not plan.applies_to(route, user_id):
            return None
        with self._lock:
            if plan.remaining is not None and plan.remaining <= 0:
                return None
            if plan.rate < 1 and self._rng.random() >= plan.rate:
                return None
            if plan.remaining is not None:
                plan.remaining -= 1
        return plan

    def describe(self) -> dict[str, Any]:
        with self._lock:
            per_key = {key: dict(overrides) for key, overrides in self._per_key.items()}
            current = self._global
        for overrides in per_key.values():
            if overrides.get("failures") is not None:
                overrides["failures"] = overrides["failures"].describe()
        return {"global": current.describe(), "per_key": per_key}
