"""Request counters per API key, so tests can assert what reached "Voiceflow" (e.g. a write
happened exactly once)."""

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .routing import WRITE_ROUTES

_ALL = ""


@dataclass
class Counters:
    requests: int = 0
    by_route: Counter = field(default_factory=Counter)
    by_method: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    rate_limited: int = 0
    injected_failures: int = 0
    writes_by_user: Counter = field(default_factory=Counter)

    def describe(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_route": dict(self.by_route),
            "by_method": dict(self.by_method),
            "by_status": {str(status): count for status, count in self.by_status.items()},
            "rate_limited": self.rate_limited,
            "injected_failures": self.injected_failures,
            "writes_by_user": dict(self.writes_by_user),
        }


class Stats:
    """Counters for every API key, plus the totals over all requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, Counters] = {}

    def _targets(self, api_key: str | None) -> list[Counters]:
        keys = [_ALL] if not api_key else [_ALL, api_key]
        return [self._counters.setdefault(key, Counters()) for key in keys]

    def request(self, api_key: str | None, route: str, method: str) -> None:
        with self._lock:
            for counters in self._targets(api_key):
                counters.requests += 1
                counters.by_route[route] += 1
                counters.by_method[method] += 1

    def injected_failure(self, api_key: str | None) -> None:
        with self._lock:
            for counters in self._targets(api_key):
                counters.injected_failures += 1

    def response(self, api_key: str | None, route: str, status: int, user_id: str | None) -> None:
        with self._lock:
            for counters in self._targets(api_key):
                counters.by_status[status] += 1
                if status == 429:
                    counters.rate_limited += 1
                if route in WRITE_ROUTES and status == 200 and user_id is not None:
                    counters.writes_by_user[user_id] += 1

    def describe(self, api_key: str | None = None) -> dict[str, Any]:
        with self._lock:
            counters = self._counters.get(api_key or _ALL, Counters())
            return counters.describe()

    def reset(self, api_key: str | None = None) -> None:
        with self._lock:
            if api_key:
                self._counters.pop(api_key, None)
            else:
                self._counters.clear()
