"""The README's pictures, taken in a real browser on the demo data `make start` shows (the
sandbox's *Demo Pizzeria & Bookings* project, its users indexed), so they show what a newcomer
sees. `make screenshots` (UPDATE_SCREENSHOTS=1) writes them to docs/screenshots/; other runs
write under var/. Each test also checks what its picture is meant to show."""

import pytest
from browser_support import save_screenshot, sign_in
from inspector_support import inspect_url
from playwright.sync_api import expect

from sessions_app.models import OperatorPreference
from sessions_app.sandbox.demo import DEMO_API_KEY, DEMO_PROJECT_ID

pytestmark = pytest.mark.browser

MARIA = "maria.rossi@example.com"
SMITH = "j.smith+pizza@example.org"
DEMO_USERS_WITH_CONVERSATIONS = 34


@pytest.fixture
def production(demo, ops):
    OperatorPreference.objects.update_or_create(
        user=ops, defaults={"environment": demo["Production"]}
    )
    return demo["Production"]


@pytest.fixture
def development(demo, ops):
    OperatorPreference.objects.update_or_create(
        user=ops, defaults={"environment": demo["Development"]}
    )
    return demo["Development"]


def test_home(page, ops, production):
    sign_in(page, ops)
    page.goto("/")

    expect(page.locator(".list-count")).to_contain_text(f"{DEMO_USERS_WITH_CONVERSATIONS} sessions")
    expect(page.locator("#env-select option:checked")).to_have_text(
        "Production · Demo Pizzeria & Bookings (sandbox)"
    )
    save_screenshot(page, "home")


def test_inspector(page, ops, production):
    sign_in(page, ops)
    page.goto(inspect_url(production, SMITH))

    expect(page.locator("tr[data-name='pizza_size']")).to_be_visible()
    expect(page.locator("li.frame.current")).to_be_visible()
    save_screenshot(page, "inspector")


def test_console(page, ops, development, demo_sandbox):
    sign_in(page, ops)
    page.goto(inspect_url(development, "+1-555-0142"))

    page.click("#console button:has-text('Launch')")
    page.locator(".console-turn").first.locator(".trace-choice button").first.click()

    expect(page.locator(".console-turn")).to_have_count(2)
    expect(page.locator(".console-turn").nth(1).locator(".trace-text").first).to_be_visible()
    save_screenshot(page.locator("#console"), "console")


def test_conflict(page, ops, development, demo_sandbox):
    sign_in(page, ops)
    page.goto(inspect_url(development, MARIA))
    state = demo_sandbox.state(DEMO_PROJECT_ID, MARIA)
    state["variables"]["pizza_size"] = "family"
    demo_sandbox.set_state(DEMO_PROJECT_ID, MARIA, state)

    page.click("tr[data-name='customer_name'] button:has-text('Edit')")
    page.fill("#id_value", "Maria Rossi-Bianchi")
    page.click("button:has-text('Set variable')")

    expect(page.locator("h1")).to_have_text("The conversation moved; nothing was sent")
    expect(page.locator("table.state-diff")).to_contain_text("variables.pizza_size")
    save_screenshot(page, "conflict")


def test_audit_list(page, ops, development):
    sign_in(page, ops)
    page.goto(inspect_url(development, SMITH))
    page.click("tr[data-name='pizza_size'] button:has-text('Edit')")
    page.fill("#id_value", "large")
    page.click("button:has-text('Set variable')")
    expect(page.locator(".message-success")).to_be_visible()
    page.click("tr[data-name='pizza_size'] button:has-text('Remove')")
    expect(page.locator(".message-success .message-text")).to_have_text(
        "Removed the variable pizza_size."
    )

    page.click("nav >> text=Audit")

    expect(page.locator("table.audit-table td.summary").first).to_contain_text("pizza_size")
    save_screenshot(page, "audit-list")


def test_find_by_activity(page, ops, production):
    sign_in(page, ops)
    page.click("nav >> text=Find by activity")
    page.select_option("#id_active", "24h")
    page.click("button:has-text('Search')")

    expect(page.locator(".activity-results tbody tr").first).to_be_visible()
    save_screenshot(page, "find-by-activity")


def test_job_draft_and_running(page, ops, development, demo_sandbox, celery_worker):
    demo_sandbox.knobs(api_key=DEMO_API_KEY, latency_ms=400)
    rows = ["userID,loyalty_tier:string,credits:integer"] + [
        f"campaign-{n:03},gold,{n}" for n in range(40)
    ]
    rows.insert(8, "campaign-bad,gold,many")
    sign_in(page, ops)
    page.click("nav >> text=Jobs")
    page.click("text=New job")
    page.set_input_files(
        "#file-file",
        {"name": "spring-campaign.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()},
    )
    page.click("form:has(#file-file) button[type=submit]")
    page.wait_for_selector("#dry-run .diff")
    save_screenshot(page, "job-draft")

    page.check("input[name=skip_bad_rows]")
    page.click("text=Start the job")
    page.wait_for_selector("#job-progress:not([data-percent='0'])", timeout=60_000)

    save_screenshot(page, "job-running")
    demo_sandbox.knobs(api_key=DEMO_API_KEY, latency_ms=0)
