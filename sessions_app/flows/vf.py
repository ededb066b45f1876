"""Reading a Voiceflow project file (`.vf`) into a flow map.

The file is what the Project API's "Fetch project" returns (`GET /v2/versions/{versionID}/export`,
docs-new `/api-reference/project/fetch-project`) and what Voiceflow's "Export" downloads. Its
shape, from the docs' "Voiceflow Data Structure" page and `@voiceflow/base-types`:

    {"_version": "1.2",
     "project": {"_id", "name", "devVersion", "platform", ...},
     "version": {"_id", "projectID", "rootDiagramID", "platformData": {"intents": [{"key", "name"}]}},
     "diagrams": {<diagramID>: {"diagramID"?, "_id", "name", "type": "TOPIC"|"COMPONENT",
                                "nodes": {<nodeID>: {"nodeID", "type", "data": {...}}}}},
     "programs"?: {<diagramID>: {"lines": {<id>: {"id", "type", ...}}}}}   (the `.vfr` part)

A canvas block is a node of type `block` whose `data.steps` lists its steps' node IDs; a stack
frame's `nodeID` points at a step (a program line), sometimes at the block itself. The map keeps,
for every node, its flow, the block it sits in, its kind and what it says or offers: enough to
write "Order pizza › Ask size · choice" without keeping the file.
"""

from dataclasses import dataclass
from typing import Any

# base-types NodeType (packages/base-types/src/node/constants.ts) → the word support staff read.
KINDS = {
    "interaction": "choice",
    "buttons": "buttons",
    "text": "message",
    "message": "message",
    "speak": "speak",
    "capture": "capture",
    "captureV2": "capture",
    "carousel": "carousel",
    "card": "card",
    "cardV2": "card",
    "visual": "image",
    "set": "set",
    "setV2": "set",
    "if": "condition",
    "ifV2": "condition",
    "random": "random",
    "randomV2": "random",
    "api": "API call",
    "integrations": "API call",
    "code": "code",
    "function": "function",
    "component": "component",
    "flow": "component",
    "start": "start",
    "exit": "end",
    "goToNode": "go to block",
    "goToIntent": "go to intent",
    "goToDomain": "go to domain",
    "intent": "intent trigger",
    "prompt": "prompt",
    "aiResponse": "AI response",
    "aiSet": "AI set",
    "knowledgeBase": "knowledge base",
    "trace": "custom action",
    "customAction": "custom action",
    "block": "block",
}
TEXT_MAX = 300
LINES_MAX = 6  # texts or buttons kept per node


class ProjectFileError(ValueError):
    """The file is not a Voiceflow project file; the message says what is wrong."""


@dataclass(frozen=True)
class ProjectFile:
    project_id: str
    project_name: str
    version_id: str
    flows: dict[str, str]  # diagramID → flow name
    nodes: dict[str, dict]  # nodeID → {"flow", "block", "kind", "says", "offers"}

    def as_map(self) -> dict:
        return {"flows": self.flows, "nodes": self.nodes}


def _slate_text(content: Any) -> str:
    """The plain text of a Slate value (a text step's `content`)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            if isinstance(value.get("text"), str):
                parts.append(value["text"])
            walk(value.get("children"))

    walk(content)
    return "".join(parts)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def _kept(values: list[str]) -> list[str]:
    return [_short(value) for value in values if value and value.strip()][:LINES_MAX]


def _says(node_type: str, data: dict) -> list[str]:
    if node_type == "text":
        return _kept(
            [_slate_text(t.get("content")) for t in data.get("texts") or [] if isinstance(t, dict)]
        )
    if node_type == "speak":
        return _kept(
            [str(d.get("content") or "") for d in data.get("dialogs") or [] if isinstance(d, dict)]
        )
    if node_type in ("card", "cardV2"):
        description = data.get("description")
        text = (
            _slate_text(description.get("text"))
            if isinstance(description, dict)
            else _slate_text(description)
        )
        return _kept([str(data.get("title") or ""), text or ""])
    if node_type == "carousel":
        return _kept(
            [str(c.get("title") or "") for c in data.get("cards") or [] if isinstance(c, dict)]
        )
    if node_type == "prompt":
        return _kept([str(data.get("prompt") or "")])
    return []


def _offers(node_type: str, data: dict, intents: dict[str, str]) -> list[str]:
    if node_type == "buttons":
        return _kept(
            [str(b.get("name") or "") for b in data.get("buttons") or [] if isinstance(b, dict)]
        )
    if node_type == "interaction":
        return _kept(
            [
                intents.get(str(c.get("intent")), str(c.get("intent") or ""))
                for c in data.get("choices") or []
                if isinstance(c, dict)
            ]
        )
    if node_type in ("cardV2", "carousel"):
        cards = data.get("cards") if node_type == "carousel" else [data]
        return _kept(
            [
                str(b.get("name") or "")
                for card in cards or []
                if isinstance(card, dict)
                for b in card.get("buttons") or []
                if isinstance(b, dict)
            ]
        )
    return []


def _node_entry(
    flow_id: str, block: str, block_id: str, node_type: str, data: dict, intents: dict
) -> dict:
    entry: dict[str, Any] = {
        "flow": flow_id,
        "block": block,
        "kind": KINDS.get(node_type, node_type),
    }
    if block_id:  # tells apart two blocks of one name (a segment naming a block)
        entry["block_id"] = block_id
    says, offers = _says(node_type, data), _offers(node_type, data, intents)
    if says:
        entry["says"] = says
    if offers:
        entry["offers"] = offers
    return entry


def parse_project_file(document: Any) -> ProjectFile:
    """The flow map of a parsed `.vf` document; raises ProjectFileError with a plain message."""
    if not isinstance(document, dict):
        raise ProjectFileError("This is not a Voiceflow project file: it is not a JSON object.")
    version = document.get("version")
    diagrams = document.get("diagrams")
    if not isinstance(version, dict) or not isinstance(diagrams, dict):
        raise ProjectFileError(
            "This is not a Voiceflow project file: it has no “version” and “diagrams” "
            "(export the agent from Voiceflow as a .vf file)."
        )
    version_id = str(version.get("_id") or "")
    if not version_id:
        raise ProjectFileError("The project file's version has no _id.")
    project = document.get("project") if isinstance(document.get("project"), dict) else {}
    platform_data = (
        version.get("platformData") if isinstance(version.get("platformData"), dict) else {}
    )
    intents = {
        str(intent.get("key")): str(intent.get("name") or intent.get("key"))
        for intent in platform_data.get("intents") or []
        if isinstance(intent, dict)
    }
    flows: dict[str, str] = {}
    nodes: dict[str, dict] = {}
    for key, diagram in diagrams.items():
        if not isinstance(diagram, dict):
            continue
        flow_id = str(diagram.get("diagramID") or key)
        flows[flow_id] = str(diagram.get("name") or flow_id)
        if str(key) != flow_id:
            flows.setdefault(str(key), flows[flow_id])
        diagram_nodes = diagram.get("nodes") if isinstance(diagram.get("nodes"), dict) else {}
        block_of: dict[str, str] = {}
        block_id_of: dict[str, str] = {}
        steps_of: dict[str, list[str]] = {}
        for node_id, node in diagram_nodes.items():
            if isinstance(node, dict) and node.get("type") in ("block", "combined", "start"):
                data = node.get("data") if isinstance(node.get("data"), dict) else {}
                name = str(data.get("name") or ("Start" if node.get("type") == "start" else ""))
                steps = [str(step_id) for step_id in data.get("steps") or []]
                steps_of[str(node_id)] = steps
                for step_id in steps:
                    block_of[step_id] = name
                    block_id_of[step_id] = str(node_id)
                block_id_of.setdefault(str(node_id), str(node_id))
                if node.get("type") == "start":
                    block_of.setdefault(str(node_id), name)
        for node_id, node in diagram_nodes.items():
            if not isinstance(node, dict):
                continue
            data = node.get("data") if isinstance(node.get("data"), dict) else {}
            node_type = str(node.get("type") or "")
            if node_type in ("block", "combined"):
                block = str(data.get("name") or "")
            else:
                block = block_of.get(str(node_id), str(data.get("name") or ""))
            nodes[str(node.get("nodeID") or node_id)] = _node_entry(
                flow_id, block, block_id_of.get(str(node_id), ""), node_type, data, intents
            )
        _share_block_content(steps_of, nodes)
    _add_program_lines(document.get("programs"), flows, nodes)
    return ProjectFile(
        project_id=str(project.get("_id") or version.get("projectID") or ""),
        project_name=str(project.get("name") or ""),
        version_id=version_id,
        flows=flows,
        nodes=nodes,
    )


def _share_block_content(steps_of: dict[str, list[str]], nodes: dict[str, dict]) -> None:
    """A conversation waits on a block's last step (buttons, a choice) after its first ones said
    something: every step of a block, and the block, shows what the whole block says and offers."""
    for block_id, steps in steps_of.items():
        entries = [nodes[step] for step in steps if step in nodes]
        says = _kept([line for entry in entries for line in entry.get("says", [])])
        offers = _kept([option for entry in entries for option in entry.get("offers", [])])
        for entry in [nodes.get(block_id), *entries]:
            if entry is None:
                continue
            if says:
                entry["says"] = says
            if offers and not entry.get("offers"):
                entry["offers"] = offers


def _add_program_lines(programs: Any, flows: dict[str, str], nodes: dict[str, dict]) -> None:
    """A `.vfr`'s compiled programs: lines the canvas nodes did not name (their kind only)."""
    if not isinstance(programs, dict):
        return
    for key, program in programs.items():
        if not isinstance(program, dict):
            continue
        flow_id = str(program.get("id") or key)
        flows.setdefault(flow_id, str(program.get("name") or flow_id))
        lines = program.get("lines") if isinstance(program.get("lines"), dict) else {}
        for line_id, line in lines.items():
            if isinstance(line, dict) and str(line_id) not in nodes:
                line_type = str(line.get("type") or "")
                says = _kept(
                    [
                        _slate_text(t.get("content"))
                        for t in line.get("texts") or []
                        if isinstance(t, dict)
                    ]
                )
                entry = {"flow": flow_id, "block": "", "kind": KINDS.get(line_type, line_type)}
                if says:
                    entry["says"] = says
                nodes[str(line_id)] = entry
