"""What the target answered, what the contract expects of an answer, and both as text.

Expected bodies are JSON templates: plain values must be equal (and of the same JSON type), and
patterns such as `STRING` or `Partial({...})` stand for what the contract leaves open.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

EXCERPT_LENGTH = 300


class Pattern:
    description = "<anything>"

    def matches(self, value: Any) -> bool:
        return True


@dataclass(frozen=True)
class OfType(Pattern):
    kind: type
    description: str

    def matches(self, value: Any) -> bool:
        return isinstance(value, self.kind) and not isinstance(value, bool)


ANYTHING = Pattern()
# Not a template: the default of Expect.body, meaning the body is not looked at.
ANY_BODY = Pattern()
STRING = OfType(str, "<string>")
INTEGER = OfType(int, "<integer>")


@dataclass(frozen=True)
class Exactly(Pattern):
    """A header value (headers are not JSON templates)."""

    value: str

    @property
    def description(self) -> str:
        return repr(self.value)

    def matches(self, value: Any) -> bool:
        return value == self.value


@dataclass(frozen=True)
class Containing(Pattern):
    text: str

    @property
    def description(self) -> str:
        return f"<string containing {self.text!r}>"

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and self.text in value


class IsoTime(Pattern):
    description = "<ISO 8601 time>"

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True


class Digits(Pattern):
    description = "<integer>"

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and value.isdigit()


@dataclass(frozen=True)
class Partial(Pattern):
    """An object with at least these keys, matching; other keys are allowed."""

    template: dict

    @property
    def description(self) -> str:
        return describe(self.template)[:-1] + ", …}"

    def matches(self, value: Any) -> bool:
        return isinstance(value, dict) and all(
            key in value and matches(expected, value[key])
            for key, expected in self.template.items()
        )


@dataclass(frozen=True)
class ListWith(Pattern):
    """A list with at least one item matching the template."""

    item: Any

    @property
    def description(self) -> str:
        return f"[…, {describe(self.item)}, …]"

    def matches(self, value: Any) -> bool:
        return isinstance(value, list) and any(matches(self.item, entry) for entry in value)


def matches(template: Any, value: Any) -> bool:
    if isinstance(template, Pattern):
        return template.matches(value)
    if isinstance(template, dict):
        return (
            isinstance(value, dict)
            and value.keys() == template.keys()
            and all(matches(expected, value[key]) for key, expected in template.items())
        )
    if isinstance(template, list):
        return (
            isinstance(value, list)
            and len(value) == len(template)
            and all(matches(t, v) for t, v in zip(template, value, strict=True))
        )
    return type(template) is type(value) and template == value


def describe(template: Any) -> str:
    if isinstance(template, Pattern):
        return template.description
    if isinstance(template, dict):
        items = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}: {describe(v)}" for k, v in template.items()
        )
        return "{" + items + "}"
    if isinstance(template, list):
        return "[" + ", ".join(describe(item) for item in template) + "]"
    return json.dumps(template, ensure_ascii=False)


def excerpt(text: str) -> str:
    if len(text) <= EXCERPT_LENGTH:
        return text
    return f"{text[:EXCERPT_LENGTH]}… ({len(text)} characters)"


NOT_JSON = object()


@dataclass(frozen=True)
class Answer:
    """The target's answer to one request, or why there was none."""

    request: str
    status: int | None
    headers: dict[str, str]
    text: str
    error: str | None = None

    @cached_property
    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return NOT_JSON

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def body_text(self) -> str:
        if not self.text:
            return "(empty body)"
        value = self.json
        if value is NOT_JSON:
            return excerpt(self.text)
        return excerpt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


@dataclass(frozen=True)
class Expect:
    """What the contract says one answer must be."""

    status: int
    body: Any = ANY_BODY
    empty_body: bool = False
    body_containing: str | None = None
    content_type: str | None = None
    headers: dict[str, Pattern] = field(default_factory=dict)

    def holds_for(self, answer: Answer) -> bool:
        if answer.status != self.status:
            return False
        if self.empty_body and answer.text:
            return False
        if self.body is not ANY_BODY and (
            answer.json is NOT_JSON or not matches(self.body, answer.json)
        ):
            return False
        if self.body_containing is not None and self.body_containing not in answer.text:
            return False
        media_type = (answer.header("content-type") or "").split(";")[0].strip().lower()
        if self.content_type is not None and media_type != self.content_type:
            return False
        return all(pattern.matches(answer.header(name)) for name, pattern in self.headers.items())

    def describe(self) -> str:
        parts = [str(self.status)]
        if self.content_type:
            parts.append(self.content_type)
        parts += [f"{name}: {pattern.description}" for name, pattern in self.headers.items()]
        if self.empty_body:
            parts.append("(empty body)")
        elif self.body is not ANY_BODY:
            parts.append(describe(self.body))
        if self.body_containing is not None:
            parts.append(f"a body containing {self.body_containing!r}")
        return " ".join(parts)

    def observe(self, answer: Answer) -> str:
        """The parts of the answer this expectation looks at."""
        if answer.error is not None:
            return f"no answer ({answer.error})"
        parts = [str(answer.status)]
        if self.content_type:
            parts.append(answer.header("content-type") or "(no Content-Type)")
        parts += [f"{name}: {answer.header(name) or '(absent)'}" for name in self.headers]
        parts.append(answer.body_text())
        return " ".join(parts)
