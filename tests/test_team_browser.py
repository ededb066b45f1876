"""In a real browser: an admin adds a Support account from the Team page, copies the password
shown once, then makes the account Ops."""

import pytest
from browser_support import save_screenshot, sign_in
from django.contrib.auth import get_user_model

from sessions_app.models import AuditEntry

pytestmark = pytest.mark.browser


def test_an_admin_adds_an_account_sees_its_password_once_and_changes_its_role(page, admin_user):
    sign_in(page, admin_user)  # signing in counts as the password confirmation

    page.click("nav >> text=Team")
    page.click("text=New account")
    page.fill("#id_username", "nina-new")
    page.fill("#id_email", "nina@example.com")
    page.select_option("#id_role", "Support")
    page.click("button:has-text('Create account')")

    assert page.locator("#account-created-title").inner_text() == "Account nina-new created"
    password = page.locator("#new-password").inner_text().strip()
    account = get_user_model().objects.get(username="nina-new")
    assert account.check_password(password)
    row = page.locator(f"#account-{account.pk}")
    assert row.locator("[data-role]").inner_text() == "Support"

    page.reload()
    assert page.locator("#new-password").count() == 0
    assert password not in page.content()

    row.locator("select[name=role]").select_option("Ops")
    row.locator("button:has-text('Change role')").click()
    page.wait_for_load_state()

    assert "nina-new now holds the Ops role." in page.locator(".messages").inner_text()
    assert row.locator("[data-role]").inner_text() == "Ops"
    save_screenshot(page, "team")
    assert set(account.groups.values_list("name", flat=True)) == {"Ops"}
    assert [
        entry.request_sent
        for entry in AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGED).order_by("pk")
    ] == [
        {
            "user": "nina-new",
            "created": True,
            "groups_granted": ["Support"],
            "flags": {"is_active": True},
        },
        {"user": "nina-new", "groups_granted": ["Ops"], "groups_revoked": ["Support"]},
    ]
