"""The demo's times: its conversations are dated just before the sandbox loaded them, so a search
of the recent transcripts (Find by activity) finds them, while their content stays fixed."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sandbox_process import Sandbox, start_sandbox

from sessions_app.sandbox import DEMO_ACCESS_TOKEN, DEMO_PROJECT_ID
from sessions_app.sandbox.demo import load_demo
from sessions_app.sandbox.store import Store

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@pytest.fixture(scope="module")
def started() -> Iterator[tuple[Sandbox, float, float]]:
    before = time.time()
    sandbox = Sandbox(*start_sandbox())
    after = time.time()
    yield sandbox, before, after
    sandbox.close()


def search(sandbox: Sandbox, **criteria: object) -> list[dict]:
    found: list[dict] = []
    while True:
        response = httpx.post(
            f"{sandbox.url}/v1/stable/transcript/search",
            params={"projectID": DEMO_PROJECT_ID},
            headers={"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"},
            json={**criteria, "take": 100, "skip": len(found)},
        )
        response.raise_for_status()
        page = response.json()["transcripts"]
        found += page
        if len(page) < 100:
            return found


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def last_activity(transcripts: list[dict]) -> dict[str, float]:
    latest: dict[str, float] = {}
    for transcript in transcripts:
        latest[transcript["userID"]] = max(
            latest.get(transcript["userID"], 0), epoch(transcript["updatedAt"])
        )
    return latest


def test_the_demo_users_were_last_active_minutes_hours_and_days_before_the_start(started):
    sandbox, before, after = started
    ages = sorted(after - moment for moment in last_activity(search(sandbox)).values())

    assert len(ages) == 34, "every demo user who talked to the agent"
    assert ages[0] >= 2 * MINUTE - 1, "nothing in the future or at the very moment of the start"
    assert ages[-1] <= 14 * DAY + (after - before) + 1
    buckets = {
        "last 15 minutes": [age for age in ages if age <= 15 * MINUTE],
        "15 minutes to an hour": [age for age in ages if 15 * MINUTE < age <= HOUR],
        "an hour to a day": [age for age in ages if HOUR < age <= DAY],
        "a day to a week": [age for age in ages if DAY < age <= 7 * DAY],
        "over a week": [age for age in ages if age > 7 * DAY],
    }
    assert all(buckets.values()), {name: len(found) for name, found in buckets.items()}


def test_a_search_of_the_last_24_hours_finds_demo_conversations(started):
    sandbox, before, _ = started
    since = datetime.fromtimestamp(before, tz=UTC) - timedelta(hours=24)

    found = search(sandbox, startDate=since.isoformat().replace("+00:00", "Z"))

    assert len({transcript["userID"] for transcript in found}) >= 20
    assert "guest-0011" in {transcript["userID"] for transcript in found}


def test_each_demo_state_was_last_touched_at_its_last_turn(started):
    sandbox, _, _ = started
    for user_id, moment in last_activity(search(sandbox)).items():
        assert sandbox.state(DEMO_PROJECT_ID, user_id)["variables"]["timestamp"] == int(moment)


def test_loading_the_demo_later_moves_its_times_and_nothing_else():
    first, later = Store(), Store()
    load_demo(first, now=1_800_000_000)
    load_demo(later, now=1_800_000_000 + DAY)

    def content(store: Store) -> tuple[list, list]:
        states = [
            {**item, "state": {**item["state"], "variables": dict(item["state"]["variables"])}}
            for item in store.to_json()["states"]
        ]
        for item in states:
            item["state"]["variables"].pop("timestamp", None)
        return states, [
            [log["data"].get("type") for log in transcript["logs"]]
            for transcript in store.to_json()["transcripts"]
        ]

    assert content(first) == content(later)
    moved = zip(first.to_json()["transcripts"], later.to_json()["transcripts"], strict=True)
    for before, after in moved:
        assert epoch(after["createdAt"]) - epoch(before["createdAt"]) == DAY
        assert epoch(after["updatedAt"]) - epoch(before["updatedAt"]) == DAY
        for old, new in zip(before["logs"], after["logs"], strict=True):
            if old["type"] == "trace":
                assert new["data"]["time"] - old["data"]["time"] == DAY * 1000


def test_a_state_file_keeps_the_times_of_its_first_load(tmp_path: Path):
    state_file = tmp_path / "sandbox-state.json"
    first = Sandbox(*start_sandbox(["--state-file", str(state_file)]))
    dated = last_activity(search(first))
    first.close()
    time.sleep(1.1)

    restarted = Sandbox(*start_sandbox(["--state-file", str(state_file)]))
    try:
        assert last_activity(search(restarted)) == dated
    finally:
        restarted.close()
