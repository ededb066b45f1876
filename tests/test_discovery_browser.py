"""Find by activity in a real browser (Debian's Chromium through Playwright): import the recent
conversations, find a user by a variable value and by recent activity, and open the inspector
from the result. The `page` fixture fails the test on any Content Security Policy violation or
JavaScript error."""

from datetime import timedelta

import pytest
from browser_support import sign_in
from django.utils import timezone
from playwright.sync_api import expect

from sessions_app.discovery import read_pending_states

pytestmark = pytest.mark.browser


def plant(sandbox, environment, user_id: str, minutes_ago: int) -> None:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    sandbox.control.post(
        "/_sandbox/transcripts",
        json={
            "project_id": environment.project.voiceflow_project_id,
            "user_id": user_id,
            "created_at": at.isoformat(),
        },
    ).raise_for_status()


def test_an_operator_imports_recent_users_finds_one_by_a_variable_and_opens_it(
    page, support, sandbox, environment
):
    project_id = environment.project.voiceflow_project_id
    for user_id, minutes_ago, variables in [
        ("maria.rossi@example.com", 12, {"pizza_size": "large", "order_number": 1041}),
        ("guest-0007", 40, {"party_size": 4, "booking_date": "tomorrow"}),
        ("vip-customer-001", 300, {"pizza_size": "small", "support_topic": "billing"}),
    ]:
        sandbox.set_state(
            project_id,
            user_id,
            {
                "stack": [{"diagramID": "d1", "name": "Order pizza"}],
                "storage": {},
                "variables": variables,
            },
        )
        plant(sandbox, environment, user_id, minutes_ago)

    sign_in(page, support)
    page.click("nav >> text=Find by activity")
    expect(page.locator("h1")).to_have_text("Find by activity")
    page.click("button:has-text('Import now')")
    expect(page.locator(".message-success")).to_contain_text(
        "Imported 3 userIDs in 3 transcripts (3 new)."
    )
    expect(page.locator(".activity-results")).to_contain_text("not read yet")

    # The background read, as a worker would run it after the import.
    read_pending_states(environment, max_wait_s=5)
    page.select_option("#id_active", "1h")
    page.fill("#id_value", "large")
    page.click("button:has-text('Search')")
    rows = page.locator(".activity-results tbody tr")
    expect(rows).to_have_count(1)
    # A userID shaped like an email address shows partly to Support (docs/security.md).
    expect(rows.first).to_contain_text("m•••@example.com")
    expect(rows.first).to_contain_text("pizza_size")

    rows.first.locator("a").click()
    expect(page.locator("body")).to_contain_text("maria.rossi@example.com")
    expect(page.locator("body")).to_contain_text("1041")
