"""Finding a session: open a userID in the remembered environment, or pick one from the
known-sessions index, searchable by userID prefix and by variable value."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from inspector_support import ORDER_FLOW, inspect_url, ordering_state, text_of

from sessions_app.known_sessions import note_session
from sessions_app.models import KnownSession, OperatorPreference


def test_home_offers_the_remembered_environment(
    viewer_client, viewer, environment, production_environment
):
    OperatorPreference.objects.create(user=viewer, environment=production_environment)

    response = viewer_client.get(reverse("home"))

    assert response.status_code == 200
    assert response.context["find_form"]["environment"].value() == production_environment.pk


def test_opening_a_user_id_goes_to_its_inspector_and_remembers_the_environment(
    viewer_client, viewer, environment, production_environment
):
    response = viewer_client.get(
        reverse("home"), {"environment": production_environment.pk, "user": "a/b c?d#é"}
    )

    assert response.status_code == 302
    assert response["Location"] == inspect_url(production_environment, "a/b c?d#é")
    assert "user=a%2Fb+c%3Fd%23%C3%A9" in response["Location"]
    assert OperatorPreference.objects.get(user=viewer).environment == production_environment


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("two\nlines", "A userID cannot contain control characters"),
        ("bell\x07", "A userID cannot contain control characters"),
        ("z" * 14_337, "This userID is too long"),
        ("", "Type or paste a userID."),
    ],
)
def test_it_refuses_a_user_id_it_cannot_open_with_a_message(
    viewer_client, sandbox, environment, typed, message
):
    requests_before = sandbox.stats(environment.project.api_key)

    response = viewer_client.get(reverse("home"), {"environment": environment.pk, "user": typed})

    assert response.status_code == 400
    assert message in text_of(response)
    assert sandbox.stats(environment.project.api_key) == requests_before


def test_it_accepts_exactly_128_characters_of_any_kind(viewer_client, environment):
    user_id = "é/" * 64

    response = viewer_client.get(reverse("home"), {"environment": environment.pk, "user": user_id})

    assert response.status_code == 302


def test_an_unknown_environment_is_refused(viewer_client, environment):
    response = viewer_client.get(reverse("home"), {"environment": 999999, "user": "x"})

    assert response.status_code == 400
    assert "Choose one of the listed environments." in text_of(response)


def test_the_index_lists_known_sessions_newest_first_with_key_variables(
    viewer_client, viewer, environment
):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    note_session(environment, "older", {"variables": {"sessions": 1, "plan": "silver"}})
    KnownSession.objects.filter(user_id="older").update(
        last_seen_at=timezone.now() - timedelta(hours=2)
    )
    note_session(environment, "newer", ordering_state())

    response = viewer_client.get(reverse("home"))

    assert [known.user_id for known in response.context["known_page"]] == ["newer", "older"]
    text = text_of(response)
    assert f"{ORDER_FLOW} (depth 2)" in text  # frames carry no name; no flow map names it here
    assert "pizza_size large" in text
    assert "plan silver" in text


def test_opening_a_session_adds_it_to_the_index(viewer_client, viewer, sandbox, environment):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    viewer_client.get(inspect_url(environment, "first-visit"))

    response = viewer_client.get(reverse("home"))

    assert "first-visit" in text_of(response)
    assert "no state" in text_of(response)


@pytest.fixture
def index(viewer, environment, production_environment):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    note_session(
        environment, "order-1001", {"variables": {"pizza_type": "Pepperoni", "city": "Zürich"}}
    )
    note_session(environment, "order-1002", {"variables": {"pizza_type": "margherita"}})
    note_session(environment, "booking-7", {"variables": {"table": 4, "guest": "Ann Pepper"}})
    note_session(production_environment, "order-9999", {"variables": {"pizza_type": "pepperoni"}})


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ({"prefix": "order-"}, {"order-1001", "order-1002"}),
        ({"prefix": "booking"}, {"booking-7"}),
        ({"value": "pepper"}, {"order-1001", "booking-7"}),
        ({"value": "zürich"}, {"order-1001"}),
        ({"value": "table=4"}, {"booking-7"}),
        ({"prefix": "order-", "value": "pepperoni"}, {"order-1001"}),
        ({"prefix": "nothing"}, set()),
    ],
)
def test_the_index_is_searchable_by_prefix_and_by_variable_value(
    viewer_client, index, search, expected
):
    response = viewer_client.get(reverse("home"), search)

    assert {known.user_id for known in response.context["known_page"]} == expected


@pytest.mark.production_path
def test_the_prefix_search_ignores_case_on_every_database(viewer_client, index):
    response = viewer_client.get(reverse("home"), {"prefix": "ORDER-100"})

    assert {known.user_id for known in response.context["known_page"]} == {
        "order-1001",
        "order-1002",
    }


def test_an_imported_session_says_when_its_user_was_last_active(viewer_client, viewer, environment):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    note_session(environment, "talked-earlier", {"variables": {"plan": "gold"}})
    KnownSession.objects.filter(user_id="talked-earlier").update(
        last_activity_at=timezone.now() - timedelta(days=3, minutes=5)
    )

    text = text_of(viewer_client.get(reverse("home")))

    assert "Last active" in text and "3 days ago" in text


def test_the_index_is_per_environment(viewer_client, index):
    response = viewer_client.get(reverse("home"), {"value": "pepperoni"})

    assert "order-9999" not in text_of(response)


def test_the_index_is_paginated_and_keeps_the_search_across_pages(
    viewer_client, viewer, environment
):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    for n in range(60):
        note_session(environment, f"user-{n:03}", {"variables": {"n": n}})

    first = viewer_client.get(reverse("home"), {"prefix": "user-"})
    third = viewer_client.get(reverse("home"), {"prefix": "user-", "page": 3})

    assert len(first.context["known_page"]) == 25
    assert "Page 1 of 3" in text_of(first)
    assert "prefix=user-&amp;page=2" in first.content.decode()
    assert len(third.context["known_page"]) == 10


def test_a_link_in_the_index_opens_the_exact_user(viewer_client, viewer, environment):
    OperatorPreference.objects.create(user=viewer, environment=environment)
    known = note_session(environment, "50% off/#1", {"variables": {}})

    response = viewer_client.get(reverse("home"))
    link = reverse("known_session_open", args=[known.pk])
    opened = viewer_client.get(link)

    assert f'href="{link}"' in response.content.decode()
    assert opened.status_code == 302
    assert opened["Location"].endswith("?user=50%25+off%2F%231")


def test_someone_without_a_role_is_told_so_and_sees_no_sessions(outsider_client, environment):
    note_session(environment, "secret-user", {"variables": {"x": 1}})

    response = outsider_client.get(reverse("home"))

    assert response.status_code == 200
    assert "Your account does not have a role" in text_of(response)
    assert "secret-user" not in text_of(response)


def test_an_outsider_cannot_open_a_session_from_home(outsider_client, environment):
    response = outsider_client.get(reverse("home"), {"environment": environment.pk, "user": "x"})

    assert response.status_code == 200
    assert "Your account does not have a role" in text_of(response)
