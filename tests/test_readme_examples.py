"""The README's API and command-line examples use accounts a newcomer has: the ones `make start`
(through `manage.py bootstrap`) creates, with the password where the README says it is."""

import io
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
# What the examples act as: `--as-user NAME`, and the username a token is asked for with.
NAMED_ACCOUNTS = set(re.findall(r"--as-user (\S+)", README)) | set(
    re.findall(r"username: \"([^\"]+)\"", README)
)


@pytest.fixture
def bootstrapped(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("bootstrap", "--no-demo", stdout=io.StringIO())
    return tmp_path


def test_the_examples_name_accounts():
    assert NAMED_ACCOUNTS, "the README's examples act as someone"


@pytest.mark.parametrize("username", sorted(NAMED_ACCOUNTS))
def test_each_account_the_examples_use_exists_after_make_start_and_may_do_them(
    bootstrapped, username
):
    account = get_user_model().objects.get(username=username, is_active=True)

    for permission in ("edit_variables", "replace_state", "run_bulk_jobs"):
        assert account.has_perm(f"sessions_app.{permission}")


def test_the_token_example_works_with_the_password_file_the_readme_names(bootstrapped):
    assert "var/initial-admin-password" in README
    password = (bootstrapped / "initial-admin-password").read_text().strip()

    response = APIClient().post(
        "/api/v1/tokens",
        {"username": "admin", "password": password, "expires_in_days": 90},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["token"]
