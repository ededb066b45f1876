"""Shared by the inspector's tests: a realistic conversation state and small page helpers."""

import copy
import html
import re
from urllib.parse import urlencode

from django.urls import reverse

from sessions_app.actions import fingerprint, writable_state

ORDERING_STATE = {
    "stack": [
        {
            "nodeID": None,
            "diagramID": "66b0c1d2e3f4a5b6c7d8e900",
            "storage": {"isBase": True},
            "commands": [],
            "variables": {},
        },
        {
            "nodeID": "66b0c2aa0123456789abcd00",
            "diagramID": "66b0c1d2e3f4a5b6c7d8e9f0",
            "storage": {},
            "commands": [
                {"type": "push", "event": {"type": "intent", "intent": {"name": "order"}}}
            ],
            "variables": {},
        },
        {
            "nodeID": "66b0c2aa0123456789abcdef",
            "diagramID": "66b0c1d2e3f4a5b6c7d8e9f1",
            "storage": {"output": [{"children": [{"text": "Would you like a second pizza?"}]}]},
            "commands": [],
            "variables": {
                "discount_code": "DEAL4TWO",
                "last_response": "Would you like a second pizza?",
            },
        },
    ],
    "storage": {"locale": "en-US", "noMatchesCounter": 0},
    "variables": {
        "sessions": 3,
        "user_id": "customer-42",
        "pizza_size": "large",
        "quantity": 5,
        "quantity_text": "5",
        "vip": True,
        "coupon": None,
        "address": {"street": "1 Main St", "city": "Zürich", "geo": {"lat": 47.37, "lon": 8.54}},
        "toppings": ["cheese", "basil"],
        "notes": "Ring twice. " * 30,
    },
}


# The flows of ORDERING_STATE: its frames carry no name, as the runtime's do, so pages show their
# diagramIDs (until a flow map names them).
ROOT_FLOW = "66b0c1d2e3f4a5b6c7d8e9f0"
ORDER_FLOW = "66b0c1d2e3f4a5b6c7d8e9f1"


def ordering_state() -> dict:
    return copy.deepcopy(ORDERING_STATE)


def ordering_state_as_written() -> dict:
    """ORDERING_STATE as a write sends it back: the base frame's null nodeID left out."""
    return writable_state(ordering_state())


def inspect_url(environment, user_id: str, **params: str) -> str:
    return f"{reverse('session_inspect', args=[environment.pk])}?{urlencode({'user': user_id, **params})}"


def action_url(name: str, environment, user_id: str | None = None) -> str:
    url = reverse(name, args=[environment.pk])
    return f"{url}?{urlencode({'user': user_id})}" if user_id is not None else url


def based_on(state: dict | None) -> str:
    return fingerprint(state or {})


def text_of(response) -> str:
    """The page's visible text, tags removed and whitespace collapsed, for reading assertions."""
    page = response.content.decode()
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
