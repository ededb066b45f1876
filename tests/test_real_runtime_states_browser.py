"""The inspector in Chromium on a state of the real runtime's shape: the base frame is the
runtime's, the runtime's variables are marked and explained, changing one is asked about first,
and a rate limit's wait counts down. The `page` fixture fails a test on any Content Security
Policy violation or JavaScript error."""

import pytest
from browser_support import save_screenshot, sign_in
from inspector_support import inspect_url
from playwright.sync_api import expect
from real_runtime_states import ROOT_DIAGRAM_ID, VERSION_ID, mid_flow_state, seed

from sessions_app.inspector.display import RUNTIME_VARIABLES
from sessions_app.voiceflow import RateLimited, client_for

pytestmark = pytest.mark.browser

USER = "probe-30d4f1-mid"


@pytest.fixture
def mid_flow(sandbox, environment) -> dict:
    return seed(sandbox, environment, USER, mid_flow_state(USER))


def stored(sandbox, environment) -> dict:
    return sandbox.state(environment.project.voiceflow_project_id, USER)


def test_the_base_frame_and_the_runtimes_variables_read_as_the_runtimes(
    page, support, sandbox, environment, mid_flow
):
    sign_in(page, support)
    page.goto(inspect_url(environment, USER))

    frames = page.locator(".stack-card li.frame")
    expect(frames).to_have_count(2)
    base, flow = frames.nth(0), frames.nth(1)
    expect(base).to_have_class("frame base-frame")
    expect(base.locator(".frame-title")).to_contain_text("Runtime base")
    expect(base).to_contain_text(VERSION_ID)
    expect(base).not_to_contain_text("at the start of the flow")
    expect(flow.locator(".frame-depth")).to_have_text("1")
    expect(flow.locator(".frame-title")).to_contain_text(ROOT_DIAGRAM_ID)
    expect(flow.locator(".frame-title .badge")).to_have_text("current")

    sessions_badge = page.locator("#global-variables tr[data-name='sessions'] .runtime-note")
    expect(sessions_badge).to_have_text("runtime")
    expect(sessions_badge).to_have_attribute(
        "title", f"The runtime's own variable. {RUNTIME_VARIABLES['sessions']}"
    )
    expect(page.locator("#global-variables tr[data-name='hold'] .runtime-note")).to_have_count(0)
    save_screenshot(page.locator(".inspector-columns"), "inspector-real-runtime-state")

    page.locator("#global-variables tr[data-name='sessions'] button:has-text('Remove')").click()
    expect(page.locator("h1")).to_contain_text("Change the runtime's variable sessions?")
    assert "sessions" in stored(sandbox, environment)["variables"]
    page.click("button:has-text('Yes, send this change')")

    expect(page.locator(".message-success")).to_contain_text("Removed the variable sessions.")
    assert "sessions" not in stored(sandbox, environment)["variables"]
    assert "nodeID" not in stored(sandbox, environment)["stack"][0]


def test_voiceflows_rate_limit_counts_down_on_the_page(
    page, viewer, clean_knobs, environment, mid_flow
):
    clean_knobs.knobs(api_key=environment.project.api_key, budget_per_minute=1, window_seconds=40)
    client_for(environment).get_state(USER)
    with pytest.raises(RateLimited):
        client_for(environment).get_state(USER)

    sign_in(page, viewer)
    page.goto(inspect_url(environment, USER))

    alert = page.locator("#live-state .message-error")
    expect(alert).to_contain_text("Voiceflow's own rate limit for this project was reached")
    countdown = alert.locator("[data-countdown-seconds]")
    first = int(countdown.get_attribute("data-countdown-seconds"))
    assert 30 <= first <= 40
    page.wait_for_function(
        "([element, first]) => parseInt(element.textContent, 10) < first",
        arg=[countdown.element_handle(), first],
        timeout=15_000,
    )
    expect(alert).not_to_contain_text("retry in 0 s")
