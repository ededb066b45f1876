"""The interact console on the inspector, against the sandbox over HTTP: every trace type the
sandbox's agent produces is rendered, buttons send their request back, turns stream through the
v4 session API as they arrive, session events are emitted, every turn is audited, bad input
sends nothing, and hostile trace content stays text."""

import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from django.test import Client
from django.urls import reverse
from inspector_support import inspect_url, text_of
from reliability_support import ROOT, database_url_of

from sessions_app.models import AuditEntry
from sessions_app.sandbox.agent import BOOKING, PIZZA, SUPPORT
from sessions_app.sandbox.agent import ROOT as ROOT_FLOW

USER = "console-customer"


FLOW_NAMES = {flow.diagram_id: flow.name for flow in (ROOT_FLOW, PIZZA, BOOKING, SUPPORT)}


def flows(state: dict) -> list[str]:
    """The sandbox agent's flows on the stack, by name (the runtime's frames carry none), above
    the runtime's base frame."""
    return [
        FLOW_NAMES.get(frame["diagramID"], "?")
        for frame in state["stack"]
        if not frame["storage"].get("isBase")
    ]


def console_url(name: str, environment) -> str:
    return reverse(f"session_console_{name}", args=[environment.pk])


def send(client: Client, environment, user_id: str = USER, **fields) -> tuple[int, str]:
    response = client.post(console_url("send", environment), {"user": user_id, **fields})
    return response.status_code, response.content.decode()


def turn(client: Client, environment, user_id: str = USER, **fields) -> str:
    status, page = send(client, environment, user_id, **fields)
    assert status == 200, page
    assert "console-problem" not in page, text_of_fragment(page)
    return page


def text_of_fragment(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def traces_of(page: str, kind: str) -> list[str]:
    """The rendered list items of one trace kind, in order."""
    return re.findall(
        rf'<li class="trace trace-{kind}"[^>]*>.*?</li>\n?(?=<li class="trace|</ol>)', page, re.S
    )


def button_request(page: str, label: str) -> str:
    """The request JSON behind the button labelled `label`, as the page carries it."""
    for form in re.findall(r'<form class="trace-button".*?</form>', page, re.S):
        if f'name="label" value="{html.escape(label)}"' in form:
            return html.unescape(re.search(r'name="request" value="([^"]*)"', form).group(1))
    raise AssertionError(f"no button {label!r}")


def click(client: Client, environment, page: str, label: str, user_id: str = USER, **fields) -> str:
    request = button_request(page, label)
    return turn(client, environment, user_id, kind="button", label=label, request=request, **fields)


def stored(sandbox, environment, user_id: str = USER) -> dict | None:
    return sandbox.state(environment.project.voiceflow_project_id, user_id)


def interact_count(sandbox, environment) -> int:
    by_route = sandbox.stats(environment.project.api_key)["by_route"]
    return sum(by_route.get(route, 0) for route in ("state.interact", "v4.stream", "v4.session"))


# ---- turns answered at once ----


def test_a_launch_shows_the_greeting_the_menu_buttons_and_the_no_reply_timeout(
    support_client, sandbox, environment
):
    page = turn(support_client, environment, kind="launch")

    texts = [text_of_fragment(item) for item in traces_of(page, "text")]
    assert texts[0].startswith("Text Welcome to Demo Pizzeria & Bookings!")
    assert texts[-1] == "Text What can I help you with?"
    (choice,) = traces_of(page, "choice")
    assert [
        html.unescape(label)
        for label in re.findall(r"<button type=\"submit\">(.*?)</button>", choice)
    ] == [
        "Order a pizza",
        "Book a table",
        "Talk to support",
    ]
    (no_reply,) = traces_of(page, "no_reply")
    assert "after 30 s of silence" in no_reply
    assert "Sent</span> launch" in page
    assert flows(stored(sandbox, environment))[0] == "ROOT"


def test_a_choice_click_sends_the_buttons_request_verbatim_and_moves_the_conversation(
    support_client, sandbox, environment
):
    menu = turn(support_client, environment, kind="launch")
    request = json.loads(button_request(menu, "Book a table"))
    assert request["type"].startswith("path-") and request["payload"] == {"label": "Book a table"}

    dates = click(support_client, environment, menu, "Book a table")

    assert "Which day would you like to book for?" in dates
    state = stored(sandbox, environment)
    assert flows(state) == ["ROOT", "Book a table"]
    assert state["variables"]["last_event"] == request

    click(support_client, environment, dates, "Tonight")
    assert stored(sandbox, environment)["variables"]["booking_date"] == "today"


def test_an_intent_with_entities_and_typed_text_reach_the_agent(
    support_client, sandbox, environment
):
    turn(support_client, environment, kind="launch")
    turn(support_client, environment, kind="intent", intent_name="order_pizza")
    page = turn(
        support_client,
        environment,
        kind="intent",
        intent_name="choose_size",
        entities='{"size": "large"}',
    )
    assert "Sent</span> the intent choose_size (size = large)" in page
    assert stored(sandbox, environment)["variables"]["pizza_size"] == "large"

    turn(support_client, environment, kind="text", text="pepperoni please")
    assert stored(sandbox, environment)["variables"]["pizza_type"] == "pepperoni"


def test_an_intent_is_sent_in_the_documented_request_shape(support_client, environment):
    """@voiceflow/base-types' IntentRequest: query and entities are required in the payload."""
    turn(support_client, environment, kind="launch")
    turn(support_client, environment, kind="intent", intent_name="order_pizza")
    turn(
        support_client,
        environment,
        kind="intent",
        intent_name="choose_size",
        query="a large one",
        entities='{"size": "large"}',
    )

    sent = [
        entry.request_sent["action"]
        for entry in AuditEntry.objects.filter(action=AuditEntry.Action.INTERACT).order_by("pk")
    ][1:]
    assert sent == [
        {
            "type": "intent",
            "payload": {"query": "", "intent": {"name": "order_pizza"}, "entities": []},
        },
        {
            "type": "intent",
            "payload": {
                "query": "a large one",
                "intent": {"name": "choose_size"},
                "entities": [{"name": "size", "value": "large"}],
            },
        },
    ]


def test_pizza_traces_render_carousel_card_visual_path_and_end(
    support_client, sandbox, environment
):
    menu = turn(support_client, environment, kind="launch")
    sizes = click(support_client, environment, menu, "Order a pizza")
    pizzas = click(support_client, environment, sizes, "Medium")

    (carousel,) = traces_of(pizzas, "carousel")
    assert "Carousel · 3 cards" in text_of_fragment(carousel)
    assert re.findall(r'<h3 class="card-title">(.*?)</h3>', carousel) == [
        "Margherita",
        "Pepperoni",
        "Veggie Supreme",
    ]
    assert "Tomato, fior di latte, basil. From $9.50" in carousel
    assert 'role="img" aria-label="Margherita"' in carousel
    assert 'href="https://images.example.com/demo-pizzeria/margherita.jpg"' in carousel
    assert "<img" not in carousel  # a remote image is linked, never fetched by the page

    confirm = click(support_client, environment, pizzas, "Choose Veggie Supreme")
    (card,) = traces_of(confirm, "card")
    assert '<h3 class="card-title">Your order</h3>' in card
    assert "Medium Veggie Supreme: $13.00" in card
    assert "Confirm order" in card and "Cancel" in card

    done = click(support_client, environment, confirm, "Confirm order", debug_traces="on")
    (visual,) = traces_of(done, "visual")
    assert "Visual (image)" in text_of_fragment(visual) and "800×600" in visual
    (path,) = traces_of(done, "step")
    assert "<details" in path and "Took the path choice:1" in text_of_fragment(path)
    (end,) = traces_of(done, "end")
    assert "The conversation ended." in end
    assert stored(sandbox, environment)["variables"]["order_confirmed"] is True


def test_debug_flow_and_block_traces_are_folded_when_asked_for(
    support_client, sandbox, environment
):
    plain = turn(support_client, environment, kind="launch")
    assert traces_of(plain, "step") == [] and traces_of(plain, "debug") == []

    page = turn(
        support_client, environment, kind="text", text="something unheard of", debug_traces="on"
    )

    steps = [text_of_fragment(step) for step in traces_of(page, "step")]
    assert any(step.startswith("Block Reached the block") for step in steps)
    (debug,) = traces_of(page, "debug")
    assert debug.startswith('<li class="trace trace-debug" data-trace-type="debug"><details')
    assert "no match found for input, reprompting" in debug

    flows = turn(support_client, environment, kind="launch", debug_traces="on")
    assert any(
        "Flow Entered the flow ROOT" in text_of_fragment(step) for step in traces_of(flows, "step")
    )


def test_speech_is_offered_as_a_download_and_never_played(support_client, environment):
    page = turn(support_client, environment, kind="launch", speech="on")

    speak = traces_of(page, "speak")
    assert len(speak) == len(traces_of(page, "text")) == 3
    assert "Welcome to Demo Pizzeria" in speak[0]
    assert 'href="data:audio/mpeg;base64,' in speak[0] and 'download="speech.mp3"' in speak[0]
    assert "<audio" not in page and "autoplay" not in page


def test_the_knowledge_base_trace_is_folded_with_its_sources_and_answer(
    support_client, environment
):
    menu = turn(support_client, environment, kind="launch")
    topics = click(support_client, environment, menu, "Talk to support")
    page = click(support_client, environment, topics, "Delivery issue")

    (knowledge,) = traces_of(page, "knowledge_base")
    assert "<details" in knowledge
    assert "Knowledge base 1 source for “Delivery issue”" in text_of_fragment(knowledge)
    assert "delivery-faq.pdf (score 0.87)" in text_of_fragment(knowledge)
    assert "Answer: Deliveries usually take 30-45 minutes." in text_of_fragment(knowledge)


def test_a_trace_type_the_console_does_not_know_is_shown_as_json(
    support_client, sandbox, environment
):
    menu = turn(support_client, environment, kind="launch")
    sizes = click(support_client, environment, menu, "Order a pizza")
    pizzas = click(support_client, environment, sizes, "Small")
    confirm = click(support_client, environment, pizzas, "Choose Margherita")
    click(support_client, environment, confirm, "Confirm order")

    tracked = turn(support_client, environment, kind="event", event_name="track_order")

    (unknown,) = traces_of(tracked, "unknown")
    assert "Trace order_tracker (shown as JSON)" in text_of_fragment(unknown)
    shown = json.loads(html.unescape(re.search(r"<pre>(.*?)</pre>", unknown, re.S).group(1)))
    assert shown["type"] == "order_tracker" and shown["payload"]["status"] == "preparing"


def test_hostile_trace_content_is_shown_as_text(support_client, sandbox, environment):
    hostile = "<script>alert('trace')</script>"
    turn(support_client, environment, kind="launch")
    state = stored(sandbox, environment)
    state["variables"] |= {
        "order_number": hostile,
        "order_status": '"><img src=x onerror=alert(1)>',
    }
    sandbox.set_state(environment.project.voiceflow_project_id, USER, state)

    announced = turn(support_client, environment, kind="event", event_name="order_ready")
    tracked = turn(support_client, environment, kind="event", event_name="track_order")
    topics = turn(support_client, environment, kind="text", text=f"support {hostile}")
    answer = turn(support_client, environment, kind="text", text=f"my delivery is late {hostile}")

    for page in (announced, tracked, topics, answer):
        assert "<script>" not in page and "<img src=x" not in page
    assert (
        "Good news: order #&lt;script&gt;alert(&#x27;trace&#x27;)&lt;/script&gt; is on its way!"
        in announced
    )
    assert "&lt;script&gt;" in traces_of(tracked, "unknown")[0]
    assert "&lt;script&gt;" in traces_of(answer, "knowledge_base")[0]


def test_every_turn_is_audited_with_the_state_before_and_after(
    support, support_client, sandbox, environment
):
    turn(support_client, environment, kind="launch")
    before = stored(sandbox, environment)
    turn(support_client, environment, kind="text", text="book a table")

    entries = list(AuditEntry.objects.filter(user_id=USER).order_by("pk"))
    assert [entry.action for entry in entries] == [AuditEntry.Action.INTERACT] * 2
    last = entries[-1]
    assert last.source == AuditEntry.Source.PAGE and last.actor == support
    assert last.outcome == AuditEntry.Outcome.SUCCEEDED
    assert last.state_before == before
    assert last.state_after == stored(sandbox, environment)
    assert last.request_sent["action"] == {"type": "text", "payload": "book a table"}
    assert entries[0].state_before == {}


def test_after_a_turn_the_state_panel_marks_what_the_turn_changed(
    support_client, sandbox, environment
):
    menu = turn(support_client, environment, kind="launch")
    page = click(support_client, environment, menu, "Book a table")
    refresh = html.unescape(re.search(r'data-refresh="([^"]+)"', page).group(1))

    response = support_client.get(refresh)

    assert response.status_code == 200
    panel = response.content.decode()
    assert panel.lstrip().startswith('<section id="live-state"')
    assert "the conversation moved" in text_of_fragment(panel)
    assert re.search(r'<tr class="var-row[^"]*changed[^"]*" data-name="last_event"', panel)
    assert 'id="set-variable-based-on"' in panel  # the edit form follows the new state


def test_the_console_works_the_same_on_a_realtime_api_project(
    support_client, sandbox, realtime_environment
):
    menu = turn(support_client, realtime_environment, kind="launch")
    click(support_client, realtime_environment, menu, "Book a table")
    assert flows(stored(sandbox, realtime_environment))[-1] == "Book a table"

    events = stream_turn(support_client, realtime_environment, kind="text", text="tomorrow")

    assert [name for name, _ in events][-1] == "end"
    assert stored(sandbox, realtime_environment)["variables"]["booking_date"] == "tomorrow"
    entry = AuditEntry.objects.filter(request_sent__path="v4/interact/stream").get()
    assert entry.state_after["variables"]["booking_date"] == "tomorrow"
    assert entry.state_before["variables"]["booking_date"] == 0


# ---- refusals and failures ----


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "text", "text": "   "}, "Type some text to send."),
        ({"kind": "intent", "intent_name": ""}, "Name the intent to send."),
        (
            {"kind": "intent", "intent_name": "choose_size", "entities": '{"size": }'},
            "The entities are not valid JSON. Line 1, column 10: Expecting value.",
        ),
        (
            {"kind": "intent", "intent_name": "choose_size", "entities": '["large"]'},
            'The entities are not a JSON object; write one like {"size": "large"}.',
        ),
        ({"kind": "event", "event_name": " "}, "Name the event to send."),
        (
            {"kind": "button", "request": '{"payload": {}}'},
            "This button carries no request with a type to send.",
        ),
        ({"kind": "shout"}, "Select a valid choice. shout is not one of the available choices."),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_sent(
    support_client, sandbox, environment, fields, message
):
    for name in ("send", "stream"):
        response = support_client.post(console_url(name, environment), {"user": USER, **fields})

        assert response.status_code == 400
        assert f"Nothing was sent. {message}" in text_of_fragment(response.content.decode())
    assert interact_count(sandbox, environment) == 0
    assert not AuditEntry.objects.exists()


def test_an_upstream_failure_is_a_plain_message_and_a_failed_audit_row(
    support_client, sandbox, clean_knobs, environment
):
    sandbox.knobs(
        api_key=environment.project.api_key,
        failures={"mode": "5xx", "status": 502, "routes": ["state.interact"]},
    )

    status, page = send(support_client, environment, kind="launch")

    assert status == 200
    assert "The turn did not go through. Voiceflow failed (502)." in text_of_fragment(page)
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.FAILED and entry.upstream_status == 502


# ---- streaming through the v4 session API ----


def read_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def stream_turn(client: Client, environment, user_id: str = USER, **fields) -> list:
    response = client.post(console_url("stream", environment), {"user": user_id, **fields})
    assert response.status_code == 200
    return read_events(b"".join(response.streaming_content).decode())


def test_a_streamed_turn_relays_each_trace_as_html_and_completion_deltas(
    ops_client, sandbox, environment
):
    # Ops reads answers unmasked, delta by delta (Support's are held: see the masking tests).
    response = ops_client.post(console_url("stream", environment), {"user": USER, "kind": "launch"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    events = read_events(b"".join(response.streaming_content).decode())
    names = [name for name, _ in events]
    assert names[0] == "turn" and names[-1] == "end"
    assert "Sent</span> launch" in events[0][1]["html"]
    started = [
        data["html"]
        for name, data in events
        if name == "trace" and "trace-completion" in data["html"]
    ]
    assert len(started) == 3  # the three text traces, each as a completion
    greeting_id = re.search(r'data-message-id="([^"]+)"', started[0]).group(1)
    deltas = [data for name, data in events if name == "delta" and data["into"] == greeting_id]
    assert len(deltas) > 1
    assert text_of_fragment("".join(delta["html"] for delta in deltas)) == (
        "Welcome to Demo Pizzeria & Bookings! 🍕"
    )
    assert ("completed", {"into": greeting_id}) in events
    assert any("trace-choice" in data["html"] for name, data in events if name == "trace")

    entry = AuditEntry.objects.get()
    assert entry.request_sent["path"] == "v4/interact/stream"
    assert entry.request_sent["config"] == {"completionEvents": True}
    assert entry.outcome == AuditEntry.Outcome.SUCCEEDED
    assert entry.state_after == stored(sandbox, environment) != entry.state_before
    assert f"audit entry #{entry.pk}" in events[-1][1]["html"]


def test_streamed_turns_reuse_the_session_and_buttons_work_in_it(
    support_client, sandbox, environment
):
    events = stream_turn(support_client, environment, kind="launch")
    choice = next(
        data["html"] for name, data in events if name == "trace" and "trace-choice" in data["html"]
    )
    request = button_request(choice, "Book a table")

    stream_turn(support_client, environment, kind="button", label="Book a table", request=request)

    assert sandbox.stats(environment.project.api_key)["by_route"]["v4.session"] == 1
    assert flows(stored(sandbox, environment)) == [
        "ROOT",
        "Book a table",
    ]


def test_a_session_key_that_was_replaced_is_renewed(support_client, sandbox, environment):
    stream_turn(support_client, environment, kind="launch")
    # Another client starts a session for the same user, which ends the console's.
    httpx.post(
        f"{sandbox.url}/v4/project/{environment.project.voiceflow_project_id}/environment/main/session",
        json={"userID": USER},
        headers={"Authorization": environment.project.api_key},
    ).raise_for_status()

    events = stream_turn(support_client, environment, kind="text", text="book a table")

    assert [name for name, _ in events][-1] == "end"
    assert sandbox.stats(environment.project.api_key)["by_route"]["v4.session"] == 3
    assert flows(stored(sandbox, environment))[-1] == "Book a table"


def test_a_stream_that_cannot_start_is_a_plain_message(
    support_client, sandbox, clean_knobs, environment
):
    sandbox.knobs(
        api_key=environment.project.api_key,
        failures={"mode": "5xx", "status": 503, "routes": ["v4.stream"]},
    )

    response = support_client.post(
        console_url("stream", environment), {"user": USER, "kind": "launch"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "The turn did not go through. Voiceflow failed (503)." in text_of_fragment(
        response.content.decode()
    )
    assert AuditEntry.objects.get().outcome == AuditEntry.Outcome.FAILED


def test_a_failure_while_streaming_ends_the_turn_with_a_message(
    support_client, sandbox, clean_knobs, environment
):
    response = support_client.post(
        console_url("stream", environment), {"user": USER, "kind": "launch"}
    )
    chunks = iter(response.streaming_content)
    started = next(chunks)
    # Voiceflow fails the read that follows the stream.
    sandbox.knobs(
        api_key=environment.project.api_key,
        failures={"mode": "5xx", "status": 502, "routes": ["state.get"]},
    )
    events = read_events((started + b"".join(chunks)).decode())

    name, data = events[-1]
    assert name == "problem"
    assert "Voiceflow failed (502)." in text_of_fragment(data["html"])
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.FAILED and entry.upstream_status == 502


def test_a_runtime_without_v4_routes_is_named_and_the_legacy_turn_offered(
    support_client, sandbox, clean_knobs, environment
):
    """Older private clouds and the open-source runtime answer 404 (Express's HTML page) on
    /v4/…; the console says so and offers the same turn through the legacy interact."""
    sandbox.knobs(api_key=environment.project.api_key, v4_routes=False)

    response = support_client.post(
        console_url("stream", environment),
        {"user": USER, "kind": "intent", "intent_name": "order_pizza", "query": "pizza"},
    )

    page = response.content.decode()
    words = text_of_fragment(page)
    assert "This runtime has no v4 session API" in words
    assert "Voiceflow has no such endpoint" not in words
    offer = re.search(r'<form class="console-legacy-offer".*?</form>', page, re.S).group(0)
    assert f'hx-post="{console_url("send", environment)}"' in offer
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', offer))
    assert fields == {"kind": "intent", "intent_name": "order_pizza", "query": "pizza"}

    turn(support_client, environment, kind="launch")
    resent = turn(support_client, environment, **fields)
    assert "Sent</span> the intent order_pizza" in resent
    last = AuditEntry.objects.order_by("-pk").first()
    assert (last.request_sent["path"], last.outcome) == ("interact", AuditEntry.Outcome.SUCCEEDED)


def test_a_stream_on_an_alias_voiceflow_does_not_have_names_it(
    support_client, sandbox, environment
):
    environment.alias = "staging"
    environment.save(update_fields=["alias"])

    response = support_client.post(
        console_url("stream", environment), {"user": USER, "kind": "launch"}
    )

    words = text_of_fragment(response.content.decode())
    assert "Voiceflow cannot find this environment's version" in words
    assert "Environment not found: staging" in words


# ---- session events ----


def emit(client: Client, environment, **fields):
    return client.post(console_url("emit", environment), {"user": USER, **fields})


def emitted(sandbox, environment) -> list[dict]:
    response = sandbox.control.get(
        "/_sandbox/events", params={"project_id": environment.project.voiceflow_project_id}
    )
    response.raise_for_status()
    return response.json()["events"]


def test_an_event_emitted_to_the_consoles_live_session_runs_before_its_next_turn(
    support_client, sandbox, environment
):
    stream_turn(support_client, environment, kind="launch")

    response = emit(
        support_client, environment, event_name="track_order", payload='{"source": "kitchen"}'
    )

    assert response.status_code == 200
    words = text_of_fragment(response.content.decode())
    assert "Voiceflow accepted the event “track_order”" in words
    assert "This console holds a live v4 session for this user" in words
    (event,) = emitted(sandbox, environment)
    assert event["action"] == {
        "type": "event",
        "payload": {"source": "kitchen", "event": {"name": "track_order"}},
    }
    assert event["queued_for_user"] == USER

    events = stream_turn(support_client, environment, kind="no-reply")
    first_message = re.search(r'data-message-id="([^"]+)"', events[1][1]["html"]).group(1)
    first_text = "".join(
        data["html"] for name, data in events if name == "delta" and data["into"] == first_message
    )
    assert text_of_fragment(first_text) == "There's no open order on this conversation to track."
    assert emitted(sandbox, environment)[0]["delivered"] is True
    assert AuditEntry.objects.filter(request_sent__path="session event").count() == 1


def test_an_event_without_a_live_session_says_where_it_can_go(support_client, sandbox, environment):
    response = emit(support_client, environment, event_name="order_ready")

    words = text_of_fragment(response.content.decode())
    assert "this console has none open" in words
    assert emitted(sandbox, environment)[0]["queued_for_user"] is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"event_name": ""}, "Name the event to emit."),
        (
            {"event_name": "order_ready", "payload": "{oops}"},
            "The payload is not valid JSON. Line 1, column 2",
        ),
        ({"event_name": "order_ready", "payload": "[1, 2]"}, "The payload is not a JSON object"),
        (
            {"event_name": "order_ready", "payload": '{"event": {"name": "x"}}'},
            'The payload cannot contain "event"',
        ),
    ],
)
def test_a_bad_event_is_refused_and_nothing_is_emitted(
    support_client, sandbox, environment, fields, message
):
    response = emit(support_client, environment, **fields)

    assert response.status_code == 400
    assert message in text_of_fragment(response.content.decode())
    assert emitted(sandbox, environment) == []
    assert not AuditEntry.objects.exists()


# ---- who may use it ----


def test_viewers_see_no_console_and_are_refused_on_its_addresses(
    viewer_client, outsider_client, sandbox, environment
):
    page = viewer_client.get(inspect_url(environment, USER)).content.decode()
    assert 'id="console"' not in page and "console.js" not in page

    for client in (viewer_client, outsider_client):
        for name in ("send", "stream", "emit"):
            response = client.post(
                console_url(name, environment), {"user": USER, "kind": "launch", "event_name": "x"}
            )
            assert response.status_code == 403
        assert (
            client.get(f"{console_url('state', environment)}?user={USER}&entry=1").status_code
            == 403
        )
    assert interact_count(sandbox, environment) == 0
    assert emitted(sandbox, environment) == []


@pytest.mark.parametrize("persona", ["support", "ops", "admin_user"])
def test_support_and_above_get_the_console(client_for_user, request, persona, environment):
    client = client_for_user(request.getfixturevalue(persona))

    page = client.get(inspect_url(environment, USER))

    assert 'id="console"' in page.content.decode()
    assert "Talk to the agent" in text_of(page)
    assert send(client, environment, kind="launch")[0] == 200


def test_the_state_refresh_only_shows_turns_of_this_conversation(support_client, environment):
    page = turn(support_client, environment, kind="launch")
    entry_id = re.search(r"audit entry #(\d+)", page).group(1)
    query = urlencode({"user": "someone-else", "entry": entry_id})

    assert support_client.get(f"{console_url('state', environment)}?{query}").status_code == 404


# ---- personal data in the agent's answers ----

OPS_USER = "console-ops-customer"


@pytest.fixture
def order_number_is_personal(settings):
    """The order number counts as personal (a project may say so): the sandbox's agent says it
    back when an order is placed and when it is tracked."""
    settings.PERSONAL_DATA_VARIABLES = [*settings.PERSONAL_DATA_VARIABLES, "order_number"]


def place_order(client: Client, environment, user_id: str) -> str:
    menu = turn(client, environment, user_id, kind="launch")
    sizes = click(client, environment, menu, "Order a pizza", user_id)
    pizzas = click(client, environment, sizes, "Small", user_id)
    confirm = click(client, environment, pizzas, "Choose Margherita", user_id)
    return click(client, environment, confirm, "Confirm order", user_id)


def shown_traces(page: str) -> str:
    """Everything the page shows of the agent's traces (their words and their JSON)."""
    return html.unescape("".join(re.findall(r'<li class="trace .*?</li>', page, re.S)))


def test_support_reads_the_agents_answers_masked_where_they_hold_a_hidden_value(
    order_number_is_personal, support_client, ops_client, sandbox, environment
):
    placed = {
        role: place_order(client, environment, user_id)
        for role, client, user_id in (
            ("support", support_client, USER),
            ("ops", ops_client, OPS_USER),
        )
    }
    number = {
        role: stored(sandbox, environment, user_id)["variables"]["order_number"]
        for role, user_id in (("support", USER), ("ops", OPS_USER))
    }

    # Placed: the number is in the state after the turn only.
    assert f"Your order number is #{number['ops']}" in shown_traces(placed["ops"])
    assert str(number["support"]) not in shown_traces(placed["support"])
    assert "Text •••• (hidden)" in [
        text_of_fragment(item) for item in traces_of(placed["support"], "text")
    ]

    # Tracked: the number is in the state the turn runs on, in a text and in a trace's JSON.
    tracked = {
        role: turn(client, environment, user_id, kind="event", event_name="track_order")
        for role, client, user_id in (
            ("support", support_client, USER),
            ("ops", ops_client, OPS_USER),
        )
    }
    assert f"live status of order #{number['ops']}" in shown_traces(tracked["ops"])
    assert f'"orderNumber": {number["ops"]}' in shown_traces(tracked["ops"])
    assert str(number["support"]) not in shown_traces(tracked["support"])
    (unknown,) = traces_of(tracked["support"], "unknown")
    shown = json.loads(html.unescape(re.search(r"<pre>(.*?)</pre>", unknown, re.S).group(1)))
    assert shown["type"] == "order_tracker"
    assert shown["payload"] == {
        "orderNumber": "•••• (hidden)",
        "status": "preparing",
        "etaMinutes": 25,
    }

    # What the agent said is on record as it was said.
    entry = AuditEntry.objects.filter(user_id=USER).order_by("-pk").first()
    assert entry.state_before["variables"]["order_number"] == number["support"]


def test_support_reads_an_email_the_agent_repeats_masked(support_client, ops_client, environment):
    said = "my delivery is late, write to zed.quill@example.com"
    pages = {}
    for role, client, user_id in (("support", support_client, USER), ("ops", ops_client, OPS_USER)):
        menu = turn(client, environment, user_id, kind="launch")
        click(client, environment, menu, "Talk to support", user_id)
        pages[role] = turn(client, environment, user_id, kind="text", text=said)

    (knowledge,) = traces_of(pages["ops"], "knowledge_base")
    assert "zed.quill@example.com" in html.unescape(knowledge)
    (knowledge,) = traces_of(pages["support"], "knowledge_base")
    assert "zed.quill" not in shown_traces(pages["support"])
    assert "Knowledge base 1 source for “•••• (hidden)”" in text_of_fragment(knowledge)
    # The answer itself holds nothing personal and is shown.
    assert "Answer: Deliveries usually take 30-45 minutes." in text_of_fragment(knowledge)


def test_a_streamed_answer_is_masked_whole_for_support_and_streamed_as_is_for_ops(
    order_number_is_personal, support_client, ops_client, sandbox, environment
):
    shown = {}
    for role, client, user_id in (("support", support_client, USER), ("ops", ops_client, OPS_USER)):
        place_order(client, environment, user_id)
        number = stored(sandbox, environment, user_id)["variables"]["order_number"]
        events = stream_turn(client, environment, user_id, kind="event", event_name="track_order")
        relayed = [data["html"] for name, data in events if name in ("trace", "delta")]
        completions = re.findall(r'data-message-id="([^"]+)"', "".join(relayed))
        said = [
            text_of_fragment(
                "".join(d["html"] for n, d in events if n == "delta" and d["into"] == c)
            )
            for c in completions
        ]
        deltas = sum(1 for name, _ in events if name == "delta")
        shown[role] = (number, html.unescape("".join(relayed)), said, deltas)

    number, relayed, said, deltas = shown["ops"]
    assert f"Here's the live status of order #{number}." in said
    assert deltas > len(said)  # relayed delta by delta
    number, relayed, said, deltas = shown["support"]
    assert str(number) not in relayed
    assert "•••• (hidden)" in said
    assert deltas == len(said)  # each completion held to its end, then sent whole


# ---- streaming over a real socket: pytest-django's threaded live server and gunicorn ----


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False  # on a busy machine no worker may have booted yet to take the request


def gunicorn(log_path: Path) -> Iterator[str]:
    """The production web server as `make start` runs it (gthread workers) on the test database."""
    from django.db import connection

    env = {
        **os.environ,
        "DATABASE_URL": database_url_of(connection.settings_dict),
        "DATABASE_CONN_MAX_AGE": "0",
        # Its own folder: test processes running side by side must not collect into one.
        "STATIC_ROOT": str(log_path.parent / "staticfiles"),
    }
    # As `make start` does: the manifest storage serves what collectstatic gathered.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "gunicorn"),
                "voiceflow_admin.wsgi",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Generous: on a loaded machine the workers take many seconds to load Django.
        deadline = time.monotonic() + 120
        while not (found := re.search(r"Listening at: (http://\S+)", log_path.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        url = found.group(1)
        while not _answers(f"{url}/healthz"):  # workers booted
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(params=["live_server", "gunicorn"])
def web_server(request, transactional_db, tmp_path) -> Iterator[str]:
    if request.param == "live_server":
        yield request.getfixturevalue("live_server").url
    else:
        yield from gunicorn(tmp_path / "gunicorn.log")


@pytest.fixture
def signed_in_http(web_server, support) -> Iterator[httpx.Client]:
    """An httpx client signed in as Support on a running web server."""
    login = Client()
    login.force_login(support, backend="sessions_app.access.PermissionsBackend")
    with httpx.Client(base_url=web_server, timeout=30) as http:
        http.cookies.set("sessionid", login.cookies["sessionid"].value)
        yield http


def csrf_token(http: httpx.Client, environment) -> str:
    page = http.get(inspect_url(environment, USER)).text
    return json.loads(html.unescape(re.search(r"hx-headers='([^']+)'", page).group(1)))[
        "X-CSRFToken"
    ]


def test_the_stream_reaches_the_browser_delta_by_delta_before_the_turn_ends(
    signed_in_http, sandbox, environment
):
    token = csrf_token(signed_in_http, environment)
    chunks: list[str] = []
    with signed_in_http.stream(
        "POST",
        console_url("stream", environment),
        data={"user": USER, "kind": "launch"},
        headers={"X-CSRFToken": token},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        for chunk in response.iter_text():
            chunks.append(chunk)

    delta_chunks = [index for index, chunk in enumerate(chunks) if "event: delta" in chunk]
    end_chunk = next(index for index, chunk in enumerate(chunks) if "event: end" in chunk)
    assert len(delta_chunks) >= 3  # deltas arrived in separate reads, as they were streamed
    assert delta_chunks[0] < end_chunk
    assert [name for name, _ in read_events("".join(chunks))][-1] == "end"
    assert flows(stored(sandbox, environment))[0] == "ROOT"
    assert AuditEntry.objects.get().outcome == AuditEntry.Outcome.SUCCEEDED


def test_a_stream_the_browser_leaves_is_recorded_as_interrupted(
    signed_in_http, sandbox, environment
):
    token = csrf_token(signed_in_http, environment)
    with signed_in_http.stream(
        "POST",
        console_url("stream", environment),
        data={"user": USER, "kind": "launch"},
        headers={"X-CSRFToken": token},
    ) as response:
        next(response.iter_raw())  # the turn has started; the page goes away

    deadline = time.monotonic() + 20
    while AuditEntry.objects.get().outcome == AuditEntry.Outcome.PENDING:
        assert time.monotonic() < deadline, "the interrupted turn was never recorded"
        time.sleep(0.1)
    entry = AuditEntry.objects.get()
    assert entry.outcome == AuditEntry.Outcome.FAILED
    assert "stopped streaming before its end" in entry.error
    assert entry.state_after == stored(sandbox, environment)
