"""The inspector in a real browser: the state (stack, variables) comes first and the console
below it; after a console turn the header and the set-variable panel follow the new state
(Reset appears, "Create variables" becomes "Add or change a variable"), also while watching,
with no Content Security Policy violation (the `page` fixture fails on any)."""

import pytest
from browser_support import sign_in
from inspector_support import inspect_url, ordering_state
from playwright.sync_api import expect

from sessions_app.sandbox.agent import ROOT

pytestmark = pytest.mark.browser

NEWCOMER = "first-time-caller"


def test_the_state_comes_before_the_console(page, support, sandbox, environment):
    sandbox.set_state(environment.project.voiceflow_project_id, "customer-42", ordering_state())
    sign_in(page, support)

    page.goto(inspect_url(environment, "customer-42"))

    variables = page.locator(".variables-card").bounding_box()
    stack = page.locator(".stack-card").bounding_box()
    console = page.locator("#console").bounding_box()
    assert stack["y"] < console["y"] and variables["y"] < console["y"]


@pytest.mark.parametrize("watching", [False, True], ids=["read once", "watching"])
def test_after_a_turn_the_header_follows_the_new_state(page, ops, environment, watching):
    sign_in(page, ops)
    params = {"watch": "1"} if watching else {}
    page.goto(inspect_url(environment, NEWCOMER, **params))
    expect(page.locator("#set-variable-title")).to_have_text("Create variables")
    expect(page.locator("#inspector-actions a:has-text('Reset…')")).to_have_count(0)

    page.click("#console button:has-text('Launch')")

    # No flow map is loaded, so the frame shows its diagramID (the runtime's frames carry no name).
    expect(page.locator("li.frame.current .frame-title")).to_contain_text(ROOT.diagram_id)
    expect(page.locator("#inspector-actions a:has-text('Reset…')")).to_be_visible()
    expect(page.locator("#set-variable-title")).to_have_text("Add or change a variable")
    # Refreshed in place, not added beside the old one.
    expect(page.locator("#set-variable-based-on")).to_have_count(1)
    expect(page.locator("#live-state")).to_have_count(1)
    if watching:
        expect(page.locator(".watch-badge")).to_be_visible()
        fetched = page.locator(".fetch-bar time").get_attribute("datetime")
        # The next poll of watch mode swaps the state (and the header) again.
        expect(page.locator(".fetch-bar time")).not_to_have_attribute(
            "datetime", fetched, timeout=20_000
        )
        expect(page.locator("#inspector-actions a:has-text('Stop watching')")).to_be_visible()


def test_watch_mode_swaps_styled_elements_without_a_csp_violation(
    page, viewer, sandbox, environment
):
    sandbox.set_state(environment.project.voiceflow_project_id, "customer-42", ordering_state())
    sign_in(page, viewer)
    page.goto(inspect_url(environment, "customer-42", watch="1"))
    # As browser extensions (password managers, spell checkers) do: a style set through the
    # CSSOM, which the policy allows; copying it as an attribute is what it forbids.
    page.locator("#variable-filter").evaluate("input => { input.style.caretColor = 'red'; }")
    fetched = page.locator(".fetch-bar time").get_attribute("datetime")

    expect(page.locator(".fetch-bar time")).not_to_have_attribute(
        "datetime", fetched, timeout=20_000
    )
    expect(page.locator(".watch-badge")).to_be_visible()
    assert not page.problems, page.problems
