"""A poisoned conversation in a real browser: the inspector renders it, says what is odd, and
Support removes a variable from it; the rest is written back exactly."""

from urllib.parse import urlencode

import pytest
from browser_support import sign_in
from poisoned_support import NON_FINITE, POISONED_VARIABLES, STATE, USER, remote, seed

pytestmark = pytest.mark.browser


def test_support_reads_and_edits_a_poisoned_session_in_the_browser(
    page, sandbox, environment, support
):
    seed(sandbox, environment, USER, {**STATE, "variables": {**POISONED_VARIABLES, **NON_FINITE}})
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
    assert held["nick\x00name"] == "nul in a name"
