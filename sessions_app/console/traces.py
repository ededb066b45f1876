"""How the console shows the traces Voiceflow answers (voiceflow-api.md §3.2, §3.3).

Each trace becomes a plain dict for one template per kind (`templates/sessions/console/traces/`).
Payloads come from upstream and may have any shape: every value is read defensively, and a
trace whose type is unknown is shown as JSON. Templates escape every value; links are made only
from http(s) addresses, and images are only drawn inline from `data:` URIs (the Content Security
Policy keeps the operator's browser from fetching anything else).
"""

from typing import Any
from urllib.parse import urlsplit

from ..inspector.display import compact_json, pretty_json
from ..personal_data import MASK
from ..stored_json import json_text, printable

TEMPLATES = "sessions/console/traces"
FOLDED_STEPS = {"flow", "block", "path"}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return printable(value)
    return "" if value is None else json_text(value)


def _slate_text(slate: Any) -> str:
    """The words of a slate (rich text) document: its leaves' `text`, one line per block."""

    def leaves(node: Any) -> str:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                return node["text"]
            return "".join(leaves(child) for child in _list(node.get("children")))
        return ""

    return "\n".join(leaves(block) for block in _list(_dict(slate).get("content")))


def web_link(url: Any) -> str:
    """`url` if it is an http(s) address, else "" (never a javascript: or data: link)."""
    if not isinstance(url, str):
        return ""
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""
    return url.strip() if scheme in ("http", "https") else ""


def image(url: Any, alt: str) -> dict | None:
    if not isinstance(url, str) or not url:
        return None
    inline = url if url.startswith("data:image/") else ""
    return {"inline": inline, "link": web_link(url), "address": url, "alt": alt or "Image"}


def audio(src: Any) -> dict | None:
    if not isinstance(src, str) or not src:
        return None
    if src.startswith("data:audio/"):
        return {"download": src, "link": ""}
    return {"download": "", "link": web_link(src), "address": src}


def buttons(listed: Any) -> list[dict]:
    """Buttons that send their `request` back verbatim (§3.1); old `choices` have none."""
    shown = []
    for button in _list(listed):
        button = _dict(button)
        request = button.get("request")
        name = _text(button.get("name")) or _text(_dict(_dict(request).get("payload")).get("label"))
        sendable = isinstance(request, dict) and isinstance(request.get("type"), str)
        request_json = compact_json(request) if sendable else ""
        # A request masked for the viewer (personal_data.mask_traces) would send the mask into the
        # conversation as if the user had chosen it: such a button is shown, not sent.
        withheld = MASK in request_json
        shown.append(
            {
                "name": name or "(no label)",
                "request_json": "" if withheld else request_json,
                "withheld": withheld,
                "intent": _text(_dict(button.get("intent")).get("name") or button.get("intent")),
            }
        )
    return shown


def _card(card: dict) -> dict:
    title = _text(card.get("title"))
    description = card.get("description")
    if isinstance(description, dict):
        description = description.get("text") or _slate_text({"content": description.get("slate")})
    return {
        "title": title,
        "description": _text(description),
        "image": image(card.get("imageUrl"), title),
        "buttons": buttons(card.get("buttons")),
    }


def _text_trace(payload: dict) -> dict:
    message = payload.get("message")
    return {
        "message": _text(message) if message is not None else _slate_text(payload.get("slate")),
        "audio": audio(_dict(payload.get("audio")).get("src")),
        "ai": payload.get("ai") is True,
    }


def _speak(payload: dict) -> dict:
    return {"message": _text(payload.get("message")), "audio": audio(payload.get("src"))}


def _choice(payload: dict) -> dict:
    return {"buttons": buttons(payload.get("buttons") or payload.get("choices"))}


def _carousel(payload: dict) -> dict:
    return {
        "layout": _text(payload.get("layout")),
        "cards": [_card(_dict(card)) for card in _list(payload.get("cards"))],
    }


def _visual(payload: dict) -> dict:
    dimensions = _dict(payload.get("dimensions"))
    size = ""
    if isinstance(dimensions.get("width"), int) and isinstance(dimensions.get("height"), int):
        size = f"{dimensions['width']}×{dimensions['height']}"
    return {
        "visual_type": _text(payload.get("visualType")),
        "image": image(payload.get("image"), "Image shown to the user"),
        "size": size,
        "visibility": _text(payload.get("canvasVisibility")),
    }


def _no_reply(payload: dict) -> dict:
    timeout = payload.get("timeout")
    return {"timeout": timeout if isinstance(timeout, int | float) else None}


def _debug(payload: dict) -> dict:
    return {
        "message": _text(payload.get("message")),
        "level": _text(payload.get("level") or payload.get("type")),
    }


def _knowledge_base(payload: dict) -> dict:
    query = _dict(payload.get("query"))
    questions = [
        _text(message.get("content"))
        for message in map(_dict, _list(query.get("messages")))
        if message.get("role") == "user"
    ]
    chunks = []
    for chunk in map(_dict, _list(payload.get("chunks"))):
        document = _dict(chunk.get("documentData"))
        score = chunk.get("score")
        chunks.append(
            {
                "document": _text(document.get("name")) or _text(chunk.get("documentID")),
                "score": f"{score:.2f}" if isinstance(score, int | float) else "",
            }
        )
    return {
        "question": " / ".join(questions),
        "answer": _text(query.get("output")),
        "chunks": chunks,
    }


def _step(trace_type: str, payload: dict) -> dict:
    if trace_type == "flow":
        summary = (
            f"Entered the flow {_text(payload.get('name')) or _text(payload.get('diagramID'))}"
        )
    elif trace_type == "block":
        summary = f"Reached the block {_text(payload.get('blockID'))}"
    else:
        summary = f"Took the path {_text(payload.get('path'))}"
    return {"summary": summary}


KINDS = {
    "text": ("text", _text_trace),
    "speak": ("speak", _speak),
    "choice": ("choice", _choice),
    "cardV2": ("card", lambda payload: _card(payload)),
    "carousel": ("carousel", _carousel),
    "visual": ("visual", _visual),
    "end": ("end", lambda payload: {}),
    "no-reply": ("no_reply", _no_reply),
    "debug": ("debug", _debug),
    "knowledgeBase": ("knowledge_base", _knowledge_base),
}


def trace_view(trace: Any) -> dict:
    """What the template of this trace's kind shows; unknown types and shapes as JSON."""
    trace_type = _dict(trace).get("type")
    payload = _dict(_dict(trace).get("payload"))
    if trace_type in FOLDED_STEPS:
        kind, fields = "step", _step(trace_type, payload)
    elif trace_type in KINDS:
        kind, prepare = KINDS[trace_type]
        fields = prepare(payload)
    else:
        kind, fields = "unknown", {}
    return {
        "kind": kind,
        "type": _text(trace_type) or "(no type)",
        "template": f"{TEMPLATES}/{kind}.html",
        "json": pretty_json(trace),
        **fields,
    }


def completion_view(message_id: str) -> dict:
    """An empty completion bubble; its streamed deltas are appended to it as they arrive."""
    return {
        "kind": "completion",
        "type": "completion",
        "template": f"{TEMPLATES}/completion.html",
        "message_id": message_id,
    }
