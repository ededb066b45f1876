"""The Project API's "Fetch project" (`GET /v2/versions/{versionID}/export`, docs-new
`/api-reference/project/fetch-project`): the project file (`.vf`) of the scripted agent.

Every project the sandbox holds runs the same scripted agent (agent.py), so each is exported
with the agent's flows under its own project and version IDs. The file has the shape of a real
export (docs' "Voiceflow Data Structure", `@voiceflow/base-types`): canvas blocks whose `steps`
name the step nodes a stack frame's `nodeID` points at. The four sub-flows demo.py nests in one
demo user's stack are left out on purpose: a real project file does not know every frame either.
"""

from typing import TYPE_CHECKING

from . import agent
from .routing import RouteMatch
from .store import ALIASES, Project
from .wire import Refused, Request, Response, coded_error, json_response

if TYPE_CHECKING:
    from .server import SandboxServer

BLOCK_NAMES = {
    "menu": "Main menu",
    "size": "Ask size",
    "type": "Choose pizza",
    "confirm": "Confirm order",
    "date": "Ask date",
    "party": "Ask party size",
    "topic": "Ask topic",
    "helped": "Did it help",
}
# The prompts that depend on variables, written as Voiceflow writes a variable in a text.
_PLACEHOLDERS = {name: "{" + name + "}" for name in agent.DECLARED_VARIABLES}
WELCOME = (
    "Welcome to Demo Pizzeria & Bookings! 🍕",
    "I can take a pizza order, book you a table, or help with a problem.",
)


def _slate(text: str) -> list[dict]:
    return [{"children": [{"text": text}]}]


def _node(node_id: str, node_type: str, data: dict) -> dict:
    return {"nodeID": node_id, "type": node_type, "coords": [0, 0], "data": data}


def _text_step(node_id: str, texts: tuple[str, ...]) -> dict:
    return _node(
        node_id,
        "text",
        {
            "texts": [
                {"id": agent.digest(f"{node_id}:{i}")[:8], "content": _slate(text)}
                for i, text in enumerate(texts)
            ],
            "canvasVisibility": "preview",
        },
    )


def _question_step(question: agent.Question, intents: list[dict]) -> dict:
    buttons = [
        {"id": agent.digest(f"{question.node_id}:{o.label}")[:8], "name": o.label, "actions": []}
        for o in question.options
    ]
    if question.display == "carousel":
        cards = [
            {
                "id": agent.digest(f"{question.node_id}:card:{o.label}")[:8],
                "title": o.label,
                "description": {"text": _slate(o.description)},
                "imageUrl": o.image,
                "buttons": [button],
            }
            for o, button in zip(question.options, buttons, strict=True)
        ]
        return _node(question.node_id, "carousel", {"layout": "Carousel", "cards": cards})
    if question.display == "card":
        return _node(
            question.node_id,
            "cardV2",
            {
                "title": question.prompt(_PLACEHOLDERS),
                "description": {"text": _slate("")},
                "imageUrl": "",
                "buttons": buttons,
            },
        )
    choices = []
    for option in question.options:
        key = agent.object_id(f"intent:{option.intent or question.node_id + ':' + option.label}")
        if all(intent["key"] != key for intent in intents):
            intents.append({"key": key, "name": option.intent or option.label, "slots": []})
        choices.append({"intent": key, "action": "PATH", "mappings": []})
    return _node(
        question.node_id,
        "interaction",
        {"name": BLOCK_NAMES[question.name], "else": {"type": "path"}, "choices": choices},
    )


def _diagram(flow: agent.Flow, version_id: str, nodes: list[dict], kind: str) -> dict:
    return {
        "_id": agent.object_id(f"diagram-doc:{flow.key}"),
        "diagramID": flow.diagram_id,
        "name": flow.name,
        "type": kind,
        "zoom": 100,
        "offsetX": 0,
        "offsetY": 0,
        "modified": 0,
        "creatorID": 1,
        "versionID": version_id,
        "variables": [],
        "children": [],
        "menuItems": [],
        "intentStepIDs": [],
        "nodes": {node["nodeID"]: node for node in nodes},
    }


def _block(flow: agent.Flow, name: str, steps: list[dict]) -> list[dict]:
    block = _node(
        flow.node_id(f"block:{name}"),
        "block",
        {"name": name, "color": "", "steps": [step["nodeID"] for step in steps]},
    )
    return [block, *steps]


def project_file(project: Project, version_id: str) -> dict:
    """The `.vf` document of the scripted agent, as `project` at `version_id`."""
    intents: list[dict] = []
    questions_of: dict[str, list[agent.Question]] = {}
    for question in agent.QUESTIONS.values():
        questions_of.setdefault(question.flow.key, []).append(question)

    def question_blocks(flow: agent.Flow) -> list[dict]:
        nodes = []
        for question in questions_of.get(flow.key, []):
            prompt = _text_step(
                flow.node_id(f"prompt:{question.name}"), (question.prompt(_PLACEHOLDERS),)
            )
            steps = [_question_step(question, intents)]
            if question.display != "card":
                steps.insert(0, prompt)
            nodes += _block(flow, BLOCK_NAMES[question.name], steps)
        return nodes

    root_nodes = [
        _node(agent.ROOT.node_id("start"), "start", {"name": "Start", "steps": []}),
        *_block(agent.ROOT, "Welcome", [_text_step(agent.ROOT.node_id("welcome"), WELCOME)]),
        *question_blocks(agent.ROOT),
    ]
    diagrams = {}
    for key, (flow, _) in agent.FLOWS.items():
        root_nodes += _block(
            agent.ROOT,
            f"Go to {flow.name}",
            [_node(agent.ROOT.node_id(f"flow_{key}"), "component", {"diagramID": flow.diagram_id})],
        )
        flow_nodes = [
            _node(flow.node_id("start"), "start", {"name": "Start", "steps": []}),
            *question_blocks(flow),
        ]
        diagrams[flow.diagram_id] = _diagram(flow, version_id, flow_nodes, "COMPONENT")
    diagrams = {
        agent.ROOT.diagram_id: _diagram(agent.ROOT, version_id, root_nodes, "TOPIC")
    } | diagrams
    return {
        "_version": "1.2",
        "project": {
            "_id": project.project_id,
            "name": project.name,
            "teamID": "demo-team",
            "devVersion": project.versions.get("development"),
            "liveVersion": project.versions.get("production"),
            "platform": "webchat",
            "type": "chat",
            "platformData": {},
            "members": [],
        },
        "version": {
            "_id": version_id,
            "name": "Initial Version",
            "projectID": project.project_id,
            "rootDiagramID": agent.ROOT.diagram_id,
            "variables": list(agent.DECLARED_VARIABLES) + list(agent.BUILT_IN_VARIABLES),
            "platformData": {"intents": intents, "slots": [], "settings": {}, "publishing": {}},
            "topics": [{"type": "DIAGRAM", "sourceID": agent.ROOT.diagram_id}],
            "components": [
                {"type": "DIAGRAM", "sourceID": flow.diagram_id} for flow, _ in agent.FLOWS.values()
            ],
            "domains": [],
        },
        "diagrams": diagrams,
    }


class ProjectFileApi:
    def __init__(self, server: "SandboxServer") -> None:
        self.store = server.store

    def export(self, request: Request, route: RouteMatch) -> Response:
        """GET /v2/versions/{versionID}/export with the project's API key: the `.vf` document.
        The versionID may be `development` or `production` (the docs' aliases)."""
        authorization = request.header("authorization")
        if not authorization:
            raise Refused(coded_error(401, "Auth Key Required"))
        project = self.store.project_by_key(authorization)
        if project is None:
            raise Refused(coded_error(401, "Unauthorized"))
        wanted = route.params["versionID"]
        version_id = project.versions.get(wanted) if wanted in ALIASES else wanted
        if not version_id or version_id not in project.version_ids():
            raise Refused(coded_error(404, f"version not found: {wanted}"))
        return json_response(200, project_file(project, version_id))
