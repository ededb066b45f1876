"""The segment page in a real browser (Debian's Chromium through Playwright): an operator saves a
segment, sees its count and sample before anything is done, and creates a job from it. The
`page` fixture fails the test on any Content Security Policy violation or JavaScript error."""

import json

import pytest
from browser_support import save_screenshot, sign_in
from playwright.sync_api import expect

from sessions_app.known_sessions import note_session
from sessions_app.models import BulkJob

pytestmark = pytest.mark.browser


def test_an_operator_counts_a_segment_then_creates_a_job_from_it(page, ops, environment):
    for user_id, node in [("cart-1", "pay"), ("cart-2", "pay"), ("cart-3", "address")]:
        note_session(
            environment,
            user_id,
            {
                "stack": [{"diagramID": "checkout", "nodeID": node}],
                "storage": {},
                "variables": {"plan": "gold"},
            },
        )

    sign_in(page, ops)
    page.click("nav >> text=Segments")
    expect(page.locator("h1")).to_have_text("Segments")
    page.fill("#segment-name", "stuck at pay")
    page.fill(
        "#segment-conditions",
        json.dumps([{"field": "position", "flow": "checkout", "block": "pay"}]),
    )
    page.click("button:has-text('Save and count')")

    expect(page.locator("h1")).to_have_text("Segment: stuck at pay")
    expect(page.locator(".segment-count")).to_contain_text("2 indexed sessions match")
    expect(page.locator(".segment-sample")).to_contain_text("cart-1")
    expect(page.locator(".segment-sample")).not_to_contain_text("cart-3")
    save_screenshot(page, "segment-page")

    # Bad input: a message, and nothing created.
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
