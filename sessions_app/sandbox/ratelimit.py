"""The runtime's request budget: rate-limiter-flexible's in-memory fixed window (§5, §9).

Each bucket (an `Authorization` value) gets `limit` points in a window that starts at the
bucket's first request and lasts `window_s`; requests over budget still consume points, as in
rate-limiter-flexible, so the window is not extended by retries.
"""

import math
import threading
import time
from dataclasses import dataclass

from .wire import iso_time


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": iso_time(self.reset_at),
        }

    def retry_after_s(self, now: float) -> int:
        # bu-src sends Math.floor(msBeforeNext / 1000): 0 in the last second of a window.
        return max(math.floor(self.reset_at - now), 0)


class FixedWindowLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def consume(
        self, bucket: str, limit: int, window_s: float, now: float | None = None
    ) -> Verdict:
        now = time.time() if now is None else now
        with self._lock:
            started_at, used = self._windows.get(bucket, (now, 0))
            if now >= started_at + window_s:
                started_at, used = now, 0
            used += 1
            self._windows[bucket] = (started_at, used)
        return Verdict(
            allowed=used <= limit,
            limit=limit,
            remaining=max(limit - used, 0),
            reset_at=started_at + window_s,
        )

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
