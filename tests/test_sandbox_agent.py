"""The sandbox's scripted agent behind POST /state/user/{userID}/interact (§1.A, §2, §3, §9)."""

import re
import time

import httpx
from sandbox_process import RegisteredProject, Sandbox

from sessions_app.sandbox.agent import BOOKING, PIZZA, ROOT, SUPPORT

ALL_TYPES = {"excludeTypes": []}
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


def turn(legacy_api: httpx.Client, user_id: str, action: dict | None, **body: object) -> list[dict]:
    response = legacy_api.post(f"/state/user/{user_id}/interact", json={"action": action, **body})
    assert response.status_code == 200, response.text
    return response.json()


def button(traces: list[dict], label: str) -> dict:
    """The request behind a button of a choice, cardV2 or carousel trace."""
    for trace in traces:
        payload = trace.get("payload") or {}
        buttons = list(payload.get("buttons", [])) if isinstance(payload, dict) else []
        for card in payload.get("cards", []) if isinstance(payload, dict) else []:
            buttons += card["buttons"]
        for candidate in buttons:
            if candidate["request"]["payload"]["label"] == label:
                return candidate["request"]
    raise AssertionError(f"no button {label!r} in {[t['type'] for t in traces]}")


def messages(traces: list[dict]) -> list[str]:
    return [trace["payload"]["message"] for trace in traces if trace["type"] == "text"]


def types(traces: list[dict]) -> list[str]:
    return [trace["type"] for trace in traces]


FLOW_NAMES = {flow.diagram_id: flow.name for flow in (ROOT, PIZZA, BOOKING, SUPPORT)}


def flows(stack: list[dict]) -> list[str]:
    """The stack's frames by flow: the runtime's base frame, then the flows (frames carry no
    name on the runtime)."""
    return [
        "base" if frame["storage"].get("isBase") else FLOW_NAMES.get(frame["diagramID"], "?")
        for frame in stack
    ]


def walk(
    legacy_api: httpx.Client, user_id: str, *labels: str, config: dict | None = None
) -> list[list[dict]]:
    """Launch, then click each labelled button in turn; every turn's traces."""
    turns = [turn(legacy_api, user_id, {"type": "launch"}, config=config or {})]
    for label in labels:
        turns.append(turn(legacy_api, user_id, button(turns[-1], label), config=config or {}))
    return turns


def test_launch_greets_and_offers_choices(legacy_api: httpx.Client) -> None:
    before_ms = int(time.time() * 1000)
    traces = turn(legacy_api, "greet", {"type": "launch"})
    assert types(traces) == ["text", "text", "text", "choice", "no-reply"]
    greeting = traces[0]
    assert greeting["payload"]["slate"]["id"]
    assert greeting["payload"]["slate"]["content"] == [
        {"children": [{"text": greeting["payload"]["message"]}]}
    ]
    assert greeting["time"] >= before_ms
    assert messages(traces)[-1] == "What can I help you with?"
    buttons = traces[3]["payload"]["buttons"]
    assert [b["name"] for b in buttons] == ["Order a pizza", "Book a table", "Talk to support"]
    for choice in buttons:
        assert choice["request"]["type"].startswith("path-")
        assert choice["request"]["payload"]["label"] == choice["name"]


def test_clicking_a_button_moves_the_stack_and_sets_variables(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    _, order, size = walk(legacy_api, "clicker", "Order a pizza", "Large")
    assert messages(order)[0].startswith("What size would you like")
    state = bare_sandbox.state(own_project.project_id, "clicker")
    assert state["variables"]["pizza_size"] == "large"
    assert flows(state["stack"]) == ["base", "ROOT", "Order pizza"]
    top = state["stack"][-1]
    assert OBJECT_ID.match(top["diagramID"]) and OBJECT_ID.match(top["nodeID"])
    assert top["storage"]["output"] == [{"children": [{"text": messages(size)[0]}]}]
    assert state["stack"][1]["commands"][0]["type"] == "push"
    assert "carousel" in types(size)


def test_a_whole_order_ends_the_conversation(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turns = walk(
        legacy_api, "orderer", "Order a pizza", "Medium", "Veggie Supreme", "Confirm order"
    )
    assert "cardV2" in types(turns[3])
    card = next(t for t in turns[3] if t["type"] == "cardV2")["payload"]
    assert card["title"] == "Your order" and "$13.00" in card["description"]["text"]
    assert types(turns[4])[0] == "path"
    assert "visual" in types(turns[4])
    assert types(turns[4])[-1] == "end"
    state = bare_sandbox.state(own_project.project_id, "orderer")
    assert state["stack"] == []
    variables = state["variables"]
    assert (variables["pizza_size"], variables["pizza_type"], variables["pizza_price"]) == (
        "medium",
        "veggie",
        13.0,
    )
    assert variables["order_confirmed"] is True
    assert isinstance(variables["order_number"], int)


def test_cancelling_an_order_returns_to_the_menu(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turns = walk(legacy_api, "canceller", "Order a pizza", "Small", "Margherita", "Cancel")
    assert "I've cancelled that order" in messages(turns[-1])[0]
    assert messages(turns[-1])[-1] == "What can I help you with?"
    state = bare_sandbox.state(own_project.project_id, "canceller")
    assert flows(state["stack"]) == ["base", "ROOT"]
    assert state["variables"]["order_confirmed"] is False


def test_typed_text_is_matched_loosely(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turn(legacy_api, "typist", {"type": "launch"})
    turn(legacy_api, "typist", {"type": "text", "payload": "Can I reserve some tables?"})
    turn(legacy_api, "typist", {"type": "text", "payload": "next friday please"})
    traces = turn(legacy_api, "typist", {"type": "text", "payload": "we are five"})
    assert "a table for 5 on Friday" in messages(traces)[0]
    variables = bare_sandbox.state(own_project.project_id, "typist")["variables"]
    assert (variables["booking_date"], variables["party_size"]) == ("Friday", 5)
    assert variables["booking_reference"].startswith("BK-")
    assert variables["last_utterance"] == "we are five"


def test_unknown_input_gets_a_no_match_reprompt(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turn(legacy_api, "lost", {"type": "launch"})
    for expected in (1, 2, 3):
        traces = turn(legacy_api, "lost", {"type": "text", "payload": "qwerty"})
        assert traces[0]["payload"] == {"path": "reprompt"}
        assert messages(traces)[0] == "Sorry, I didn't get that."
        assert all(
            trace["payload"]["slate"]["messageDelayMilliseconds"] == 1000
            for trace in traces
            if trace["type"] == "text"
        )
        assert messages(traces)[-1] == "What can I help you with?"
        assert (
            bare_sandbox.state(own_project.project_id, "lost")["storage"]["noMatchesCounter"]
            == expected
        )
    state = bare_sandbox.state(own_project.project_id, "lost")
    assert state["variables"]["last_event"]["payload"]["intent"] == {"name": "None"}
    turn(legacy_api, "lost", {"type": "text", "payload": "pizza"})
    assert "noMatchesCounter" not in bare_sandbox.state(own_project.project_id, "lost")["storage"]


def test_no_reply_reprompts_and_ends_after_three(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turn(legacy_api, "silent", {"type": "launch"})
    traces = turn(legacy_api, "silent", {"type": "no-reply"})
    assert messages(traces)[0] == "Are you still there?"
    assert types(traces)[-1] == "no-reply"
    assert bare_sandbox.state(own_project.project_id, "silent")["storage"]["noRepliesCounter"] == 1
    turn(legacy_api, "silent", {"type": "no-reply"})
    traces = turn(legacy_api, "silent", {"type": "no-reply"})
    assert types(traces)[-1] == "end"
    assert bare_sandbox.state(own_project.project_id, "silent")["stack"] == []


def test_intent_requests_match_by_name_and_entities(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turn(legacy_api, "nlu", {"type": "launch"})
    turn(
        legacy_api,
        "nlu",
        {
            "type": "intent",
            "payload": {
                "query": "",
                "intent": {"name": "order_pizza"},
                "entities": [],
                "confidence": 0.91,
            },
        },
    )
    intent = {
        "intent": {"name": "choose_size"},
        "query": "a big one",
        "entities": [{"name": "size", "value": "large"}],
        "confidence": 0.8,
    }
    turn(legacy_api, "nlu", {"type": "intent", "payload": intent})
    variables = bare_sandbox.state(own_project.project_id, "nlu")["variables"]
    assert variables["pizza_size"] == "large"
    assert variables["intent_confidence"] == 80
    assert variables["last_utterance"] == "a big one"


def test_an_intent_without_query_and_entities_is_not_an_intent(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    """The runtime's request schema requires both; without them no block takes the request."""
    walk(legacy_api, "schema", "Order a pizza")
    before = bare_sandbox.state(own_project.project_id, "schema")
    traces = turn(
        legacy_api, "schema", {"type": "intent", "payload": {"intent": {"name": "choose_size"}}}
    )
    after = bare_sandbox.state(own_project.project_id, "schema")
    assert traces == []
    assert after["stack"] == before["stack"]
    assert after["variables"]["pizza_size"] == 0


def test_a_text_turn_is_remembered_as_the_intent_it_matched(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    walk(legacy_api, "matched", "Order a pizza")
    response = legacy_api.post(
        "/state/user/matched/interact",
        params={"verbose": "true"},
        json={"action": {"type": "text", "payload": "a large one please"}},
    )
    understood = {
        "type": "intent",
        "payload": {
            "query": "a large one please",
            "intent": {"name": "choose_size"},
            "entities": [{"name": "size", "value": "large"}],
            "confidence": 0.875,
        },
    }
    assert response.json()["request"] == understood
    variables = bare_sandbox.state(own_project.project_id, "matched")["variables"]
    assert variables["last_event"] == understood
    assert variables["intent_confidence"] == 87.5
    assert variables["last_utterance"] == "a large one please"


def test_a_global_intent_switches_flows_from_anywhere(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    walk(legacy_api, "switcher", "Order a pizza")
    turn(
        legacy_api,
        "switcher",
        {"type": "text", "payload": "actually I have a problem with my bill"},
    )
    stack = bare_sandbox.state(own_project.project_id, "switcher")["stack"]
    assert flows(stack) == ["base", "ROOT", "Support"]


def test_events_are_handled_by_name(legacy_api: httpx.Client) -> None:
    walk(legacy_api, "evented", "Order a pizza", "Large", "Pepperoni", "Confirm order")
    traces = turn(
        legacy_api, "evented", {"type": "event", "payload": {"event": {"name": "order_ready"}}}
    )
    assert "is on its way" in messages(traces)[0]
    assert (
        turn(legacy_api, "evented", {"type": "event", "payload": {"event": {"name": "unheard_of"}}})
        == []
    )


def test_tracking_an_order_answers_with_a_custom_action_trace(legacy_api: httpx.Client) -> None:
    walk(legacy_api, "tracker", "Order a pizza", "Small", "Margherita", "Confirm order")
    traces = turn(
        legacy_api, "tracker", {"type": "event", "payload": {"event": {"name": "track_order"}}}
    )
    assert types(traces) == ["order_tracker", "text"]
    assert traces[0]["payload"]["status"] == "preparing"
    assert isinstance(traces[0]["payload"]["orderNumber"], int)
    assert messages(traces) == [
        f"Here's the live status of order #{traces[0]['payload']['orderNumber']}."
    ]
    assert types(
        turn(
            legacy_api, "no-order", {"type": "event", "payload": {"event": {"name": "track_order"}}}
        )
    ) == ["text"]


def test_the_end_request_ends_the_conversation(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turn(legacy_api, "ender", {"type": "launch"})
    assert types(turn(legacy_api, "ender", {"type": "end"})) == ["end"]
    assert bare_sandbox.state(own_project.project_id, "ender")["stack"] == []


def test_support_answers_from_the_knowledge_base_and_opens_a_ticket(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turns = walk(legacy_api, "helpme", "Talk to support", "Billing question", "No")
    knowledge = next(t for t in turns[2] if t["type"] == "knowledgeBase")["payload"]
    assert knowledge["chunks"][0]["score"] > 0
    assert knowledge["query"]["output"] in messages(turns[2])
    variables = bare_sandbox.state(own_project.project_id, "helpme")["variables"]
    assert variables["support_topic"] == "billing"
    assert variables["support_resolved"] is False
    assert variables["support_ticket"].startswith("T-")


def test_built_in_variables_are_kept_up_to_date(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    started = int(time.time())
    walk(legacy_api, "builtin", "Book a table")
    state = bare_sandbox.state(own_project.project_id, "builtin")
    variables = state["variables"]
    assert variables["sessions"] == 2  # generated as 1, then the launch
    assert variables["user_id"] == "builtin"
    assert variables["timestamp"] >= started
    assert variables["last_utterance"] == "Book a table"
    # The last output is a variable of the frame that said it, not a global one.
    assert "last_response" not in variables
    assert state["stack"][-1]["variables"]["last_response"] == (
        "Which day would you like to book for?"
    )
    assert variables["last_event"]["payload"] == {"label": "Book a table"}
    assert variables["_memory_"][-1] == {
        "role": "assistant",
        "content": "Which day would you like to book for?",
    }
    assert variables["vf_memory"].endswith("assistant: Which day would you like to book for?")


def test_an_unknown_user_gets_a_fresh_state_and_a_partial_one_is_completed(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    turn(legacy_api, "fresh", {"type": "text", "payload": "hello"})
    fresh = bare_sandbox.state(own_project.project_id, "fresh")
    assert fresh["variables"]["sessions"] == 1
    assert fresh["variables"]["pizza_size"] == 0

    legacy_api.patch("/state/user/partial/variables", json={"sessions": 4, "vip": True})
    turn(legacy_api, "partial", {"type": "launch"})
    completed = bare_sandbox.state(own_project.project_id, "partial")
    assert completed["variables"]["sessions"] == 5
    assert completed["variables"]["vip"] is True
    assert completed["stack"] and isinstance(completed["storage"], dict)


def test_launch_clears_stack_and_storage_but_keeps_variables(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    walk(legacy_api, "relaunch", "Order a pizza", "Small")
    legacy_api.patch("/state/user/relaunch/variables", json={"kept": "yes"})
    state = bare_sandbox.state(own_project.project_id, "relaunch")
    state["storage"]["stale"] = True
    bare_sandbox.set_state(own_project.project_id, "relaunch", state)

    turn(legacy_api, "relaunch", {"type": "launch"})
    after = bare_sandbox.state(own_project.project_id, "relaunch")
    assert "stale" not in after["storage"]
    assert flows(after["stack"]) == ["base", "ROOT"]
    assert after["variables"]["kept"] == "yes"
    assert after["variables"]["pizza_size"] == "small"
    assert after["variables"]["sessions"] == 3  # generated as 1, and one per launch


def test_body_state_variables_are_deep_merged_before_the_turn(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    legacy_api.patch(
        "/state/user/merged/variables", json={"profile": {"name": "Ada", "tier": "gold"}}
    )
    turn(
        legacy_api,
        "merged",
        {"type": "launch"},
        state={"variables": {"profile": {"tier": "platinum"}, "new": 1}},
    )
    variables = bare_sandbox.state(own_project.project_id, "merged")["variables"]
    assert variables["profile"] == {"name": "Ada", "tier": "platinum"}
    assert variables["new"] == 1


def test_verbose_answers_state_trace_and_request(legacy_api: httpx.Client) -> None:
    action = {"type": "launch"}
    response = legacy_api.post(
        "/state/user/verbose/interact", params={"verbose": "true"}, json={"action": action}
    )
    body = response.json()
    assert set(body) == {"state", "trace", "request"}
    assert body["request"] == action
    assert body["state"]["variables"]["user_id"] == "verbose"
    assert types(body["trace"])[-2:] == ["choice", "no-reply"]


def test_the_deprecated_request_field_works_like_action(legacy_api: httpx.Client) -> None:
    response = legacy_api.post("/state/user/old/interact", json={"request": {"type": "launch"}})
    assert "choice" in types(response.json())


def test_a_bare_string_action_crashes_the_turn(legacy_api: httpx.Client) -> None:
    response = legacy_api.post("/state/user/crash/interact", json={"action": "launch"})
    assert response.status_code == 500
    assert response.json()["code"] == 500
    assert response.json()["data"]


def test_an_unknown_action_type_answers_an_empty_trace(legacy_api: httpx.Client) -> None:
    assert turn(legacy_api, "unknown", {"type": "teleport", "payload": {}}) == []


def test_exclude_types_hides_block_debug_and_flow_by_default(legacy_api: httpx.Client) -> None:
    everything = types(turn(legacy_api, "types", {"type": "launch"}, config=ALL_TYPES))
    assert {"flow", "block"} <= set(everything)
    matched = types(
        turn(legacy_api, "types", {"type": "text", "payload": "pizza"}, config=ALL_TYPES)
    )
    assert "debug" in matched
    only_text = types(
        turn(legacy_api, "types", {"type": "launch"}, config={"excludeTypes": ["text", "choice"]})
    )
    assert "text" not in only_text and "flow" in only_text


def test_tts_adds_speak_traces(legacy_api: httpx.Client) -> None:
    traces = turn(legacy_api, "voice", {"type": "launch"}, config={"tts": True})
    speak = [t for t in traces if t["type"] == "speak"]
    assert len(speak) == len(messages(traces))
    assert speak[0]["payload"]["message"] == messages(traces)[0]
    assert speak[0]["payload"]["src"].startswith("data:audio/")
    with_ssml = turn(
        legacy_api, "voice", {"type": "launch"}, config={"tts": True, "stripSSML": False}
    )
    assert next(t for t in with_ssml if t["type"] == "speak")["payload"]["message"].startswith(
        "<voice"
    )


def test_every_trace_type_is_produced_by_some_path(legacy_api: httpx.Client) -> None:
    config = {"excludeTypes": [], "tts": True}
    seen: set[str] = set()
    for turns in (
        walk(
            legacy_api,
            "all-1",
            "Order a pizza",
            "Large",
            "Pepperoni",
            "Confirm order",
            config=config,
        ),
        walk(
            legacy_api, "all-2", "Talk to support", "Delivery issue", "Yes, thanks", config=config
        ),
    ):
        for traces in turns:
            seen |= set(types(traces))
    seen |= set(types(turn(legacy_api, "all-2", {"type": "no-reply"}, config=config)))
    assert seen >= {
        "text",
        "speak",
        "choice",
        "cardV2",
        "carousel",
        "visual",
        "debug",
        "knowledgeBase",
        "flow",
        "block",
        "path",
        "end",
        "no-reply",
    }


def test_traces_are_not_byte_stable(legacy_api: httpx.Client) -> None:
    first = turn(legacy_api, "unstable", {"type": "launch"})
    second = turn(legacy_api, "unstable", {"type": "launch"})
    assert first[0]["payload"]["message"] == second[0]["payload"]["message"]
    assert first[0]["payload"]["slate"]["id"] != second[0]["payload"]["slate"]["id"]


def test_frames_the_script_does_not_know_are_returned_from(
    legacy_api: httpx.Client, bare_sandbox: Sandbox, own_project: RegisteredProject
) -> None:
    walk(legacy_api, "nested", "Order a pizza")
    state = bare_sandbox.state(own_project.project_id, "nested")
    state["stack"].append(
        {"diagramID": "f" * 24, "nodeID": "e" * 24, "name": "Somebody's component"}
    )
    bare_sandbox.set_state(own_project.project_id, "nested", state)
    turn(legacy_api, "nested", {"type": "text", "payload": "large"})
    after = bare_sandbox.state(own_project.project_id, "nested")
    assert after["variables"]["pizza_size"] == "large"
    assert flows(after["stack"]) == ["base", "ROOT", "Order pizza"]
