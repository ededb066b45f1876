"""No one-click surprises, in a real browser: a restore from the inspector's History first shows
what changes and which later changes it undoes, and asks; removing a variable in Production asks
first; every successful edit's message carries an Undo link that leads through the same preview."""

import pytest
from browser_support import sign_in
from django.urls import reverse
from inspector_support import based_on, inspect_url, ordering_state
from playwright.sync_api import expect

from sessions_app.models import AuditEntry

pytestmark = pytest.mark.browser

USER = "customer-42"


@pytest.fixture(autouse=True)
def _address_is_not_masked_here(settings):
    settings.PERSONAL_DATA_VARIABLES = ["email", "phone", "phone_number"]


def stored(sandbox, environment):
    return sandbox.state(environment.project.voiceflow_project_id, USER)


def set_on_page(client, environment, name, value, state_now):
    client.post(
        reverse("session_set_variable", args=[environment.pk]),
        {
            "user": USER,
            "based_on": based_on(state_now),
            "name": name,
            "kind": "string",
            "value": value,
        },
    )
    return AuditEntry.objects.filter(user_id=USER).first()


def test_a_restore_from_the_history_shows_what_changes_and_what_it_undoes_then_asks(
    page, ops, ops_client, sandbox, environment
):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    first = set_on_page(ops_client, environment, "pizza_size", "small", ordering_state())
    set_on_page(ops_client, environment, "coupon", "HALFOFF", first.state_after)
    moved = stored(sandbox, environment)
    sign_in(page, ops)
    page.goto(inspect_url(environment, USER))

    page.click(f"#history a[aria-label='Restore the state recorded before entry {first.pk}']")

    expect(page.locator("table.state-diff")).to_contain_text("variables.pizza_size")
    expect(page.locator("table.state-diff")).to_contain_text("variables.coupon")
    undone = page.locator("table.undone-changes tbody tr")
    expect(undone).to_have_count(1)
    expect(undone).to_contain_text("coupon")
    expect(undone).to_contain_text("HALFOFF")
    assert stored(sandbox, environment) == moved, "the preview writes nothing"

    page.click("button:has-text('Put this state back')")

    expect(page.locator(".message-success .message-text")).to_contain_text(
        f"Restored the state recorded before entry #{first.pk}"
    )
    assert stored(sandbox, environment)["variables"] == ordering_state()["variables"]


def test_removing_a_variable_in_production_asks_first_and_its_message_offers_undo(
    page, support, sandbox, production_environment
):
    environment = production_environment
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    sign_in(page, support)
    page.goto(inspect_url(environment, USER))

    page.click("tr[data-name='pizza_size'] button:has-text('Remove')")

    expect(page.locator("h1")).to_contain_text("Remove the variable pizza_size")
    expect(page.locator(".confirm-removal")).to_contain_text("the text “large”")
    assert "pizza_size" in stored(sandbox, environment)["variables"], "nothing removed yet"
    assert not AuditEntry.objects.exists()

    page.click("button:has-text('Remove pizza_size')")

    expect(page.locator(".message-success .message-text")).to_have_text(
        "Removed the variable pizza_size."
    )
    assert "pizza_size" not in stored(sandbox, environment)["variables"]

    page.click(".message-success a:has-text('Undo')")

    expect(page.locator("table.state-diff")).to_contain_text("variables.pizza_size")
    expect(page.locator("table.undone-changes")).to_have_count(0)
    assert "pizza_size" not in stored(sandbox, environment)["variables"]
    page.click("button:has-text('Put this state back')")

    expect(page.locator(".message-success .message-text")).to_contain_text("Restored the state")
    assert stored(sandbox, environment)["variables"]["pizza_size"] == "large"


def test_outside_production_a_removal_is_one_click_with_an_undo_link(
    page, support, sandbox, environment
):
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    sign_in(page, support)
    page.goto(inspect_url(environment, USER))

    page.click("tr[data-name='coupon'] button:has-text('Remove')")

    expect(page.locator(".message-success .message-text")).to_have_text(
        "Removed the variable coupon."
    )
    entry = AuditEntry.objects.get(action=AuditEntry.Action.REMOVE_VARIABLES)
    expect(page.locator(".message-success a:has-text('Undo')")).to_have_attribute(
        "href", reverse("audit_restore", args=[entry.pk])
    )


def test_a_launch_in_production_asks_first(page, support, sandbox, production_environment):
    environment = production_environment
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    sign_in(page, support)
    page.goto(inspect_url(environment, USER))

    page.click("#console button:has-text('Launch')")

    expect(page.locator(".console-empty")).to_be_visible()
    assert asked and "Production" in asked[0]
    assert not AuditEntry.objects.exists()
    assert stored(sandbox, environment) == ordering_state()
