"""The environment an operator works in: this login's is kept in the login session (its id only),
the last one chosen in any login is what a new login starts in, and a read of a session in the
environment already chosen looks up neither."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from inspector_support import inspect_url

from sessions_app.models import Environment, OperatorPreference
from sessions_app.workspace import SESSION_ENVIRONMENT

pytestmark = pytest.mark.production_path


def working_in(client) -> int:
    """The environment the home page opens a userID in (the remembered one)."""
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.context["find_form"]["environment"].value()


def switch(client, environment) -> None:
    response = client.post(
        reverse("switch_environment"), {"environment": environment.pk, "next": "/"}
    )
    assert response.status_code == 302


def queries_of(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def test_a_read_in_the_environment_already_chosen_looks_up_no_preference(
    viewer_client, environment
):
    viewer_client.get(inspect_url(environment, "reader-1"))

    sql = queries_of(viewer_client, inspect_url(environment, "reader-1"))

    assert not [q for q in sql if "sessions_app_operatorpreference" in q], sql


def test_a_read_in_another_environment_switches_to_it_for_this_login_and_the_next(
    client_for_user, viewer, environment, production_environment
):
    browser = client_for_user(viewer)
    browser.get(inspect_url(environment, "reader-1"))
    assert working_in(browser) == environment.pk

    browser.get(inspect_url(production_environment, "reader-1"))

    assert working_in(browser) == production_environment.pk
    assert OperatorPreference.objects.get(user=viewer).environment == production_environment
    assert working_in(client_for_user(viewer)) == production_environment.pk


def test_the_switcher_is_remembered_and_the_page_shows_the_environment_chosen(
    viewer_client, viewer, environment, production_environment
):
    viewer_client.get(inspect_url(environment, "reader-1"))

    switch(viewer_client, production_environment)
    page = viewer_client.get(reverse("home")).content.decode()

    assert OperatorPreference.objects.get(user=viewer).environment == production_environment
    assert f'<option value="{production_environment.pk}" selected>' in page
    assert f"{production_environment.choice_label}</option>" in page
    assert f"{environment.choice_label}</option>" in page
    assert "PRODUCTION: changes reach live conversations" in page


def test_each_login_stays_in_the_environment_it_chose(
    client_for_user, viewer, environment, production_environment
):
    laptop, phone = client_for_user(viewer), client_for_user(viewer)
    switch(laptop, environment)
    switch(phone, production_environment)

    assert working_in(laptop) == environment.pk
    assert working_in(phone) == production_environment.pk
    # A new login starts where the operator last switched to.
    assert working_in(client_for_user(viewer)) == production_environment.pk


def test_an_environment_deleted_since_it_was_chosen_gives_way_to_the_preference(
    viewer_client, viewer, environment, production_environment
):
    switch(viewer_client, production_environment)
    OperatorPreference.objects.filter(user=viewer).update(environment=environment)
    Environment.objects.filter(pk=production_environment.pk).delete()

    assert working_in(viewer_client) == environment.pk
    assert SESSION_ENVIRONMENT not in viewer_client.session


def test_a_watch_poll_looks_up_neither_the_working_environment_nor_the_switcher_list(
    viewer_client, environment, production_environment
):
    watch_url = reverse("session_watch", args=[environment.pk]) + "?user=reader-1"
    viewer_client.get(watch_url)

    sql = queries_of(viewer_client, watch_url)

    assert not [q for q in sql if "sessions_app_operatorpreference" in q], sql
    environment_reads = [q for q in sql if 'FROM "sessions_app_environment"' in q]
    assert len(environment_reads) == 1, environment_reads  # the environment polled only
