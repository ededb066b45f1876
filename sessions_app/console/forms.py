"""What the console sends: one action built from the operator's form, refused with a message
before anything is sent when it is incomplete (voiceflow-api.md §3.1 for the request shapes)."""

import json
from typing import Any

from django import forms

from ..inspector.values import json_error_message
from ..stored_json import UnsafeJSON, parse_input

NAME_MAX = 200
TEXT_MAX = 5000

KIND_CHOICES = [
    ("launch", "Launch"),
    ("text", "Text"),
    ("intent", "Intent"),
    ("event", "Event"),
    ("no-reply", "No reply"),
    ("button", "Button"),
]


def _json_object(text: str, *, subject: str, example: str) -> dict:
    """`text` parsed as a JSON object; `subject` names it in messages ("The payload is")."""
    try:
        value = parse_input(text, subject.removesuffix(" is").removesuffix(" are"))
    except UnsafeJSON as error:
        raise forms.ValidationError(str(error)) from error
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            f"{subject} not valid JSON. {json_error_message(error)}"
        ) from error
    if not isinstance(value, dict):
        raise forms.ValidationError(f"{subject} not a JSON object; write one like {example}.")
    return value


class FirstErrorMixin:
    """The console answers a refused turn or event with one line: the form's first error."""

    def first_error(self) -> str:
        return next(message for messages in self.errors.values() for message in messages)


class ConsoleActionForm(FirstErrorMixin, forms.Form):
    """One turn: which kind of action, its fields, and the console's trace options."""

    kind = forms.ChoiceField(choices=KIND_CHOICES)
    text = forms.CharField(required=False, max_length=TEXT_MAX, strip=False)
    intent_name = forms.CharField(required=False, max_length=NAME_MAX, label="Intent name")
    query = forms.CharField(
        required=False, max_length=TEXT_MAX, strip=False, label="What the user said (optional)"
    )
    entities = forms.CharField(required=False, label="Entities (JSON object, optional)")
    event_name = forms.CharField(required=False, max_length=NAME_MAX, label="Event name")
    request = forms.CharField(required=False)
    label = forms.CharField(required=False, max_length=NAME_MAX)
    debug_traces = forms.BooleanField(required=False, label="Show debug, flow and block traces")
    speech = forms.BooleanField(required=False, label="Ask for speech (speak traces)")

    def clean_entities(self) -> list[dict]:
        text = self.cleaned_data.get("entities", "")
        if not text.strip():
            return []
        entities = _json_object(text, subject="The entities are", example='{"size": "large"}')
        listed = []
        for name, value in entities.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise forms.ValidationError(f"The entity {name} needs a text or number value.")
            listed.append({"name": name, "value": str(value)})
        return listed

    def clean_request(self) -> dict | None:
        # A button's request is sent back verbatim (§3.1): its type may be path-…, intent or text.
        text = self.cleaned_data.get("request", "")
        if not text:
            return None
        request = _json_object(
            text,
            subject="The button's request is",
            example='{"type": "path-…", "payload": {"label": "…"}}',
        )
        if not isinstance(request.get("type"), str) or not request["type"]:
            raise forms.ValidationError("This button carries no request with a type to send.")
        return request

    def clean(self) -> dict:
        cleaned = super().clean()
        kind = cleaned.get("kind")
        text = cleaned.get("text", "")
        intent = cleaned.get("intent_name", "").strip()
        event = cleaned.get("event_name", "").strip()
        if kind == "launch":
            cleaned["action"], cleaned["description"] = {"type": "launch"}, "launch"
        elif kind == "no-reply":
            cleaned["action"] = {"type": "no-reply"}
            cleaned["description"] = "no reply (the user stayed silent)"
        elif kind == "text":
            if not text.strip():
                self.add_error("text", "Type some text to send.")
            cleaned["action"] = {"type": "text", "payload": text}
            cleaned["description"] = f"the text “{text}”"
        elif kind == "intent":
            if not intent:
                self.add_error("intent_name", "Name the intent to send.")
            entities = cleaned.get("entities") or []
            # The published request schema (@voiceflow/base-types IntentRequest,
            # @voiceflow/dtos-interact) requires query and entities; without them the runtime
            # does not take the request as an intent.
            payload: dict[str, Any] = {
                "query": cleaned.get("query", ""),
                "intent": {"name": intent},
                "entities": entities,
            }
            shown = ", ".join(f"{entity['name']} = {entity['value']}" for entity in entities)
            cleaned["action"] = {"type": "intent", "payload": payload}
            cleaned["description"] = f"the intent {intent}" + (f" ({shown})" if shown else "")
        elif kind == "event":
            if not event:
                self.add_error("event_name", "Name the event to send.")
            cleaned["action"] = {"type": "event", "payload": {"event": {"name": event}}}
            cleaned["description"] = f"the event {event}"
        elif kind == "button":
            request = cleaned.get("request")
            if request is None and "request" not in self.errors:
                self.add_error("request", "This button carries no request to send.")
            cleaned["action"] = request
            label = cleaned.get("label") or (request or {}).get("type", "")
            cleaned["description"] = f"the button “{label}”"
        return cleaned

    def config(self, *, streaming: bool = False) -> dict | None:
        """The turn's `config`: only what the operator asked for, so defaults stay Voiceflow's."""
        config: dict[str, Any] = {}
        if self.cleaned_data.get("debug_traces"):
            config["excludeTypes"] = []
        if self.cleaned_data.get("speech"):
            config["tts"] = True
        if streaming:
            config["completionEvents"] = True
        return config or None


class EmitEventForm(FirstErrorMixin, forms.Form):
    """A session event for the user's live session: a name and an optional JSON payload."""

    event_name = forms.CharField(max_length=NAME_MAX, label="Event name", required=False)
    payload = forms.CharField(required=False, label="Payload (JSON object, optional)")

    def clean_event_name(self) -> str:
        name = self.cleaned_data.get("event_name", "").strip()
        if not name:
            raise forms.ValidationError("Name the event to emit.")
        return name

    def clean_payload(self) -> dict:
        text = self.cleaned_data.get("payload", "")
        if not text.strip():
            return {}
        payload = _json_object(text, subject="The payload is", example='{"orderID": 1042}')
        if "event" in payload:
            raise forms.ValidationError(
                'The payload cannot contain "event": the event name field sets it.'
            )
        return payload

    @property
    def action(self) -> dict:
        payload = {
            **self.cleaned_data["payload"],
            "event": {"name": self.cleaned_data["event_name"]},
        }
        return {"type": "event", "payload": payload}
