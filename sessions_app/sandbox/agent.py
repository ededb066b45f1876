"""The scripted agents sandbox projects run: by default a pizzeria that takes orders, books
tables and answers support questions; `greeter`, the small project the runtime's answers in
`tests/fixtures/observed.json` were recorded with, for the replay of those answers.

It behaves like a small Voiceflow project on the runtime: `launch` clears stack and storage and
keeps variables, buttons carry the request to send back, typed text is matched loosely, unknown
input gets a no-match reprompt, and the state keeps the runtime's built-in variables (§2, §9).
It is deterministic except where the runtime is not (`time`, `slate.id`, §9), and its flows
produce every trace type the dashboard's console shows (§3.3).
"""

import copy
import hashlib
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# §1.A: the documented default of config.excludeTypes.
DEFAULT_EXCLUDED_TYPES = ("block", "debug", "flow")
MEMORY_ENTRIES = 20
MESSAGE_DELAY_MS = 1000
SLATE_ID_ALPHABET = string.ascii_lowercase + string.digits
NO_MATCH_HINT_AFTER = 3
NO_REPLIES_BEFORE_END = 3
IMAGES = "https://images.example.com/demo-pizzeria"
FAKE_AUDIO = "data:audio/mpeg;base64,SUQzBAAAAAAAI1RTU0UAAAAPAAADTGF2ZjU4Ljc2LjEwMAAAAAAAAAAAAAAA"

Trace = dict[str, Any]
State = dict[str, Any]


def digest(text: str) -> str:
    """A stable hex digest: identifiers and reference numbers, not security."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def object_id(name: str) -> str:
    """A stable 24-hex ID, shaped like the runtime's ObjectIDs."""
    return digest(name)[:24]


@dataclass(frozen=True)
class Flow:
    key: str
    name: str

    @property
    def diagram_id(self) -> str:
        return object_id(f"diagram:{self.key}")

    def node_id(self, node: str) -> str:
        return object_id(f"node:{self.key}:{node}")


ROOT = Flow("root", "ROOT")
PIZZA = Flow("pizza", "Order pizza")
BOOKING = Flow("booking", "Book a table")
SUPPORT = Flow("support", "Support")


@dataclass(frozen=True)
class Option:
    label: str
    value: Any
    keywords: tuple[str, ...] = ()
    intent: str | None = None
    description: str = ""
    image: str = ""


@dataclass(frozen=True)
class Question:
    """A block that waits for the user: a prompt, then buttons (choice, carousel or card)."""

    flow: Flow
    name: str
    prompt: Callable[[dict], str]
    options: tuple[Option, ...]
    display: str = "choice"
    # An intent that answers the question through one of its entities (`slot`).
    intent: str | None = None
    slot: str | None = None
    parse: Callable[[str], Any] | None = None
    no_reply_timeout: int | None = None

    @property
    def node_id(self) -> str:
        return self.flow.node_id(self.name)

    def button_request(self, option: Option) -> dict:
        path_id = digest(f"{self.node_id}:{option.label}")[:25]
        return {"type": f"path-{path_id}", "payload": {"label": option.label}}


@dataclass(frozen=True)
class Match:
    value: Any
    index: int | None
    intent: str
    confidence: float


# ---- the script's content ----

DECLARED_VARIABLES = (
    "pizza_size",
    "pizza_type",
    "pizza_price",
    "order_number",
    "order_confirmed",
    "order_status",
    "booking_date",
    "party_size",
    "booking_reference",
    "booking_confirmed",
    "support_topic",
    "support_resolved",
    "support_ticket",
)
# What the runtime itself keeps in a state's variables (§9, observed.json).
BUILT_IN_VARIABLES = (
    "sessions",
    "user_id",
    "timestamp",
    "locale",
    "intent_confidence",
    "last_utterance",
    "last_event",
    "_memory_",
    "vf_memory",
)
BASE_PRICES = {"margherita": 9.5, "pepperoni": 11.0, "veggie": 10.5}
SIZE_SURCHARGES = {"small": 0.0, "medium": 2.5, "large": 5.0}
PIZZA_NAMES = {"margherita": "Margherita", "pepperoni": "Pepperoni", "veggie": "Veggie Supreme"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NUMBER_WORDS = {
    word: number
    for number, word in enumerate(
        (
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
        ),
        start=1,
    )
}
YES_WORDS = ("yes", "yeah", "yep", "sure", "ok", "okay", "confirm", "correct", "please", "did")
NO_WORDS = ("no", "nope", "cancel", "stop", "nah", "wrong", "didn")


@dataclass(frozen=True)
class Article:
    document_id: str
    document_name: str
    score: float
    answer: str


KNOWLEDGE_BASE = {
    "delivery": Article(
        object_id("doc:delivery"),
        "delivery-faq.pdf",
        0.87,
        "Deliveries usually take 30-45 minutes. If your order is more than 15 minutes late, "
        "we refund the delivery fee automatically.",
    ),
    "billing": Article(
        object_id("doc:billing"),
        "billing-and-refunds.docx",
        0.81,
        "Refunds go back to the card you paid with within 3-5 business days. "
        "Receipts are emailed right after checkout.",
    ),
    "other": Article(
        object_id("doc:general"),
        "https://demo-pizzeria.example.com/help",
        0.64,
        "Our help centre covers opening hours, allergens and gift cards.",
    ),
}


def _parse_date(text: str) -> str | None:
    iso = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", text)
    if iso:
        return iso.group(1)
    words = _words(text)
    return next((day.capitalize() for day in WEEKDAYS if day in words), None)


def _parse_party(text: str) -> int | None:
    digits = re.search(r"\b(\d{1,2})\b", text)
    if digits and 1 <= int(digits.group(1)) <= 20:
        return int(digits.group(1))
    words = _words(text)
    return next((number for word, number in NUMBER_WORDS.items() if word in words), None)


def _date_phrase(date: Any) -> str:
    return {"today": "tonight", "tomorrow": "tomorrow"}.get(date, f"on {date}")


def _yes(label: str) -> Option:
    return Option(label, True, YES_WORDS, intent="yes")


def _no(label: str) -> Option:
    return Option(label, False, NO_WORDS, intent="no")


MENU = Question(
    ROOT,
    "menu",
    lambda v: "What can I help you with?",
    (
        Option(
            "Order a pizza", "pizza", ("pizza", "order", "hungry", "food", "eat"), "order_pizza"
        ),
        Option(
            "Book a table",
            "booking",
            ("book", "table", "reservation", "reserve", "booking", "seat"),
            "book_table",
        ),
        Option(
            "Talk to support",
            "support",
            ("support", "help", "problem", "issue", "complaint", "agent", "human", "refund"),
            "get_support",
        ),
    ),
    no_reply_timeout=30,
)
PIZZA_SIZE = Question(
    PIZZA,
    "size",
    lambda v: "What size would you like: small (10″), medium (12″) or large (14″)?",
    (
        Option("Small", "small", ("small", "little", "personal", "10")),
        Option("Medium", "medium", ("medium", "regular", "normal", "12")),
        Option("Large", "large", ("large", "big", "family", "huge", "14")),
    ),
    intent="choose_size",
    slot="size",
)
PIZZA_TYPE = Question(
    PIZZA,
    "type",
    lambda v: f"Great, a {v.get('pizza_size')} it is. Which pizza would you like?",
    (
        Option(
            "Margherita",
            "margherita",
            ("margherita", "margarita", "cheese", "classic"),
            description="Tomato, fior di latte, basil. From $9.50",
            image=f"{IMAGES}/margherita.jpg",
        ),
        Option(
            "Pepperoni",
            "pepperoni",
            ("pepperoni", "salami", "spicy"),
            description="Tomato, mozzarella, spicy pepperoni. From $11.00",
            image=f"{IMAGES}/pepperoni.jpg",
        ),
        Option(
            "Veggie Supreme",
            "veggie",
            ("veggie", "vegetarian", "vegan", "vegetable", "supreme"),
            description="Peppers, mushrooms, olives, red onion. From $10.50",
            image=f"{IMAGES}/veggie.jpg",
        ),
    ),
    display="carousel",
    intent="choose_pizza",
    slot="pizza",
)
PIZZA_CONFIRM = Question(
    PIZZA,
    "confirm",
    lambda v: "Please check your order.",
    (_yes("Confirm order"), _no("Cancel")),
    display="card",
)
BOOKING_DATE = Question(
    BOOKING,
    "date",
    lambda v: "Which day would you like to book for?",
    (
        Option("Tonight", "today", ("today", "tonight")),
        Option("Tomorrow", "tomorrow", ("tomorrow",)),
        Option("This weekend", "Saturday", ("weekend",)),
    ),
    intent="choose_date",
    slot="date",
    parse=_parse_date,
)
BOOKING_PARTY = Question(
    BOOKING,
    "party",
    lambda v: "How many people will be joining?",
    (Option("2 people", 2), Option("4 people", 4), Option("6 people", 6)),
    intent="party_size",
    slot="number",
    parse=_parse_party,
)
SUPPORT_TOPIC = Question(
    SUPPORT,
    "topic",
    lambda v: "What do you need help with?",
    (
        Option(
            "Delivery issue",
            "delivery",
            ("delivery", "late", "driver", "arrived", "cold", "missing", "where"),
        ),
        Option(
            "Billing question",
            "billing",
            ("bill", "billing", "charge", "charged", "refund", "payment", "invoice", "pay"),
        ),
        Option("Something else", "other", ("else", "other", "something")),
    ),
    intent="choose_topic",
    slot="topic",
)
SUPPORT_HELPED = Question(
    SUPPORT,
    "helped",
    lambda v: "Did that answer your question?",
    (_yes("Yes, thanks"), _no("No")),
)
QUESTIONS = {
    (q.flow.diagram_id, q.node_id): q
    for q in (
        MENU,
        PIZZA_SIZE,
        PIZZA_TYPE,
        PIZZA_CONFIRM,
        BOOKING_DATE,
        BOOKING_PARTY,
        SUPPORT_TOPIC,
        SUPPORT_HELPED,
    )
}
FLOWS_BY_KEY = {"pizza": PIZZA, "booking": BOOKING, "support": SUPPORT}
FLOWS = {
    "pizza": (PIZZA, PIZZA_SIZE),
    "booking": (BOOKING, BOOKING_DATE),
    "support": (SUPPORT, SUPPORT_TOPIC),
}
# The root flow's global commands: these intents open their flow from anywhere.
ROOT_COMMANDS = [
    {
        "type": "push",
        "event": {"type": "intent", "intent": {"name": option.intent}},
        "diagramID": FLOWS[option.value][0].diagram_id,
    }
    for option in MENU.options
]


def _words(text: str) -> set[str]:
    """The words of `text`, lower-cased, plus their singular: "tables" also matches "table"."""
    words = set(re.findall(r"\w+", text.lower()))
    return words | {word[:-1] for word in words if len(word) > 3 and word.endswith("s")}


def _slate(message: str) -> list[dict]:
    return [{"children": [{"text": message}]}]


def _reference(turn: "Turn", kind: str) -> int:
    seed = (
        f"{kind}:{turn.user_id}:{turn.variables.get('sessions')}:{turn.variables.get('timestamp')}"
    )
    return 1000 + int(digest(seed), 16) % 9000


# ---- one turn ----


class Turn:
    """The state being advanced by one request, and the traces it produces."""

    def __init__(
        self, state: State, *, user_id: str | None, now: float, config: dict, version_id: str
    ) -> None:
        self.state = state
        self.version_id = version_id
        self.stack: list = state["stack"]
        self.storage: dict = state["storage"]
        self.variables: dict = state["variables"]
        self.user_id = user_id
        self.time_ms = int(now * 1000)
        self.config = config
        self.traces: list[Trace] = []
        self.responses: list[str] = []
        # The request as the runtime understood it, and the NLU's confidence (percent).
        self.understood: Any = None
        self.confidence: float | None = None
        # What the user said this turn (the runtime stores it as `last_utterance` at the end).
        self.utterance: str | None = None

    def emit(self, trace_type: str, payload: Any) -> None:
        self.traces.append({"time": self.time_ms, "type": trace_type, "payload": payload})

    def say(self, message: str, *, voiced: bool = True) -> None:
        slate = {
            "id": "".join(secrets.choice(SLATE_ID_ALPHABET) for _ in range(7)),
            "content": _slate(message),
            "messageDelayMilliseconds": MESSAGE_DELAY_MS,
        }
        self.emit("text", {"slate": slate, "message": message, "delay": MESSAGE_DELAY_MS})
        if voiced and self.config.get("tts") is True:
            spoken = message
            if self.config.get("stripSSML") is False:
                spoken = f'<voice name="Joanna">{message}</voice>'
            self.emit("speak", {"message": spoken, "type": "message", "src": FAKE_AUDIO})
        self.responded(message)

    def responded(self, message: str) -> None:
        """The runtime keeps the last output in the current frame's `last_response` (§9)."""
        if self.stack and isinstance(self.stack[-1], dict):
            frame_variables = self.stack[-1].setdefault("variables", {})
            if isinstance(frame_variables, dict):
                frame_variables["last_response"] = message
        self.responses.append(message)

    def enter_base(self) -> None:
        """The runtime's base frame, under every flow it runs (§9, observed.json)."""
        self.stack.append(base_frame(self.version_id))

    def enter(self, flow: Flow) -> None:
        self.stack.append(
            {
                "nodeID": flow.node_id("start"),
                "diagramID": flow.diagram_id,
                "storage": {},
                "commands": copy.deepcopy(ROOT_COMMANDS) if flow is ROOT else [],
                "variables": {"upsell_offered": False} if flow is PIZZA else {},
            }
        )
        self.emit("flow", {"diagramID": flow.diagram_id, "name": flow.name})

    def ask(self, question: Question) -> None:
        frame = self.stack[-1]
        frame["nodeID"] = question.node_id
        self.emit("block", {"blockID": question.node_id})
        prompt = question.prompt(self.variables)
        frame["storage"]["output"] = _slate(prompt)
        self.say(prompt)
        self.show(question)
        if question.no_reply_timeout:
            self.emit("no-reply", {"timeout": question.no_reply_timeout})

    def show(self, question: Question) -> None:
        buttons = [
            {"name": option.label, "request": question.button_request(option)}
            for option in question.options
        ]
        if question.display == "carousel":
            cards = [
                {
                    "id": object_id(f"card:{option.value}"),
                    "title": option.label,
                    "description": {"text": option.description},
                    "imageUrl": option.image,
                    "buttons": [{"name": f"Choose {option.label}", "request": button["request"]}],
                }
                for option, button in zip(question.options, buttons, strict=True)
            ]
            self.emit("carousel", {"layout": "Carousel", "cards": cards})
        elif question.display == "card":
            kind = self.variables.get("pizza_type")
            summary = (
                f"{str(self.variables.get('pizza_size')).capitalize()} "
                f"{PIZZA_NAMES.get(kind, kind)}: ${self.variables.get('pizza_price', 0):.2f}"
            )
            self.emit(
                "cardV2",
                {
                    "id": object_id(f"card:{question.node_id}"),
                    "title": "Your order",
                    "description": {"text": summary, "slate": _slate(summary)},
                    "imageUrl": f"{IMAGES}/{kind}.jpg",
                    "buttons": buttons,
                },
            )
        else:
            self.emit("choice", {"buttons": buttons})

    def leave(self) -> None:
        self.stack.pop()

    def end(self) -> None:
        self.emit("end", None)
        self.stack.clear()

    def debug(self, message: str) -> None:
        self.emit("debug", {"type": "intent", "message": message})

    def current_question(self) -> Question | None:
        """The block the conversation waits in; frames the script does not know are returned
        from (popped), like flows that finished."""
        while self.stack:
            frame = self.stack[-1]
            if isinstance(frame, dict):
                question = QUESTIONS.get((frame.get("diagramID"), frame.get("nodeID")))
                if question is not None:
                    return question
            self.stack.pop()
        return None


# ---- steps ----


def _start(turn: Turn) -> None:
    turn.stack.clear()
    turn.enter_base()
    turn.enter(ROOT)
    turn.emit("block", {"blockID": ROOT.node_id("start")})
    turn.say("Welcome to Demo Pizzeria & Bookings! 🍕")
    turn.say("I can take a pizza order, book you a table, or help with a problem.")
    turn.ask(MENU)


def _open_flow(turn: Turn, key: str) -> None:
    flow, first_question = FLOWS[key]
    # A new topic replaces whatever flow was open.
    root = next(
        (
            index
            for index, frame in enumerate(turn.stack)
            if isinstance(frame, dict) and frame.get("diagramID") == ROOT.diagram_id
        ),
        None,
    )
    if root is None:
        turn.stack.clear()
        turn.enter_base()
        turn.enter(ROOT)
        root = len(turn.stack) - 1
    del turn.stack[root + 1 :]
    turn.stack[root]["nodeID"] = ROOT.node_id(f"flow_{key}")
    turn.enter(flow)
    turn.ask(first_question)


def _finish(turn: Turn, *, done: bool) -> None:
    turn.leave()
    if done:
        turn.say("Thanks for choosing Demo Pizzeria. Goodbye! 👋")
        turn.end()
    else:
        turn.ask(MENU)


def _answer_size(turn: Turn, size: str) -> None:
    turn.variables["pizza_size"] = size
    turn.ask(PIZZA_TYPE)


def _answer_type(turn: Turn, kind: str) -> None:
    size = turn.variables.get("pizza_size")
    turn.variables["pizza_type"] = kind
    turn.variables["pizza_price"] = BASE_PRICES[kind] + SIZE_SURCHARGES.get(size, 0.0)
    turn.ask(PIZZA_CONFIRM)


def _answer_confirm(turn: Turn, confirmed: bool) -> None:
    turn.variables["order_confirmed"] = confirmed
    if not confirmed:
        turn.say("No problem, I've cancelled that order.")
        _finish(turn, done=False)
        return
    number = _reference(turn, "order")
    turn.variables["order_number"] = number
    turn.variables["order_status"] = "preparing"
    turn.emit(
        "visual",
        {
            "visualType": "image",
            "image": f"{IMAGES}/{turn.variables.get('pizza_type')}.jpg",
            "dimensions": {"width": 800, "height": 600},
            "canvasVisibility": "full",
        },
    )
    turn.say(
        f"Order placed! Your order number is #{number}; it will be with you in about 30 minutes."
    )
    _finish(turn, done=True)


def _answer_date(turn: Turn, date: str) -> None:
    turn.variables["booking_date"] = date
    turn.ask(BOOKING_PARTY)


def _answer_party(turn: Turn, party_size: int) -> None:
    reference = f"BK-{_reference(turn, 'booking')}"
    turn.variables.update(
        party_size=party_size, booking_reference=reference, booking_confirmed=True
    )
    when = _date_phrase(turn.variables.get("booking_date"))
    turn.say(f"You're booked: a table for {party_size} {when}. Your reference is {reference}.")
    _finish(turn, done=True)


def _answer_topic(turn: Turn, topic: str) -> None:
    turn.variables["support_topic"] = topic
    article = KNOWLEDGE_BASE[topic]
    question = turn.utterance or topic
    turn.emit(
        "knowledgeBase",
        {
            "chunks": [
                {
                    "score": article.score,
                    "documentID": article.document_id,
                    "documentData": {"type": "document", "name": article.document_name},
                }
            ],
            "query": {
                "messages": [{"role": "user", "content": str(question)}],
                "output": article.answer,
            },
        },
    )
    turn.say(article.answer)
    turn.ask(SUPPORT_HELPED)


def _answer_helped(turn: Turn, helped: bool) -> None:
    turn.variables["support_resolved"] = helped
    if helped:
        turn.say("Glad I could help! 😊")
    else:
        ticket = f"T-{_reference(turn, 'ticket')}"
        turn.variables["support_ticket"] = ticket
        turn.say(
            f"Sorry about that. I've opened ticket {ticket}; "
            "a colleague will email you within one business day."
        )
    _finish(turn, done=True)


ANSWERS: dict[str, Callable[[Turn, Any], None]] = {
    MENU.node_id: lambda turn, key: _open_flow(turn, key),
    PIZZA_SIZE.node_id: _answer_size,
    PIZZA_TYPE.node_id: _answer_type,
    PIZZA_CONFIRM.node_id: _answer_confirm,
    BOOKING_DATE.node_id: _answer_date,
    BOOKING_PARTY.node_id: _answer_party,
    SUPPORT_TOPIC.node_id: _answer_topic,
    SUPPORT_HELPED.node_id: _answer_helped,
}


# ---- understanding the request ----


def _match_text(question: Question, text: str) -> Match | None:
    lowered = text.strip().lower()
    for index, option in enumerate(question.options):
        if lowered == option.label.lower():
            return Match(
                option.value, index, option.intent or question.intent or question.name, 100.0
            )
    words = _words(text)
    hits = [sum(keyword in words for keyword in option.keywords) for option in question.options]
    if hits and max(hits) > 0:
        index = hits.index(max(hits))
        option = question.options[index]
        return Match(option.value, index, option.intent or question.intent or question.name, 87.5)
    if question.parse is not None:
        value = question.parse(text)
        if value is not None:
            return Match(value, None, question.intent or question.name, 92.0)
    return None


def _match(question: Question, request: dict) -> Match | None:
    kind = request["type"]
    payload = request.get("payload")
    if kind.startswith("path-"):
        for index, option in enumerate(question.options):
            if question.button_request(option)["type"] == kind:
                return Match(option.value, index, option.intent or question.name, 100.0)
        label = payload.get("label") if isinstance(payload, dict) else None
        return _match_text(question, label) if isinstance(label, str) else None
    if kind == "intent":
        return _match_intent(question, payload if isinstance(payload, dict) else {})
    return _match_text(question, _utterance(request) or "")


def _match_intent(question: Question, payload: dict) -> Match | None:
    intent = payload.get("intent")
    name = intent.get("name") if isinstance(intent, dict) else None
    confidence = payload.get("confidence")
    confidence = float(confidence) * 100 if isinstance(confidence, int | float) else 100.0
    for index, option in enumerate(question.options):
        if option.intent and option.intent == name:
            return Match(option.value, index, name, confidence)
    if name and name == question.intent:
        entities = payload.get("entities")
        for entity in entities if isinstance(entities, list) else []:
            if isinstance(entity, dict) and entity.get("name") == question.slot:
                found = _match_text(question, str(entity.get("value", "")))
                if found is not None:
                    return Match(found.value, found.index, name, confidence)
    return None


def _global_command(request: dict) -> tuple[str, str] | None:
    """The flow a request opens through the root's global commands, with the intent's name."""
    kind = request["type"]
    if kind == "intent":
        payload = request.get("payload")
        intent = payload.get("intent") if isinstance(payload, dict) else None
        name = intent.get("name") if isinstance(intent, dict) else None
        option = next((o for o in MENU.options if o.intent == name), None)
    elif kind.startswith("path-"):
        option = None
    else:
        found = _match_text(MENU, _utterance(request) or "")
        option = MENU.options[found.index] if found and found.index is not None else None
    return (option.value, option.intent) if option else None


def _utterance(request: dict) -> str | None:
    payload = request.get("payload")
    kind = request["type"]
    if kind == "text":
        return payload if isinstance(payload, str) else None
    if kind == "message" and isinstance(payload, dict):
        return payload.get("message") if isinstance(payload.get("message"), str) else None
    if isinstance(payload, dict):
        if kind.startswith("path-") and isinstance(payload.get("label"), str):
            return payload["label"]
        if kind == "intent":
            intent = payload.get("intent")
            query = payload.get("query")
            if isinstance(query, str) and query:
                return query
            return intent.get("name") if isinstance(intent, dict) else None
    return None


def _count_no_match(turn: Turn) -> int:
    count = turn.storage.get("noMatchesCounter")
    turn.storage["noMatchesCounter"] = (count if isinstance(count, int) else 0) + 1
    turn.debug("no match found for input, reprompting")
    turn.emit("path", {"path": "reprompt"})
    return turn.storage["noMatchesCounter"]


def _no_match(turn: Turn, question: Question) -> None:
    _count_no_match(turn)
    turn.say("Sorry, I didn't get that.")
    if turn.storage["noMatchesCounter"] >= NO_MATCH_HINT_AFTER:
        turn.say("Tip: you can tap one of the buttons below.")
    turn.ask(question)


def _no_reply(turn: Turn, question: Question) -> None:
    count = turn.storage.get("noRepliesCounter")
    turn.storage["noRepliesCounter"] = (count if isinstance(count, int) else 0) + 1
    if turn.storage["noRepliesCounter"] >= NO_REPLIES_BEFORE_END:
        turn.say("It looks like you've stepped away. Come back any time!")
        turn.end()
        return
    turn.say("Are you still there?")
    turn.ask(question)
    if not question.no_reply_timeout:
        turn.emit("no-reply", {"timeout": 10})


def _event(turn: Turn, request: dict) -> None:
    payload = request.get("payload")
    event = payload.get("event") if isinstance(payload, dict) else None
    name = event.get("name") if isinstance(event, dict) else None
    if name == "start_over":
        _start(turn)
    elif name == "track_order":
        _track_order(turn)
    elif name == "order_ready":
        number = turn.variables.get("order_number")
        if number:
            turn.variables["order_status"] = "out_for_delivery"
            turn.say(f"Good news: order #{number} is on its way! 🛵")
        else:
            turn.say(
                "Your kitchen ticket is ready, but there's no open order on this conversation."
            )


def _track_order(turn: Turn) -> None:
    number = turn.variables.get("order_number")
    if not number:
        turn.say("There's no open order on this conversation to track.")
        return
    # A custom action step (§3.3): its trace type is the name given in the Creator, a type no
    # client knows in advance.
    turn.emit(
        "order_tracker",
        {"orderNumber": number, "status": turn.variables.get("order_status"), "etaMinutes": 25},
    )
    turn.say(f"Here's the live status of order #{number}.")


# ---- the greeter: the project observed.json was recorded with ----

GREETER_ROOT_DIAGRAM_ID = "66b0f00d0000000000000003"
GREETER_VARIABLES = ("name", "counter", "hold")
GREETER_NO_MATCH = "Sorry, I didn’t get that. Please try again."


def _greet(turn: Turn) -> None:
    """Set `name` and `counter`, say two lines, then wait at `wait` when `hold` is 1, else end."""
    counter = turn.variables.get("counter")
    turn.variables["counter"] = (counter if _is_int(counter) else 0) + 1
    turn.variables["name"] = name = "World"
    turn.stack.clear()
    turn.enter_base()
    turn.stack.append(
        {
            "nodeID": "start",
            "diagramID": GREETER_ROOT_DIAGRAM_ID,
            "storage": {},
            "commands": [],
            "variables": {},
        }
    )
    # The runtime runs without a TTS service here: no audio, only the project's speak step.
    turn.say(f"Hello, {name}! This is launch number {turn.variables['counter']}.", voiced=False)
    welcome = f"Welcome to the offline peer, {name}."
    turn.emit("speak", {"message": welcome, "type": "message"})
    frame = turn.stack[-1]
    frame["storage"]["output"] = welcome
    turn.responded(welcome)
    if turn.variables.get("hold") == 1:
        frame["nodeID"] = "wait"
    else:
        turn.end()


def _greeter_respond(turn: Turn, request: dict | None) -> None:
    _understand(turn, request, intent_name="None", confidence=100.0)
    top = turn.stack[-1] if turn.stack and isinstance(turn.stack[-1], dict) else None
    if top is not None and top.get("nodeID") is None and not _is_base(top):
        _greet(turn)  # a freshly generated state runs from the start, whatever the request
        return
    if top is None or top.get("nodeID") != "wait" or request is None:
        return
    if request["type"] in ("text", "intent"):
        # The project has no intents: every utterance is the runtime's no-match.
        _count_no_match(turn)
        turn.say(GREETER_NO_MATCH, voiced=False)


@dataclass(frozen=True)
class Script:
    """What a project's agent does with each kind of request."""

    name: str
    root_diagram_id: str
    declared_variables: tuple[str, ...]
    launch: Callable[[Turn], None]
    # Utterances, button paths, no-replies and a missing request.
    respond: Callable[[Turn, dict | None], None]
    event: Callable[[Turn, dict], None]


def _ignore_event(turn: Turn, request: dict) -> None:
    pass


def script_named(name: str | None) -> Script:
    return SCRIPTS.get(name or "pizzeria", SCRIPTS["pizzeria"])


# ---- the public API ----


def _number(value: float) -> int | float:
    """A number as JavaScript prints it: 1, not 1.0."""
    rounded = round(value, 4)
    return int(rounded) if rounded == int(rounded) else rounded


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_base(frame: Any) -> bool:
    return isinstance(frame, dict) and (frame.get("storage") or {}).get("isBase") is True


def base_frame(version_id: str) -> dict:
    return {
        "nodeID": None,
        "diagramID": version_id,
        "storage": {"isBase": True},
        "commands": [],
        "variables": {},
    }


def generate_state(script: str | None = None, variables: dict | None = None) -> State:
    """The state the runtime generates for a user it has none for (`POST /state/user/{id}`):
    the root flow not yet started and `sessions` 1 (observed.json)."""
    root = {"diagramID": script_named(script).root_diagram_id, "storage": {}, "variables": {}}
    return {"stack": [root], "variables": {"sessions": 1, **(variables or {})}, "storage": {}}


def prepare_state(stored: dict | None, *, user_id: str, script: str | None = None) -> State:
    """The state a turn runs on: the stored one, or a generated one when there is none or it is
    partial (e.g. created by PATCH variables), keeping its variables (§7.1 items 9, 10)."""
    state = copy.deepcopy(stored) if isinstance(stored, dict) else {}
    variables = state.get("variables") if isinstance(state.get("variables"), dict) else {}
    if isinstance(state.get("stack"), list) and isinstance(state.get("storage"), dict):
        state["variables"] = variables
        return state
    return generate_state(script, variables)


def deep_merge(target: dict, source: dict) -> None:
    """Merge `source` into `target`: nested objects recursively, anything else replaced."""
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def is_intent_request(request: Any) -> bool:
    """The runtime's request schema (`@voiceflow/dtos-interact`): an intent request carries
    `query`, `intent.name` and `entities`; without them it is not treated as an intent (§9)."""
    payload = request.get("payload") if isinstance(request, dict) else None
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("intent"), dict)
        and isinstance(payload["intent"].get("name"), str)
        and isinstance(payload.get("entities"), list)
    )


def run_turn(
    state: State,
    request: dict | None,
    *,
    user_id: str | None,
    now: float,
    config: dict | None = None,
    locale: str | None = None,
    version_id: str | None = None,
    script: str | None = None,
) -> list[Trace]:
    """Advance `state` (in place) by one request; return every trace, unfiltered.

    The runtime's own bookkeeping, as observed.json shows it: declared variables start at 0,
    `launch` counts a session and clears stack and storage, `user_id` and `timestamp` are set
    each turn, and at the end the memory, `last_event` (a text turn as the intent it matched)
    and, for utterances, `intent_confidence` and `last_utterance`.
    """
    chosen = script_named(script)
    turn = Turn(
        state,
        user_id=user_id,
        now=now,
        config=config or {},
        version_id=version_id or chosen.root_diagram_id,
    )
    declared = {name: 0 for name in chosen.declared_variables}
    state["variables"] = turn.variables = {**declared, **turn.variables}
    kind = request.get("type") if request is not None else None
    if kind == "launch":
        sessions = turn.variables.get("sessions")
        turn.variables["sessions"] = (sessions if _is_int(sessions) else 0) + 1
    if user_id is not None:
        turn.variables["user_id"] = user_id
    turn.variables["timestamp"] = int(now)
    if locale:
        turn.storage["locale"] = locale
        turn.variables["locale"] = locale
    utterance = _utterance(request) if isinstance(kind, str) else None
    turn.utterance = utterance
    turn.understood = copy.deepcopy(request)

    if kind == "launch":
        turn.stack.clear()
        turn.storage.clear()
        if locale:
            turn.storage["locale"] = locale
        chosen.launch(turn)
    elif kind == "end":
        turn.end()
    elif kind == "event":
        chosen.event(turn, request)
    elif kind == "intent" and not is_intent_request(request) and _is_waiting(turn):
        pass  # not an intent to the runtime's schema, so no block handles it (§9)
    elif (
        request is None
        or kind in ("text", "message", "intent", "no-reply")
        or (isinstance(kind, str) and kind.startswith("path-"))
    ):
        chosen.respond(turn, request)
    # Any other request type is not handled by any block: no traces (§9).

    _remember(turn, utterance)
    if request is not None:
        turn.variables["last_event"] = copy.deepcopy(turn.understood)
    if kind in ("text", "message") or (kind == "intent" and is_intent_request(request)):
        confidence = turn.confidence if turn.confidence is not None else 100.0
        turn.variables["intent_confidence"] = _number(confidence)
        if utterance is not None:
            turn.variables["last_utterance"] = utterance
    elif utterance is not None:
        turn.variables["last_utterance"] = utterance
    # The runtime saves a state it ran as stack, storage, variables, in that order.
    for key in ("stack", "storage", "variables"):
        state[key] = state.pop(key)
    return turn.traces


def understood_request(state: State) -> Any:
    """The request of the last turn as the runtime understood it (the verbose `request`)."""
    return copy.deepcopy(state.get("variables", {}).get("last_event"))


def _is_waiting(turn: Turn) -> bool:
    return (
        bool(turn.stack) and isinstance(turn.stack[-1], dict) and bool(turn.stack[-1].get("nodeID"))
    )


def _understand(
    turn: Turn, request: dict | None, *, intent_name: str, confidence: float, entities=None
) -> None:
    """A typed utterance reaches the flow as the intent the NLU matched it to (observed.json:
    `{"type": "intent", "payload": {"query", "intent", "entities", "confidence"}}`)."""
    if request is None or request.get("type") not in ("text", "message"):
        if request is not None and request.get("type") == "intent":
            turn.confidence = confidence
        return
    turn.confidence = confidence
    turn.understood = {
        "type": "intent",
        "payload": {
            "query": _utterance(request) or "",
            "intent": {"name": intent_name},
            "entities": entities or [],
            "confidence": _number(confidence / 100),
        },
    }


def _respond(turn: Turn, request: dict | None) -> None:
    question = turn.current_question()
    if question is None:
        _start(turn)
        return
    if request is None:
        turn.ask(question)
        return
    if request["type"] == "no-reply":
        _no_reply(turn, question)
        return
    turn.storage.pop("noRepliesCounter", None)
    found = _match(question, request)
    if found is not None:
        turn.storage.pop("noMatchesCounter", None)
        entities = (
            [{"name": question.slot, "value": str(found.value)}]
            if question.slot and request["type"] in ("text", "message")
            else []
        )
        _understand(
            turn, request, intent_name=found.intent, confidence=found.confidence, entities=entities
        )
        turn.debug(
            f"matched intent **{found.intent}** - confidence interval _{found.confidence:.2f}%_"
        )
        if found.index is not None:
            turn.emit("path", {"path": f"choice:{found.index + 1}"})
        ANSWERS[question.node_id](turn, found.value)
        return
    command = _global_command(request)
    if command is not None:
        turn.storage.pop("noMatchesCounter", None)
        _understand(turn, request, intent_name=command[1], confidence=87.5)
        turn.debug(f"matched intent **{command[1]}** - confidence interval _87.50%_")
        _open_flow(turn, command[0])
        return
    _understand(turn, request, intent_name="None", confidence=100.0)
    _no_match(turn, question)


def _remember(turn: Turn, utterance: str | None) -> None:
    """The runtime's conversation memory variables grow every turn (§9)."""
    memory = turn.variables.get("_memory_")
    memory = memory if isinstance(memory, list) else []

    def add(role: str, content: str) -> None:
        # Consecutive messages of one role are one entry, lines joined (observed.json).
        last = memory[-1] if memory else None
        if isinstance(last, dict) and last.get("role") == role:
            last["content"] = f"{last.get('content')}\n{content}"
        else:
            memory.append({"role": role, "content": content})

    if utterance:
        add("user", utterance)
    if turn.responses:
        add("assistant", "\n".join(turn.responses))
    memory = memory[-MEMORY_ENTRIES:]
    turn.variables["_memory_"] = memory
    turn.variables["vf_memory"] = "\n".join(
        f"{entry.get('role')}: {entry.get('content')}"
        for entry in memory
        if isinstance(entry, dict)
    )


def visible_traces(traces: list[Trace], config: dict | None) -> list[Trace]:
    """Drop the trace types the client excluded (default: block, debug, flow)."""
    excluded = (config or {}).get("excludeTypes")
    if not isinstance(excluded, list):
        excluded = DEFAULT_EXCLUDED_TYPES
    return [trace for trace in traces if trace["type"] not in excluded]


# Defined last: the scripts name functions from the whole module.
SCRIPTS = {
    "pizzeria": Script("pizzeria", ROOT.diagram_id, DECLARED_VARIABLES, _start, _respond, _event),
    "greeter": Script(
        "greeter",
        GREETER_ROOT_DIAGRAM_ID,
        GREETER_VARIABLES,
        _greet,
        _greeter_respond,
        _ignore_event,
    ),
}
