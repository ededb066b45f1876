"""The interact console in a real browser (Debian's Chromium through Playwright): find a user by
a variable value, open them, launch, click choices and see the state change; stream a turn and
watch its text grow. The `page` fixture fails a test on any Content Security Policy violation
or JavaScript error."""

import re

import pytest
from browser_support import sign_in
from playwright.sync_api import expect

from sessions_app.known_sessions import note_session
from sessions_app.sandbox.agent import BOOKING, ROOT

pytestmark = pytest.mark.browser

USER = "table-hunter-7"
RETURNING = {"stack": [], "storage": {}, "variables": {"loyalty_code": "GOLD-7781", "visits": 3}}

# Records the text of every completion bubble each time it changes, so a test can see it grow.
RECORD_GROWTH = """() => {
  window.completionSnapshots = [];
  new MutationObserver(() => {
    document.querySelectorAll("#console-transcript .completion-text").forEach((element, index) => {
      window.completionSnapshots.push([index, element.textContent]);
    });
  }).observe(document.getElementById("console-transcript"), {childList: true, subtree: true});
}"""


@pytest.fixture
def returning_customer(sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, RETURNING)
    note_session(environment, USER, RETURNING)


def open_by_variable_value(page, value: str) -> None:
    page.goto("/")
    page.fill("#id_value", value)
    page.click(".known-search button:has-text('Search')")
    page.click(f".known-table a:has-text('{USER}')")
    expect(page.locator("h1")).to_contain_text(USER)


def test_an_operator_finds_a_user_launches_and_clicks_choices_that_change_the_state(
    page, support, sandbox, environment, returning_customer
):
    sign_in(page, support)
    open_by_variable_value(page, "GOLD-7781")
    expect(page.locator("tr[data-name='pizza_size']")).to_have_count(0)

    page.click("#console button:has-text('Launch')")
    menu = page.locator(".console-turn").nth(0)
    expect(menu.locator(".trace-text").last).to_have_text(re.compile("What can I help you with?"))
    # The state panel was refreshed: the launch started the conversation at the root flow.
    # The runtime's frames carry no name: the inspector shows the flow's diagramID.
    expect(page.locator("li.frame.current .frame-title")).to_contain_text(ROOT.diagram_id)

    menu.locator(".trace-choice button:has-text('Order a pizza')").click()
    sizes = page.locator(".console-turn").nth(1)
    expect(sizes.locator(".trace-text")).to_contain_text("What size would you like")
    expect(menu.locator("button:has-text('Book a table')")).to_be_disabled()

    sizes.locator("button:has-text('Large')").click()

    pizzas = page.locator(".console-turn").nth(2)
    expect(pizzas.locator(".trace-carousel .card-title")).to_have_text(
        ["Margherita", "Pepperoni", "Veggie Supreme"]
    )
    size_row = page.locator("tr[data-name='pizza_size']")
    expect(size_row.locator("td.value")).to_contain_text("large")
    expect(size_row).to_have_class(re.compile(r"\b(added|changed)\b"))
    expect(page.locator(".change-banner.moved")).to_be_visible()
    assert (
        sandbox.state(environment.project.voiceflow_project_id, USER)["variables"]["pizza_size"]
        == "large"
    )


def test_stream_mode_shows_the_answer_growing_as_it_arrives(
    page, ops, sandbox, environment, returning_customer
):
    # Ops sees personal data; for Support a completion is held to its end (docs/console.md).
    sign_in(page, ops)
    open_by_variable_value(page, "GOLD-7781")
    page.check("#console-options input[value='stream']")
    page.evaluate(RECORD_GROWTH)

    page.click("#console button:has-text('Launch')")

    turn = page.locator(".console-turn").last
    expect(turn.locator(".console-turn-end")).to_contain_text("recorded as")
    expect(turn.locator(".completion-text")).to_have_text(
        [
            "Welcome to Demo Pizzeria & Bookings! 🍕",
            "I can take a pizza order, book you a table, or help with a problem.",
            "What can I help you with?",
        ]
    )
    expect(turn.locator(".completion.growing")).to_have_count(0)
    seen = [text for index, text in page.evaluate("window.completionSnapshots") if index == 1]
    growing = list(dict.fromkeys(seen))
    assert len(growing) >= 3, growing  # the second message showed up in several steps
    assert all(growing[-1].startswith(partial) for partial in growing)

    turn.locator(".trace-choice button:has-text('Book a table')").click()
    expect(page.locator(".console-turn").last.locator(".console-turn-end")).to_be_visible()
    expect(page.locator("li.frame.current .frame-title")).to_contain_text(BOOKING.diagram_id)


def test_on_a_runtime_without_v4_the_stream_offers_the_legacy_turn(
    page, support, sandbox, clean_knobs, environment, returning_customer
):
    clean_knobs.knobs(api_key=environment.project.api_key, v4_routes=False)
    sign_in(page, support)
    open_by_variable_value(page, "GOLD-7781")
    page.check("#console-options input[value='stream']")

    page.click("#console button:has-text('Launch')")

    refused = page.locator(".console-turn").last
    expect(refused.locator(".console-problem")).to_contain_text(
        "This runtime has no v4 session API"
    )
    refused.locator("button:has-text('Send it as a legacy turn')").click()

    answered = page.locator(".console-turn").last
    expect(answered.locator(".console-sent")).to_contain_text("answered at once")
    expect(answered.locator(".trace-text").last).to_have_text(
        re.compile("What can I help you with?")
    )
    expect(page.locator("#console-options input[value='reply']")).to_be_checked()
    expect(page.locator("li.frame.current .frame-title")).to_contain_text(ROOT.diagram_id)
