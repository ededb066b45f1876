"""The peer the product is measured against: what a capable person writes in ~50 lines with
asyncio, httpx and a token bucket. One PATCH per user, no read, no audit, no undo.

    from peer import preload
    users_per_minute = preload(url, api_key, user_ids, variables, budget_per_minute=3000)
"""

import asyncio
import time

import httpx

CONCURRENCY = 32
PACE = 0.99  # of the budget: the fixed 60-second window forgives no burst


class TokenBucket:
    """One token every 60 / (budget × PACE) seconds, no burst allowance."""

    def __init__(self, per_minute: int) -> None:
        self.interval_s = 60.0 / (per_minute * PACE)
        self.next_at = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        async with self.lock:
            now = time.monotonic()
            slot = max(self.next_at, now)
            self.next_at = slot + self.interval_s
        await asyncio.sleep(slot - now)


async def _preload(
    url: str, api_key: str, user_ids: list[str], variables: dict, budget_per_minute: int
) -> float:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for user_id in user_ids:
        queue.put_nowait(user_id)
    bucket = TokenBucket(budget_per_minute)
    headers = {"Authorization": api_key, "versionID": "development"}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as http:

        async def work() -> None:
            while not queue.empty():
                user_id = queue.get_nowait()
                while True:
                    await bucket.take()
                    try:
                        answer = await http.patch(
                            f"/state/user/{user_id}/variables", json=variables
                        )
                    except httpx.TransportError:
                        continue  # a dropped connection: send again (a merge is idempotent)
                    if answer.status_code != 429:
                        answer.raise_for_status()
                        break
                    await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))

        started = time.monotonic()
        await asyncio.gather(*(work() for _ in range(CONCURRENCY)))
        return len(user_ids) / (time.monotonic() - started) * 60


def preload(
    url: str, api_key: str, user_ids: list[str], variables: dict, *, budget_per_minute: int
) -> float:
    """Preload every user; returns users per minute."""
    return asyncio.run(_preload(url, api_key, user_ids, variables, budget_per_minute))
