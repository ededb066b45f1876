"""The inspector in a real browser (Debian's Chromium through Playwright): find a user, inspect,
edit a variable, meet a conflict, reset with confirmation and restore from the history, watch a
live conversation, and show hostile values as text. The `page` fixture fails a test on any
Content Security Policy violation or JavaScript error."""

import copy
import re

import pytest
from browser_support import sign_in
from inspector_support import ORDER_FLOW, ordering_state, ordering_state_as_written
from playwright.sync_api import expect

from sessions_app.known_sessions import note_session

pytestmark = pytest.mark.browser

USER = "customer-42"


@pytest.fixture(autouse=True)
def _address_is_not_masked_here(settings):
    # These tests show how values of each type are displayed, with the example state's `address`
    # object; masking personal data has its own tests (test_personal_data.py).
    settings.PERSONAL_DATA_VARIABLES = ["email", "phone", "phone_number"]


def stored(sandbox, environment, user_id=USER):
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


@pytest.fixture
def ordering(sandbox, environment):
    project_id = environment.project.voiceflow_project_id
    sandbox.set_state(project_id, USER, ordering_state())
    for user_id, variables in [
        ("booking-7", {"table": 4, "guest": "Ann Pepper", "time": "19:30"}),
        ("support-ticket-311", {"topic": "refund", "order_id": 1001, "escalated": True}),
        ("order-1002", {"pizza_type": "margherita", "pizza_size": "medium"}),
    ]:
        sandbox.set_state(project_id, user_id, {"stack": [], "storage": {}, "variables": variables})
        note_session(environment, user_id, {"stack": [], "storage": {}, "variables": variables})
    return ordering_state()


def open_inspector(page, user_id=USER, *, environment=None):
    page.goto("/")
    if environment is not None:
        page.select_option("#id_environment", str(environment.pk))
    page.fill("#id_user", user_id)
    page.click("button:has-text('Open')")
    expect(page.locator("h1")).to_contain_text("Session")


def test_an_operator_finds_a_user_inspects_and_edits_a_variable(
    page, ops, sandbox, environment, ordering
):
    sign_in(page, ops)
    page.goto("/")

    open_inspector(page)

    expect(page).to_have_url(re.compile(rf"/sessions/{environment.pk}/inspect\?user=customer-42$"))
    expect(page.locator("li.frame.current .frame-title")).to_contain_text(ORDER_FLOW)
    expect(page.locator("tr[data-name='quantity'] .type")).to_have_text("number")
    expect(page.locator("tr[data-name='quantity_text'] .type")).to_have_text("string")

    page.click("tr[data-name='pizza_size'] button:has-text('Edit')")
    expect(page.locator("#id_name")).to_have_value("pizza_size")
    expect(page.locator("#id_kind")).to_have_value("string")
    expect(page.locator("#id_value")).to_have_value("large")
    page.fill("#id_value", "small")
    page.click("button:has-text('Set variable')")

    expect(page.locator(".message-success .message-text")).to_have_text(
        "Set pizza_size to the text “small”."
    )
    expect(page.locator("tr[data-name='pizza_size'] td.value")).to_contain_text("small")
    assert stored(sandbox, environment)["variables"]["pizza_size"] == "small"

    page.click("tr[data-name='quantity'] button:has-text('Edit')")
    page.fill("#id_value", "12")
    page.click("button:has-text('Set variable')")
    expect(page.locator(".message-success .message-text")).to_have_text(
        "Set quantity to the number 12."
    )
    assert stored(sandbox, environment)["variables"]["quantity"] == 12


def test_a_json_value_with_an_error_is_refused_and_nothing_changes(
    page, support, sandbox, environment, ordering
):
    sign_in(page, support)
    open_inspector(page)

    page.click("summary:has-text('Add or change a variable')")
    page.fill("#id_name", "address")
    page.select_option("#id_kind", "object")
    page.fill("#id_value", '{"city": "Bern",\n "zip": }')
    page.click("button:has-text('Set variable')")

    expect(page.locator(".field-error")).to_have_text(
        "Not valid JSON. Line 2, column 9: Expecting value."
    )
    expect(page.locator("#id_value")).to_have_value('{"city": "Bern",\n "zip": }')
    assert stored(sandbox, environment) == ordering_state()


def test_an_edit_on_a_moved_conversation_shows_the_conflict_and_can_be_re_applied(
    page, support, sandbox, environment, ordering
):
    sign_in(page, support)
    open_inspector(page)
    moved = copy.deepcopy(ordering)
    moved["variables"]["pizza_size"] = "medium"
    moved["stack"][-1]["nodeID"] = "66b0c2aa0123456789abc999"
    sandbox.set_state(environment.project.voiceflow_project_id, USER, moved)

    page.click("tr[data-name='coupon'] button:has-text('Edit')")
    page.select_option("#id_kind", "string")
    page.fill("#id_value", "HALFOFF")
    page.click("button:has-text('Set variable')")

    expect(page.locator("h1")).to_have_text("The conversation moved; nothing was sent")
    expect(page.locator("table.state-diff")).to_contain_text("variables.pizza_size")
    assert stored(sandbox, environment) == moved

    page.click("button:has-text('Re-apply my change on the current state')")

    expect(page.locator(".message-success .message-text")).to_have_text(
        "Set coupon to the text “HALFOFF”."
    )
    assert stored(sandbox, environment)["variables"] == {**moved["variables"], "coupon": "HALFOFF"}


def test_a_reset_needs_the_user_id_typed_and_the_history_brings_the_session_back(
    page, ops, sandbox, environment, ordering
):
    sign_in(page, ops)
    open_inspector(page)

    page.click("a:has-text('Reset…')")
    page.fill("#id_confirm_user_id", "customer-43")
    page.click("button:has-text('Reset this session')")
    expect(page.locator(".field-error")).to_contain_text(
        "That is not this session's userID; nothing was reset."
    )
    assert stored(sandbox, environment) == ordering

    page.fill("#id_confirm_user_id", USER)
    page.click("button:has-text('Reset this session')")
    expect(page.locator(".empty-state h2")).to_have_text("No conversation state for this user")
    assert stored(sandbox, environment) is None

    page.click("#history a:has-text('Restore this state')")
    expect(page.locator("h1")).to_contain_text("Put back the state")
    assert stored(sandbox, environment) is None
    page.click("button:has-text('Put this state back')")

    expect(page.locator(".message-success")).to_contain_text(
        "Restored the state recorded before entry"
    )
    expect(page.locator("li.frame.current .frame-title")).to_contain_text(ORDER_FLOW)
    assert stored(sandbox, environment) == ordering_state_as_written()
    expect(page.locator("#history .timeline-entry")).to_have_count(2)

    page.click("a:has-text('Audit')")
    expect(page.locator("table.audit-table tbody tr")).to_have_count(2)


def test_production_resets_say_so_plainly(page, ops, sandbox, production_environment):
    sandbox.set_state(production_environment.project.voiceflow_project_id, USER, ordering_state())
    sign_in(page, ops)
    open_inspector(page, environment=production_environment)

    page.click("a:has-text('Reset…')")

    expect(page.locator(".prod-callout")).to_contain_text(
        "Resetting deletes a real customer's live conversation"
    )


def test_the_whole_state_is_edited_with_a_preview_before_sending(
    page, ops, sandbox, environment, ordering
):
    sign_in(page, ops)
    open_inspector(page)
    page.click("a:has-text('Edit whole state')")
    editor = page.locator("#id_state_json")
    text = editor.input_value()

    editor.fill(text.replace('"pizza_size": "large"', '"pizza_size": "large",,'))
    page.click("button:has-text('Preview the changes')")
    expect(page.locator("#state-json-error")).to_contain_text("Not valid JSON. Line")
    assert page.evaluate("document.activeElement.id") == "id_state_json"

    page.locator("#id_state_json").fill(
        text.replace('"pizza_size": "large"', '"pizza_size": "family"')
    )
    page.click("button:has-text('Preview the changes')")
    expect(page.locator("table.state-diff tbody tr")).to_have_count(1)
    expect(page.locator("table.state-diff")).to_contain_text("family")
    assert stored(sandbox, environment) == ordering

    page.click("button:has-text('Send this state')")
    expect(page.locator(".message-success .message-text")).to_have_text(
        "The whole state was replaced."
    )
    assert stored(sandbox, environment)["variables"]["pizza_size"] == "family"


def test_watch_mode_highlights_changes_and_keeps_what_the_operator_opened(
    page, viewer, sandbox, environment, ordering
):
    sign_in(page, viewer)
    open_inspector(page)
    page.click("a:has-text('Watch live')")
    expect(page.locator(".watch-badge")).to_be_visible()
    page.click("tr[data-name='address'] summary")
    page.fill("#variable-filter", "i")
    page.click("#global-variables button[data-sort-key='name']")

    moved = copy.deepcopy(ordering)
    moved["variables"]["pizza_size"] = "small"
    moved["variables"]["drink"] = "cola"
    moved["stack"][-1]["nodeID"] = "66b0c2aa0123456789abc999"
    sandbox.set_state(environment.project.voiceflow_project_id, USER, moved)

    expect(page.locator("tr[data-name='pizza_size'].changed")).to_be_visible(timeout=15_000)
    expect(page.locator("tr[data-name='drink'].added")).to_be_visible()
    expect(page.locator(".change-banner")).to_contain_text("the conversation moved")
    expect(page.locator("tr[data-name='address'] details")).to_have_attribute("open", "")
    expect(page.locator("tr[data-name='coupon']")).to_be_hidden()
    expect(page.locator("tr[data-name='notes']")).to_be_hidden()
    names = page.locator("#global-variables tbody tr:visible").evaluate_all(
        "rows => rows.map(row => row.dataset.name)"
    )
    assert names == sorted(names)


def test_hostile_values_render_as_text_and_run_nothing(page, ops, sandbox, environment):
    hostile_user = "<img src=x onerror=alert('user')>"
    state = {
        "stack": [
            {
                "diagramID": "<script>alert('diagram')</script>",
                "name": "<b onmouseover=alert(1)>flow</b>",
            }
        ],
        "storage": {"<script>alert('storage')</script>": 1},
        "variables": {
            "script": "<script>alert(1)</script>",
            "image": "<img src=x onerror=alert(1)>",
            "<img src=x onerror=alert('name')>": "name is hostile",
            "nested": {
                "html": "<script>alert(2)</script>",
                "long": "<img src=x onerror=alert(3)>" * 10,
            },
            "quote": '" onmouseover="alert(5)',
        },
    }
    sandbox.set_state(environment.project.voiceflow_project_id, hostile_user, state)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, ops)

    open_inspector(page, hostile_user)
    page.click("tr[data-name='nested'] summary")
    page.click("tr[data-name='quote'] button:has-text('Edit')")
    page.click("summary:has-text('Show the whole state')")
    page.hover("li.frame .frame-title")

    expect(page.locator("tr[data-name='script'] td.value")).to_have_text(
        "<script>alert(1)</script>"
    )
    expect(page.locator("tr[data-name='image'] td.value")).to_have_text(
        "<img src=x onerror=alert(1)>"
    )
    expect(page.locator("h1 code")).to_have_text(hostile_user)
    expect(page.locator("#id_value")).to_have_value('" onmouseover="alert(5)')
    page.click("button:has-text('Set variable')")
    expect(page.locator(".message-success")).to_be_visible()
    page.goto("/")
    expect(page.locator(".known-table")).to_contain_text(hostile_user)
    page.goto("/audit/")
    page.click("table.audit-table a:has-text('Details')")
    expect(page.locator("pre").first).to_contain_text("<script>alert(1)</script>")

    assert page.locator("img").count() == 0
    assert page.locator("script:not([src])").count() == 0
    assert dialogs == []
