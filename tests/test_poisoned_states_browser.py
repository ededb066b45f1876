"""A poisoned conversation in a real browser: the inspector renders it, says what is odd, and
Support removes variables from it, one of them named with a NUL character beside its typed-out
twin; the rest is written back exactly."""

from urllib.parse import urlencode

import pytest
from browser_support import sign_in
from poisoned_support import (
    NON_FINITE,
    NUL_NAME,
    POISONED_VARIABLES,
    STATE,
    TYPED_OUT_NUL_NAME,
    USER,
    remote,
    seed,
)

from sessions_app.models import AuditEntry

pytestmark = pytest.mark.browser


def test_support_reads_and_edits_a_poisoned_session_in_the_browser(
    page, sandbox, environment, support
):
    variables = {**POISONED_VARIABLES, TYPED_OUT_NUL_NAME: "typed out", **NON_FINITE}
    seed(sandbox, environment, USER, {**STATE, "variables": variables})
    sign_in(page, support)

    page.goto(f"/sessions/{environment.pk}/inspect?{urlencode({'user': USER})}")
    page.wait_for_selector("table.variables")

    oddities = page.inner_text(".oddities")
    assert "last_utterance contains a NUL character" in oddities
    assert "half_emoji contains a lone surrogate (shown as \\ud83d)" in oddities
    assert "my order\\u0000 is late" in page.inner_text("table.variables")

    page.click("button[aria-label='Remove the variable plan']")
    page.wait_for_selector(".message-success")

    held = remote(sandbox, environment, USER)["variables"]
    assert "plan" not in held
    assert held["half_emoji"] == "\ud83d and more"
    assert held["last_utterance"] == "my order\x00 is late"
    assert held[NUL_NAME] == "nul in a name"

    # Both rows are named nick\u0000name on the page; the one clicked is the one changed.
    twins = page.locator("#global-variables tr.var-row[data-name='nick\\\\u0000name']")
    assert twins.count() == 2
    twins.filter(has_text="nul in a name").get_by_role("button", name="Edit").click()
    page.fill("#set-variable-form textarea[name='value']", "edited")
    page.click("#set-variable-form button[type='submit']")
    page.wait_for_selector(".message-success:has-text('Set nick\\\\u0000name to the text')")
    held = remote(sandbox, environment, USER)["variables"]
    assert held[NUL_NAME] == "edited" and held[TYPED_OUT_NUL_NAME] == "typed out"

    # A name typed over the one Edit filled in is the name typed.
    twins.filter(has_text="edited").get_by_role("button", name="Edit").click()
    page.fill("#set-variable-form input[name='name']", "renamed")
    page.click("#set-variable-form button[type='submit']")
    page.wait_for_selector(".message-success:has-text('Set renamed to the text')")
    held = remote(sandbox, environment, USER)["variables"]
    assert held["renamed"] == "edited" and held[NUL_NAME] == "edited"

    twins.filter(has_text="edited").get_by_role("button", name="Remove").click()
    page.wait_for_selector(".message-success:has-text('Removed the variable nick\\\\u0000name.')")

    held = remote(sandbox, environment, USER)["variables"]
    assert NUL_NAME not in held
    assert held[TYPED_OUT_NUL_NAME] == "typed out"
    assert held["last_utterance"] == "my order\x00 is late"
    entry = AuditEntry.objects.filter(action=AuditEntry.Action.REMOVE_VARIABLES).latest("pk")
    entry.refresh_from_db()
    assert entry.state_before["variables"][NUL_NAME] == "edited"
    assert NUL_NAME not in entry.state_after["variables"]
    assert entry.state_after["variables"][TYPED_OUT_NUL_NAME] == "typed out"
