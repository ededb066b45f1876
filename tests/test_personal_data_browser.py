"""The demo, as a Support agent sees it in Chromium: the demo customers' names, addresses, emails
and phone numbers are masked (by the default PERSONAL_DATA_VARIABLES patterns and by their
shape), userIDs that are email addresses show partly, and Ops see everything."""

import pytest
from browser_support import save_screenshot, sign_in
from inspector_support import inspect_url
from playwright.sync_api import expect

from sessions_app.sandbox_registration import register_demo_project

pytestmark = pytest.mark.browser

MARIA = "maria.rossi@example.com"


@pytest.fixture
def demo_production(db, sandbox):
    """The demo project, registered against the test sandbox as `make start` does."""
    environments = register_demo_project(sandbox.url)
    return next(environment for environment in environments if environment.is_production)


def test_a_support_agent_sees_the_demo_customers_personal_data_masked(
    page, support, ops, demo_production
):
    sign_in(page, support)
    page.goto(inspect_url(demo_production, MARIA))

    body = page.locator("body")
    expect(page.locator("h1")).to_contain_text("Session")
    expect(body).to_contain_text("•••• (hidden)")
    for personal in ["Maria Rossi", "Via Roma 12", "Milano"]:
        expect(body).not_to_contain_text(personal)
    expect(body).to_contain_text("allergies")  # the rest of the state shows as usual
    save_screenshot(page, "masked-for-support")

    page.goto(f"/?environment={demo_production.pk}")
    expect(page.locator("body")).to_contain_text("m•••@example.com")
    expect(page.locator("body")).not_to_contain_text(MARIA)

    page.context.clear_cookies()
    sign_in(page, ops)
    page.goto(inspect_url(demo_production, MARIA))
    expect(page.locator("body")).to_contain_text("Via Roma 12")
    expect(page.locator("body")).to_contain_text("Maria Rossi")
