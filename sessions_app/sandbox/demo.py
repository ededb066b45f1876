"""The demo project and its users, loaded at start unless `--no-demo`.

The conversations are played through the scripted agent with a fixed clock and a seeded random
generator, so every state is one the agent itself could have produced (and can continue), and the
content is the same on every start. Their times are then moved to just before the moment the demo
is loaded: the users' last activity is spread from minutes to two weeks back, so a search of the
recent transcripts finds them. Extra variables cover the value types a dashboard must show:
strings, ints, floats, booleans, null, nested objects, lists, long text and unicode.

The states have the shape Voiceflow's runtime gives them (tests/fixtures/observed.json): a base
frame under the flows of a conversation that waits, frames without a `name`, `last_response` in
the frame. A few users keep the shape the hosted docs show instead (named frames, no base frame),
so that both shapes are covered.
"""

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import agent
from .store import Project, Store

DEMO_PROJECT_ID = "6650d3c0ffee0000000d3e01"
DEMO_PROJECT_NAME = "Demo Pizzeria & Bookings"
DEMO_API_KEY = f"VF.DM.{DEMO_PROJECT_ID}.sandboxDemoKeyPizzeria2024"
DEMO_ACCESS_TOKEN = "vfp_demo_sandboxtoken"  # noqa: S105 - a public demo credential
DEMO_VERSIONS = {
    "development": "6650d3c0ffee0000000d0001",
    "production": "6650d3c0ffee0000000d0002",
}

SEED = 20241104
# The clock the conversations are played on. Order numbers and references derive from the time of
# the turn, so playing on a fixed clock keeps them the same on every start.
PLAY_CLOCK_START = 1730710800  # 2024-11-04T09:00:00Z
# The played conversations' last turns are moved to between these ages before the load time,
# oldest first, evenly spaced on a logarithmic scale: a handful in the last quarter of an hour,
# more in the last hours, the rest over the last two weeks.
NEWEST_ACTIVITY_AGE_S = 2 * 60
OLDEST_ACTIVITY_AGE_S = 14 * 24 * 3600
LONG_NOTE_MIN_LENGTH = 2048

Step = str
Script = list[Step]

ORDER_DONE: Script = [
    "launch",
    "click:Order a pizza",
    "click:Large",
    "click:Pepperoni",
    "click:Confirm order",
]
BOOKING_DONE: Script = ["launch", "click:Book a table", "click:Tomorrow", "click:4 people"]
SUPPORT_RESOLVED: Script = [
    "launch",
    "click:Talk to support",
    "click:Delivery issue",
    "click:Yes, thanks",
]


def demo_project() -> Project:
    return Project(
        project_id=DEMO_PROJECT_ID,
        api_key=DEMO_API_KEY,
        name=DEMO_PROJECT_NAME,
        versions=dict(DEMO_VERSIONS),
        access_token=DEMO_ACCESS_TOKEN,
    )


def _request(step: Step, last_traces: list[dict]) -> dict:
    kind, _, argument = step.partition(":")
    if kind == "click":
        return _button(argument, last_traces)
    if kind == "text":
        return {"type": "text", "payload": argument}
    if kind == "intent":
        return {
            "type": "intent",
            "payload": {"intent": {"name": argument}, "query": "", "entities": []},
        }
    if kind == "event":
        return {"type": "event", "payload": {"event": {"name": argument}}}
    return {"type": kind}


def _button(label: str, traces: list[dict]) -> dict:
    """The request behind the button labelled `label` in the previous turn's traces."""
    for trace in traces:
        payload = trace.get("payload") or {}
        buttons = list(payload.get("buttons", []))
        for card in payload.get("cards", []):
            buttons += card["buttons"]
        for button in buttons:
            if button["request"]["payload"]["label"] == label:
                return button["request"]
    raise LookupError(f"no button {label!r} in the previous turn")


@dataclass
class PlayedTurn:
    at: float
    request: dict
    traces: list[dict]


@dataclass
class Conversation:
    """A demo user's state and the turns that produced it (none for a state written directly)."""

    user_id: str
    state: dict
    turns: list[PlayedTurn] = field(default_factory=list)

    def move_to(self, last_active_at: int) -> None:
        """Shift every time in the conversation so that its last turn happens at
        `last_active_at`: the turns, their traces' `time` and the state's `timestamp`."""
        shift = last_active_at - self.turns[-1].at
        for turn in self.turns:
            turn.at += shift
            for trace in turn.traces:
                trace["time"] += shift * 1000
        self.state["variables"]["timestamp"] += shift


def converse(
    user_id: str,
    script: Script,
    started_at: int,
    rng: random.Random,
    *,
    locale: str | None = None,
) -> Conversation:
    """`script` played through the agent from `started_at`, one turn every few seconds."""
    state = agent.prepare_state(None, user_id=user_id)
    now = started_at
    turns: list[PlayedTurn] = []
    traces: list[dict] = []
    for step in script:
        request = _request(step, traces)
        traces = agent.run_turn(
            state,
            request,
            user_id=user_id,
            now=now,
            locale=locale,
            version_id=DEMO_VERSIONS["production"],
        )
        turns.append(PlayedTurn(now, request, agent.visible_traces(traces, None)))
        now += rng.randint(4, 45)
    return Conversation(user_id, state, turns)


def activity_ages(count: int) -> list[int]:
    """`count` ages in seconds, from the oldest to the newest, evenly spaced on a log scale."""
    ratio = NEWEST_ACTIVITY_AGE_S / OLDEST_ACTIVITY_AGE_S
    return [round(OLDEST_ACTIVITY_AGE_S * ratio ** (i / (count - 1))) for i in range(count)]


def _long_note(rng: random.Random) -> str:
    sentences = [
        "Customer called about an order that arrived 40 minutes late and lukewarm.",
        "Driver reported the building's intercom was broken and had to wait outside.",
        "Offered a 20% voucher for the next order; the customer accepted politely.",
        "Customer mentioned a nut allergy, so the kitchen was reminded to flag the ticket.",
        "Follow-up email sent with the voucher code and an apology from the store manager.",
        "Second contact: the voucher did not apply at checkout because it had expired early.",
        "Re-issued the voucher with a 30-day expiry and confirmed it works in the app.",
    ]
    note = ""
    while len(note) < LONG_NOTE_MIN_LENGTH:
        note += " ".join(rng.sample(sentences, len(sentences))) + "\n\n"
    return note.strip()


def _longest_user_id(rng: random.Random) -> str:
    """A userID of exactly the documented maximum length (§1.A)."""
    prefix = "tenant-acme:region-eu-west-1:channel-webchat:visitor-"
    return prefix + "".join(rng.choice("0123456789abcdef") for _ in range(128 - len(prefix)))


def _deep_stack(state: dict) -> None:
    """Nest four sub-flows the script does not know above the support flow, as a project with
    components calling components would."""
    for depth, name in enumerate(
        ("Escalation", "Verify identity", "Look up order", "Refund policy")
    ):
        flow = agent.Flow(name.lower().replace(" ", "_"), name)
        state["stack"].append(
            {
                "nodeID": flow.node_id(f"step{depth}"),
                "diagramID": flow.diagram_id,
                "name": name,
                "storage": {"output": [{"children": [{"text": f"{name}: one moment…"}]}]},
                "commands": [],
                "variables": {"attempts": depth, "verified": depth > 1},
            }
        )


FLOW_NAMES = {flow.diagram_id: flow.name for flow in (agent.ROOT, *agent.FLOWS_BY_KEY.values())}
# These users' states have the shape the hosted docs show: named frames and no base frame.
HOSTED_SHAPE_USERS = ("j.smith+pizza@example.org", "deep-stack-user", "zoë.ångström@example.se")


def _hosted_shape(state: dict) -> None:
    state["stack"] = [
        {**frame, "name": frame.get("name") or FLOW_NAMES.get(frame["diagramID"], "Flow")}
        for frame in state["stack"]
        if not (frame.get("storage") or {}).get("isBase")
    ]


def _conversations(rng: random.Random) -> list[Conversation]:
    clock = [PLAY_CLOCK_START]

    def at() -> int:
        clock[0] += rng.randint(600, 5400)
        return clock[0]

    def play(user_id: str, script: Script, **extra: Any) -> Conversation:
        locale = extra.pop("locale", None)
        conversation = converse(user_id, script, at(), rng, locale=locale)
        conversation.state["variables"].update(extra)
        return conversation

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    conversations = [
        play(
            "maria.rossi@example.com",
            ORDER_DONE,
            customer_name="Maria Rossi",
            delivery_address={
                "street": "Via Roma 12",
                "city": "Milano",
                "zip": "20121",
                "geo": {"lat": 45.4642, "lng": 9.19},
            },
            allergies=["gluten", "nuts"],
        ),
        play("j.smith+pizza@example.org", ["launch", "click:Order a pizza", "click:Medium"]),
        play(
            "+1-555-0142",
            ["launch", "text:I'm hungry", "text:large please", "text:veggie"],
            newsletter_opt_in=False,
        ),
        play("+44 20 7946 0958", BOOKING_DONE, customer_name="Oliver Bennett", loyalty_points=1280),
        play("0049-30-1234567", ["launch", "click:Book a table", "text:saturday"], locale="de-DE"),
        play(uid(), SUPPORT_RESOLVED, avg_rating=4.5),
        play(uid(), ["launch", "click:Talk to support", "click:Billing question"]),
        play(uid(), ["launch", "click:Talk to support", "text:my pizza was cold", "click:No"]),
        play(
            "user/with/slashes",
            ["launch", "click:Order a pizza"],
            referrer="https://example.com/a/b?c=d#e",
        ),
        play(
            "名前-ユーザー",
            BOOKING_DONE,
            locale="ja-JP",
            customer_name="山田 太郎",
            notes="窓際の席を希望します。",
        ),
        play("has space", ["launch"], promo_code=None),
        Conversation(
            "percent%20literal",
            {"variables": {"imported_from": "crm", "crm_id": 88213, "vip": True}},
        ),
        play(
            "question?mark",
            ["launch", "click:Order a pizza", "click:Small", "click:Margherita", "click:Cancel"],
        ),
        play("hash#tag", ["launch", "no-reply", "no-reply"]),
        play(
            "emoji-🍕-fan",
            ORDER_DONE,
            favourite_topping="🍍 pineapple",
            mood="😋",
            rating_comment="Best pizza in town!!! 🔥🔥🔥",
        ),
        play(
            "stuck-in-loop@example.net",
            ["launch", "click:Order a pizza"]
            + [f"text:{t}" for t in ("uhh", "what?", "whatever", "the usual", "asdf", "🤷", "hmm")],
        ),
        play(
            "deep-stack-user",
            ["launch", "click:Talk to support", "click:Billing question"],
            escalation_level=3,
        ),
        play("whatsapp:+15550100", ["launch", "click:Book a table"], channel="whatsapp"),
        play("sess_9f8e7d6c5b4a", ["launch", "intent:order_pizza"]),
        play(
            "zoë.ångström@example.se",
            ["launch", "click:Talk to support"],
            customer_name="Zoë Ångström",
        ),
        play(
            "long-notes-customer",
            ["launch", "click:Talk to support", "click:Something else", "click:No"],
            support_notes=_long_note(rng),
        ),
        play(
            "vip-customer-001",
            [*ORDER_DONE, "event:order_ready"],
            vip=True,
            loyalty_points=15420,
            lifetime_spend=1234.56,
            order_history=[
                {"order_number": 4411, "items": ["Pepperoni", "Garlic bread"], "total": 21.5},
                {"order_number": 5120, "items": ["Margherita"], "total": 9.5, "refunded": True},
            ],
        ),
        Conversation(
            uid(), {"variables": {"pizza_size": "large", "sessions": 4, "last_seen": "2024-10-30"}}
        ),
        play("null-node@example.com", ["launch", "click:Order a pizza", "click:Large"]),
        play(_longest_user_id(rng), ["launch"]),
    ]
    by_id = {conversation.user_id: conversation.state for conversation in conversations}
    # Besides the base frames: a flow frame the runtime left unpositioned, `nodeID: null`,
    # which PUT refuses (§2, §9).
    by_id["null-node@example.com"]["stack"][1]["nodeID"] = None
    _deep_stack(by_id["deep-stack-user"])
    for user_id in HOSTED_SHAPE_USERS:
        _hosted_shape(by_id[user_id])

    scripts = [
        ORDER_DONE,
        BOOKING_DONE,
        SUPPORT_RESOLVED,
        ["launch", "click:Order a pizza", "click:Small", "click:Margherita"],
        ["launch", "click:Book a table", "text:2024-12-24", "text:we are six"],
        ["launch", "text:do you have tables tonight", "click:Tonight"],
        [
            "launch",
            "click:Order a pizza",
            "click:Large",
            "click:Veggie Supreme",
            "click:Confirm order",
        ],
        ["launch", "text:hello?"],
    ]
    for number in range(1, 12):
        extra: dict[str, Any] = {"source": rng.choice(["web", "app", "kiosk"])}
        if rng.random() < 0.5:
            extra["coupon_balance"] = round(rng.uniform(0, 25), 2)
        conversations.append(play(f"guest-{number:04d}", rng.choice(scripts), **extra))
    return conversations


def load_demo(store: Store, now: float | None = None) -> None:
    """Replace the store's content with the demo project, its users and their transcripts, the
    users last active between minutes and two weeks before `now` (by default, this moment)."""
    store.replace_all([demo_project()], {})
    conversations = _conversations(random.Random(SEED))
    played = [conversation for conversation in conversations if conversation.turns]
    load_time = int(time.time() if now is None else now)
    for conversation, age in zip(played, activity_ages(len(played)), strict=True):
        conversation.move_to(load_time - age)
    for conversation in conversations:
        for turn in conversation.turns:
            store.record_turn(
                DEMO_PROJECT_ID,
                conversation.user_id,
                version_id=DEMO_VERSIONS["production"],
                requests=[turn.request],
                traces=turn.traces,
                now=turn.at,
            )
        store.put(DEMO_PROJECT_ID, conversation.user_id, conversation.state)
