"""The known-sessions list on the home page, in a real browser: newest activity first (sessions
never seen active last), one line a session, sortable columns like Django admin's change list,
and the count."""

from datetime import timedelta

import pytest
from browser_support import sign_in
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from sessions_app.known_sessions import note_session
from sessions_app.models import KnownSession, OperatorPreference

pytestmark = pytest.mark.browser

# userID → minutes since the user last talked to the agent (None: never seen active).
ACTIVITY = {
    "active-two-weeks-ago": 14 * 24 * 60,
    "active-minutes-ago": 4,
    "never-seen-active": None,
    "active-yesterday": 24 * 60,
}
NEWEST_ACTIVITY_FIRST = [
    "active-minutes-ago",
    "active-yesterday",
    "active-two-weeks-ago",
    "never-seen-active",
]


@pytest.fixture
def index(environment, viewer):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    now = timezone.now()
    # Noted in the reverse order of activity: the most recently *seen* is the least active.
    for user_id, minutes in ACTIVITY.items():
        note_session(
            environment,
            user_id,
            {
                "stack": [{"name": "Order pizza", "diagramID": "d1"}],
                "variables": {"customer_name": "A. Person", "pizza_size": "large", "n": 1},
            },
        )
        if minutes is not None:
            KnownSession.objects.filter(user_id=user_id).update(
                last_activity_at=now - timedelta(minutes=minutes)
            )


def listed(page) -> list[str]:
    return page.locator(".known-table tbody td.known-user").all_inner_texts()


def sort_by(page, header: str) -> None:
    """Click a column header and wait for the sorted page (reading earlier can find none)."""
    with page.expect_navigation():
        page.click(f".known-table th a:has-text('{header}')")


def test_the_list_shows_the_most_recently_active_first_one_line_each_with_the_count(
    page, viewer, index
):
    sign_in(page, viewer)
    page.goto("/")

    assert listed(page) == NEWEST_ACTIVITY_FIRST
    expect(page.locator(".list-count")).to_contain_text("4 sessions")
    line_height = page.locator(".known-table tbody td.known-user").first.evaluate(
        "cell => parseFloat(getComputedStyle(cell).lineHeight)"
    )
    for box in [row.bounding_box() for row in page.locator(".known-table tbody tr").all()]:
        assert box["height"] < 2 * line_height, "one line a session"


def test_a_column_header_sorts_the_list_and_clicking_again_reverses_it(page, viewer, index):
    sign_in(page, viewer)
    page.goto("/")

    sort_by(page, "userID")

    assert listed(page) == sorted(ACTIVITY)
    expect(page.locator(".known-table th.sort-user")).to_have_attribute("aria-sort", "ascending")
    sort_by(page, "userID")
    assert listed(page) == sorted(ACTIVITY, reverse=True)

    sort_by(page, "Last active")
    assert listed(page) == NEWEST_ACTIVITY_FIRST
    sort_by(page, "Last active")
    assert listed(page) == [*reversed(NEWEST_ACTIVITY_FIRST[:3]), "never-seen-active"]


@pytest.mark.production_path
def test_sorting_keeps_the_search(viewer_client, index):
    response = viewer_client.get(reverse("home"), {"prefix": "active-", "o": "user"})

    users = [known.user_id for known in response.context["known_page"]]
    assert users == sorted(user for user in ACTIVITY if user.startswith("active-"))
    assert "prefix=active-&amp;o=-user" in response.content.decode()


@pytest.mark.production_path
def test_an_unknown_sort_falls_back_to_newest_activity_first(viewer_client, index):
    response = viewer_client.get(reverse("home"), {"o": "state_before"})

    assert [known.user_id for known in response.context["known_page"]] == NEWEST_ACTIVITY_FIRST


@pytest.mark.production_path
def test_sessions_never_seen_active_come_last_in_both_directions(viewer_client, index):
    oldest_first = viewer_client.get(reverse("home"), {"o": "activity"}).context["known_page"]

    assert [known.user_id for known in oldest_first] == [
        *reversed(NEWEST_ACTIVITY_FIRST[:3]),
        "never-seen-active",
    ]
