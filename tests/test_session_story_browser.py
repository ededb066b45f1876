"""The inspector read as its designer would, in a real browser: flow and block names on the
stack, the turns that led here loaded after the page, the timeline with a diff between two
recorded states, and the session's stable link copied. The `page` fixture fails a test on any
Content Security Policy violation or JavaScript error."""

import httpx
import pytest
from browser_support import save_screenshot, sign_in
from flow_support import talk
from inspector_support import action_url
from playwright.sync_api import expect

from sessions_app.actions import WriteContext, do_set_variables
from sessions_app.flows.loading import store_project_file
from sessions_app.flows.vf import parse_project_file
from sessions_app.models import AuditEntry, FlowMap

pytestmark = pytest.mark.browser


@pytest.fixture
def named_conversation(sandbox, sandbox_project, environment, support, settings):
    """A pizza order waiting at the size question, two dashboard writes, and the agent's project
    file loaded (as the worker stores it)."""
    settings.FLOW_MAP_FETCH = False
    talk(sandbox, sandbox_project, "maria@example.com", "I want a pizza")
    with httpx.Client(base_url=sandbox.url, timeout=30) as http:
        document = http.get(
            "/v2/versions/development/export",
            headers={"Authorization": sandbox_project["api_key"]},
        ).json()
    store_project_file(
        environment.project_id,
        "development",
        parse_project_file(document),
        source=FlowMap.Source.API,
    )
    for variables in ({"pizza_size": "large"}, {"customer_name": "Maria Rossi"}):
        do_set_variables(
            environment,
            "maria@example.com",
            variables,
            context=WriteContext(actor=support, source=AuditEntry.Source.PAGE),
        )
    environment.project.crm_link_template = "https://crm.example.com/customers?external_id={userID}"
    environment.project.save()
    return environment


def test_the_inspector_tells_where_the_customer_is_and_how_they_got_there(
    page, ops, named_conversation
):
    environment = named_conversation
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    # Ops reads what was said; roles without see_personal_data see it hidden (test_session_turns).
    sign_in(page, ops)

    page.goto(action_url("session_inspect", environment, "maria@example.com"))

    current = page.locator(".frame.current")
    expect(current.locator(".frame-title")).to_contain_text("Order pizza")
    expect(current.locator(".place-title")).to_have_text("Order pizza › Ask size · choice")
    expect(current.locator(".block-says")).to_contain_text("What size would you like")
    expect(current.locator(".block-offers")).to_contain_text("Small")
    chat = page.locator("#conversation-turns .chat")
    expect(chat.locator(".turn-user").last).to_contain_text("I want a pizza")
    expect(chat.locator(".turn-agent").last).to_contain_text("Small")
    timeline = page.locator("#session-timeline")
    expect(timeline.locator(".timeline-write")).to_have_count(2)
    expect(timeline.locator(".turn-user").first).to_contain_text("(started the conversation)")

    timeline.locator(".timeline-write").first.locator("summary").click()
    expect(timeline.locator(".timeline-write").first.locator(".state-diff")).to_contain_text(
        "variables.pizza_size"
    )
    page.get_by_role("button", name="Show the diff").click()
    comparison = page.locator("#state-comparison")
    expect(comparison).to_contain_text("variables.pizza_size")
    expect(comparison).to_contain_text("variables.customer_name")

    page.get_by_role("button", name="Copy link").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.endswith(
        f"/s/{environment.project.voiceflow_project_id}/Development?user=maria%40example.com"
    )
    expect(page.locator("a.crm-link")).to_have_attribute(
        "href", "https://crm.example.com/customers?external_id=maria%40example.com"
    )
    save_screenshot(page, "inspector-flow-names-and-turns")


def test_a_helpdesk_link_opens_the_session_after_signing_in(page, viewer, named_conversation):
    environment = named_conversation
    link = f"/s/{environment.project.voiceflow_project_id}/Development?user=maria%40example.com"

    page.goto(link)
    page.fill("#id_username", viewer.get_username())
    page.fill("#id_password", "correct horse battery staple 42")
    page.click("button[type=submit]")

    expect(page.locator("h1")).to_contain_text("maria@example.com")
    expect(page.locator(".frame.current .place-title")).to_have_text(
        "Order pizza › Ask size · choice"
    )
