"""The segment page in a real browser (Debian's Chromium through Playwright): an operator builds
a segment from condition rows, sees its count and sample before anything is done, and creates a
job from it. The `page` fixture fails the test on any Content Security Policy violation or
JavaScript error."""

import pytest
from browser_support import save_screenshot, sign_in
from playwright.sync_api import expect

from sessions_app.known_sessions import note_session
from sessions_app.models import BulkJob, Segment

pytestmark = pytest.mark.browser


def fill_row(page, index: int, field: str, op: str, value: str = "", path: str = "") -> None:
    row = page.locator(".condition-row").nth(index)
    row.locator("select.condition-field").select_option(field)
    row.locator("select.condition-op").select_option(op)
    if path:
        row.locator("input.condition-path").fill(path)
    row.locator("input.condition-value").fill(value)


def test_an_operator_builds_a_segment_from_rows_then_creates_a_job_from_it(page, ops, environment):
    for user_id, node, plan in [
        ("cart-1", "pay", "gold"),
        ("cart-2", "pay", "gold"),
        ("cart-3", "pay", "silver"),
        ("cart-4", "address", "gold"),
    ]:
        note_session(
            environment,
            user_id,
            {
                "stack": [{"diagramID": "checkout", "nodeID": node}],
                "storage": {},
                "variables": {"plan": plan},
            },
        )

    sign_in(page, ops)
    page.click("nav >> text=Segments")
    expect(page.locator("h1")).to_have_text("Segments")
    page.fill("#id_name", "gold stuck at pay")
    # One blank row to start with; two more added, and a stray one added then removed.
    expect(page.locator(".condition-row")).to_have_count(1)
    fill_row(page, 0, "flow", "equals", "checkout")
    for _ in range(3):
        page.click("button:has-text('Add a condition')")
    page.locator(".condition-row").nth(1).locator("[data-remove-row]").click()
    expect(page.locator(".condition-row")).to_have_count(3)
    fill_row(page, 1, "block", "equals", "pay")
    fill_row(page, 2, "variable", "equals", "gold", path="plan")
    save_screenshot(page, "segment-form")
    page.click("button:has-text('Save and count')")

    expect(page.locator("h1")).to_have_text("Segment: gold stuck at pay")
    expect(page.locator(".segment-count")).to_contain_text("2 indexed sessions match")
    expect(page.locator(".segment-conditions")).to_contain_text("at flow checkout, block pay")
    expect(page.locator(".segment-conditions")).to_contain_text('plan equals "gold"')
    expect(page.locator(".segment-sample")).to_contain_text("cart-1")
    expect(page.locator(".segment-sample")).to_contain_text("cart-2")
    expect(page.locator(".segment-sample")).not_to_contain_text("cart-3")
    expect(page.locator(".segment-sample")).not_to_contain_text("cart-4")
    assert Segment.objects.get().conditions == [
        {"field": "position", "flow": "checkout", "block": "pay"},
        {"field": "variable", "path": "plan", "op": "equals", "value": "gold"},
    ]
    save_screenshot(page, "segment-page")

    # The edit form shows the saved conditions as rows again; a bad row is refused in words.
    edit = page.locator("form.segment-form")
    expect(edit.locator(".condition-row")).to_have_count(4)  # three saved and a blank one
    expect(edit.locator("input.condition-value").nth(2)).to_have_value("gold")
    edit.locator(".condition-row").nth(2).locator("select.condition-op").select_option("gt")
    edit.locator("button:has-text('Save')").first.click()
    expect(page.locator("[role=alert]").first).to_contain_text("give a number")

    # Bad job input: a message, and nothing created.
    page.check(".segment-job-form input[value='preload']")
    page.fill(".segment-job-form textarea[name='variables']", "not json")
    page.click("button:has-text('Create the job')")
    expect(page.locator("[role=alert]").first).to_be_visible()
    assert not BulkJob.objects.exists()

    page.check(".segment-job-form input[value='reset']")
    page.click("button:has-text('Create the job')")
    expect(page.locator("h1")).to_contain_text("Reset sessions")
    job = BulkJob.objects.get()
    assert (job.kind, job.total_items, job.status) == ("reset", 2, "draft")


def test_the_advanced_json_still_saves_a_segment(page, ops, environment):
    note_session(environment, "web-1", {"stack": [], "storage": {}, "variables": {"n": 3}})

    sign_in(page, ops)
    page.goto("/segments/")
    page.fill("#id_name", "from json")
    page.click("summary:has-text('Advanced')")
    page.fill("#id_conditions", '[{"field": "variable", "path": "n", "op": "gt", "value": 2}]')
    page.click("button:has-text('Save from the JSON')")

    expect(page.locator(".segment-count")).to_contain_text("1 indexed session matches")
