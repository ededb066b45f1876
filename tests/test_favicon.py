"""Browsers find the icon: pages link it, and /favicon.ico leads to it (no 404 in any log)."""

from django.contrib.staticfiles import finders
from django.test import Client


def test_pages_link_the_icon_and_it_is_served(viewer_client):
    page = viewer_client.get("/").content.decode()

    assert '<link rel="icon" href="/static/img/favicon.svg"' in page
    assert finders.find("img/favicon.svg")


def test_favicon_ico_leads_to_the_icon_even_before_signing_in(db):
    response = Client().get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/img/favicon.svg"
