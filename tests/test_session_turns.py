"""The turns that led here: the user's recent conversation from Voiceflow's transcripts, as a chat
fragment the inspector loads after it renders."""

import re

import pytest
from flow_support import talk
from inspector_support import action_url, text_of

from sessions_app.flows.turns import TURNS_PER_PAGE
from sessions_app.personal_data import MASK

pytestmark = pytest.mark.production_path


def turns_text(client, environment, user_id: str, page: int = 1) -> str:
    response = client.get(action_url("session_turns", environment, user_id) + f"&page={page}")
    assert response.status_code == 200
    return text_of(response)


def test_the_users_turns_and_the_agents_answers_read_as_a_chat_newest_last(
    client_for_user, sandbox, sandbox_project, environment, ops
):
    talk(sandbox, sandbox_project, "chatty", "I want a pizza", "large")

    text = turns_text(client_for_user(ops), environment, "chatty")

    order = [
        "User (started the conversation)",
        "Agent Welcome to Demo Pizzeria",
        "User I want a pizza",
        "Agent What size would you like",
        "User large",
        "Agent Great, a large it is.",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    assert "Small Medium Large" in text  # the buttons the agent offered


def test_without_an_access_token_the_turns_come_through_the_analytics_api(
    client_for_user, sandbox, sandbox_project, environment, ops
):
    environment.project.access_token = ""
    environment.project.save()
    talk(sandbox, sandbox_project, "keyed", "book a table")

    text = turns_text(client_for_user(ops), environment, "keyed")

    assert "User book a table" in text
    assert "Agent Which day would you like to book for?" in text


def test_long_conversations_are_paged_from_the_newest(
    client_for_user, sandbox, sandbox_project, environment, ops
):
    talk(sandbox, sandbox_project, "long-talker", *[f"hello number {n}" for n in range(12)])
    client = client_for_user(ops)

    first = client.get(action_url("session_turns", environment, "long-talker"))
    pages = [text_of(first)]
    while "Earlier turns" in pages[-1] and len(pages) < 20:
        pages.append(turns_text(client, environment, "long-talker", page=len(pages) + 1))

    assert len(pages) > 1
    assert re.search(r'hx-get="[^"]*page=2"', first.content.decode())
    assert "hello number 11" in pages[0]
    assert "(started the conversation)" in pages[-1]
    assert pages[0].count("User ") + pages[0].count("Agent ") == TURNS_PER_PAGE
    # Read from the oldest page to the newest, the user's turns are in the order they were sent.
    whole = " ".join(reversed(pages))
    positions = [whole.index(f"hello number {n} ") for n in range(12)]
    assert positions == sorted(positions)


WORDS = ["my email is maria@example.com", "deliver to 12 Baker Street"]
# What the scripted agent says or offers in this conversation.
AGENT_WORDS = ["Welcome to Demo Pizzeria", "Order a pizza"]


@pytest.mark.parametrize("role", ["viewer", "support"])
def test_a_role_without_personal_data_sees_who_spoke_and_when_but_no_words(
    client_for_user, sandbox, sandbox_project, environment, request, role
):
    talk(sandbox, sandbox_project, "private-talker", *WORDS)
    client = client_for_user(request.getfixturevalue(role))

    for fragment in ("session_turns", "session_timeline"):
        response = client.get(action_url(fragment, environment, "private-talker"))
        assert response.status_code == 200
        page, text = response.content.decode(), text_of(response)
        for words in WORDS + AGENT_WORDS + ["Baker", "maria@"]:
            assert words not in page, (fragment, words)
        assert "User (started the conversation)" in text
        assert f"User {MASK}" in text and f"Agent {MASK}" in text
        assert "Your role does not see personal data" in text
        assert 'data-turn-kind="text"' in page


@pytest.mark.parametrize("role", ["ops", "admin_user"])
def test_a_role_with_personal_data_reads_every_word(
    client_for_user, sandbox, sandbox_project, environment, request, role
):
    talk(sandbox, sandbox_project, "private-talker", *WORDS)
    client = client_for_user(request.getfixturevalue(role))

    for fragment in ("session_turns", "session_timeline"):
        response = client.get(action_url(fragment, environment, "private-talker"))
        text = text_of(response)
        for words in WORDS + AGENT_WORDS:
            assert words in text, (fragment, words)
        assert MASK not in text
        assert "Your role does not see personal data" not in text


def test_a_project_without_transcript_access_is_told_so_plainly(
    client_for_user, sandbox, sandbox_project, environment, viewer
):
    talk(sandbox, sandbox_project, "locked-out")
    environment.project.access_token = "vfp_wrong_token"
    environment.project.save()

    text = turns_text(client_for_user(viewer), environment, "locked-out")

    assert "No transcript access." in text
    assert "personal access token" in text


def test_expired_transcripts_are_named_as_such(
    client_for_user, clean_knobs, sandbox, sandbox_project, environment, viewer
):
    talk(sandbox, sandbox_project, "forgotten", "hi")
    # Through the analytics API (the project key), whose reads the knobs can fail.
    environment.project.access_token = ""
    environment.project.save()
    sandbox.knobs(
        api_key=sandbox_project["api_key"],
        failures={"mode": "5xx", "status": 404, "routes": ["analytics.transcript.get"]},
    )

    text = turns_text(client_for_user(viewer), environment, "forgotten")

    assert "transcripts have expired (or were deleted)" in text


def test_a_user_voiceflow_has_no_transcript_of_is_told_so(client_for_user, environment, viewer):
    text = turns_text(client_for_user(viewer), environment, "never-talked")

    assert "Voiceflow has no transcript of this userID" in text


def test_the_inspector_loads_the_turns_after_it_renders(
    client_for_user, sandbox, sandbox_project, environment, viewer
):
    talk(sandbox, sandbox_project, "lazy")

    page = client_for_user(viewer).get(action_url("session_inspect", environment, "lazy"))
    html = page.content.decode()

    assert 'hx-trigger="load"' in html
    assert action_url("session_turns", environment, "lazy").replace("&", "&amp;") in html
    assert 'class="chat"' not in html  # the transcripts are not read while rendering
