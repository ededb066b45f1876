"""Voiceflow's own rate limit and this product's request budget are different causes: each is
named as what it is, with the real wait (never "0 s"), and pages count that wait down."""

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from api_support import error_of, token_client
from inspector_support import inspect_url, ordering_state, text_of

from sessions_app.voiceflow import RateLimited, client_for
from sessions_app.voiceflow.transport import retry_after_s

pytestmark = pytest.mark.production_path

USER = "customer-42"


@pytest.fixture
def conversation(sandbox, environment) -> str:
    sandbox.set_state(environment.project.voiceflow_project_id, USER, ordering_state())
    return USER


def voiceflow_429(environment, clean_knobs, *, window_seconds: float = 40) -> RateLimited:
    """Make Voiceflow itself answer 429 for this project, and return what the client raised."""
    clean_knobs.knobs(
        api_key=environment.project.api_key, budget_per_minute=1, window_seconds=window_seconds
    )
    client_for(environment).get_state(USER)
    with pytest.raises(RateLimited) as raised:
        client_for(environment).get_state(USER)
    return raised.value


def test_the_wait_is_the_end_of_voiceflows_window_when_retry_after_says_0():
    """backend-utils rounds Retry-After down: 0 in the last second of the window."""
    now = datetime(2026, 12, 3, 7, 55, 33, 400_000, tzinfo=UTC)
    response = httpx.Response(
        429,
        headers={
            "Retry-After": "0",
            "X-RateLimit-Reset": (now + timedelta(milliseconds=600)).isoformat(),
        },
    )

    assert retry_after_s(response, now) == pytest.approx(0.6)
    assert RateLimited("x", retry_after_s=0.6, limited_by="voiceflow").message == "x; retry in 1 s."


def test_a_retry_after_without_a_reset_time_is_taken_as_it_is():
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "17"})) == 17
    assert retry_after_s(httpx.Response(429)) == 1


def test_voiceflows_429_is_named_as_voiceflows_with_the_windows_real_wait(
    clean_knobs, environment, conversation
):
    first = voiceflow_429(environment, clean_knobs)

    assert first.limited_by == "voiceflow"
    assert re.fullmatch(r"Voiceflow's rate limit was reached; retry in (39|40) s\.", first.message)

    with pytest.raises(RateLimited) as later:
        client_for(environment).get_state(USER)
    assert later.value.limited_by == "voiceflow"
    assert later.value.message.startswith("Voiceflow's own rate limit for this project")
    assert "budget" not in later.value.message
    assert 30 <= later.value.retry_after_s <= 40


def test_this_products_budget_is_named_as_its_own(clean_knobs, environment, conversation):
    project = environment.project
    project.budget_per_minute = 1
    project.save(update_fields=["budget_per_minute"])
    client_for(environment).get_state(USER)

    with pytest.raises(RateLimited) as raised:
        client_for(environment).get_state(USER)

    assert raised.value.limited_by == "budget"
    assert raised.value.message.startswith(
        "This dashboard's request budget for the project (1/min) is taken by other requests"
    )
    assert raised.value.status is None  # nothing was sent


def test_the_api_says_which_limit_it_was(clean_knobs, environment, conversation, viewer):
    voiceflow_429(environment, clean_knobs)

    response = token_client(viewer).get(
        f"/api/v1/environments/{environment.pk}/sessions/state?user={USER}"
    )

    assert response.status_code == 429
    error = error_of(response)
    assert error["details"] == {"limited_by": "voiceflow"}
    assert 30 <= error["retry_after"] <= 40
    assert "Voiceflow's own rate limit" in error["message"]


def test_the_inspector_names_voiceflows_limit_and_counts_its_wait_down(
    viewer_client, clean_knobs, environment, conversation
):
    voiceflow_429(environment, clean_knobs)

    response = viewer_client.get(inspect_url(environment, USER))

    page = text_of(response)
    assert "Voiceflow's own rate limit for this project was reached" in page
    assert "request budget" not in page and "retry in 0 s" not in page
    countdown = re.search(r'data-countdown-seconds="(\d+)"', response.content.decode())
    assert countdown and 30 <= int(countdown.group(1)) <= 40
