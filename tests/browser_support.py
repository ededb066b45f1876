"""Helpers of the browser tests (the `page` fixture is in conftest.py): signing in and screenshots."""

import os
from pathlib import Path

from persona_support import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def sign_in(page, user, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def save_screenshot(target, name: str) -> Path:
    """Screenshot a page or a locator. The pictures in docs/screenshots/ (shown in README.md)
    are replaced only when UPDATE_SCREENSHOTS=1 (`make screenshots`); ordinary runs write under
    var/, so the suite leaves the work tree clean."""
    folder = (
        ROOT / ("docs" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else "var") / "screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    if hasattr(target, "goto"):
        target.screenshot(path=str(path), full_page=True)
    else:
        target.screenshot(path=str(path))
    return path
