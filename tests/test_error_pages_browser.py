"""The 403, 404 and 500 pages use the base layout, say what is missing and link back; a 403 is
logged in one line, without a traceback."""

import logging
import re

import pytest
from browser_support import sign_in
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_403_names_the_missing_permission_and_links_back(page, viewer):
    sign_in(page, viewer)
    page.goto(reverse("audit_list"))

    response = page.goto(reverse("team"), referer=page.url)

    assert response.status == 403
    expect(page.locator("header.topbar .mainnav")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Your role does not allow this")
    expect(page.locator(".error-page")).to_contain_text("manage_team")
    expect(page.locator(".error-page")).to_contain_text("Admin")
    expect(page.locator(".error-page dd").last).to_have_text("Viewer")
    page.click("a:has-text('Go back')")
    expect(page).to_have_url(re.compile(r"/audit/$"))


def test_a_404_is_in_the_layout_with_a_way_back(page, viewer):
    sign_in(page, viewer)

    response = page.goto(reverse("audit_detail", args=[987654]))

    assert response.status == 404
    expect(page.locator("header.topbar .mainnav")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Not found")
    page.click("a:has-text('Go back')")
    expect(page.locator("h1")).to_have_text("Find a session")


def test_a_403_is_logged_in_one_line_without_a_traceback(viewer_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = viewer_client.get(reverse("team"))

    assert response.status_code == 403
    forbidden = [record for record in caplog.records if record.name == "django.request"]
    assert [record.getMessage() for record in forbidden] == [
        "Forbidden (Permission denied): /team/"
    ]
    assert forbidden[0].exc_info is None and "Traceback" not in caplog.text


def test_the_500_page_uses_the_layout_and_shows_no_detail(db):
    response = server_error(RequestFactory().get("/"))

    text = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in text and 'class="topbar"' in text
    assert "Traceback" not in text
