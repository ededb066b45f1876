"""A stack as its designer would read it: each frame's flow name, the current block's name and
kind, and what that block says or offers."""

from dataclasses import dataclass, field
from typing import Any

from ..models import Environment
from .loading import LoadedMap, flow_map_for


@dataclass
class Place:
    """Where one frame is, by the names of the loaded version."""

    flow: str  # the flow's name, "" when the map does not know the flow
    block: str = ""
    kind: str = ""
    says: list[str] = field(default_factory=list)
    offers: list[str] = field(default_factory=list)
    node_id: str | None = None
    flow_unknown: bool = False
    node_unknown: bool = False

    @property
    def title(self) -> str:
        """ "Order pizza › Ask size · choice"."""
        title = self.flow
        if self.block:
            title += f" › {self.block}"
        if self.kind:
            title += f" · {self.kind}"
        return title


def _is_base(frame: Any) -> bool:
    storage = frame.get("storage") if isinstance(frame, dict) else None
    return isinstance(storage, dict) and bool(storage.get("isBase"))


def place_of(frame: Any, loaded: LoadedMap) -> Place | None:
    """The place of one raw frame; None for the runtime's base frame (no flow of the agent)."""
    if not isinstance(frame, dict) or _is_base(frame):
        return None
    diagram_id = str(frame.get("diagramID") or frame.get("programID") or "")
    node_id = frame.get("nodeID") if isinstance(frame.get("nodeID"), str) else None
    flow = loaded.flows.get(diagram_id, "")
    place = Place(flow=flow, node_id=node_id, flow_unknown=not flow)
    if node_id:
        node = loaded.nodes.get(node_id)
        if node is None:
            place.node_unknown = True
        else:
            place.block = node.get("block", "")
            place.kind = node.get("kind", "")
            place.says = node.get("says", [])
            place.offers = node.get("offers", [])
            if not place.flow:
                place.flow = loaded.flows.get(node.get("flow", ""), "")
    return place


def name_stack(stack_view, raw_stack: Any, loaded: LoadedMap) -> None:
    """Give each frame view its `place`, and its flow's name as title where the frame had none."""
    frames = raw_stack if isinstance(raw_stack, list) else []
    for view, frame in zip(stack_view.frames, frames, strict=False):
        view.place = place_of(frame, loaded) if loaded.row is not None else None
        if view.place is not None and view.place.flow and not view.name:
            view.title = view.place.flow


def named_stack(environment: Environment, state: Any, stack_view) -> LoadedMap:
    """Look up the state's map (never waiting for Voiceflow) and name `stack_view` with it."""
    loaded = flow_map_for(environment, state)
    name_stack(stack_view, (state or {}).get("stack") if isinstance(state, dict) else None, loaded)
    return loaded
