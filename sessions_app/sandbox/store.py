"""Projects and conversation states, thread-safe, optionally saved to a JSON file.

One state per (projectID, userID), shared by every version of the project: gr-src keys sessions
on `<projectID>.<userID>` only (§4, §7.1 item 11).
"""

import copy
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .agent import digest
from .wire import iso_time

ALIASES = ("development", "production", "staging")
FILE_FORMAT = 1
TRANSCRIPT_LOG_LIMIT = 200

Result = TypeVar("Result")


@dataclass
class Project:
    project_id: str
    api_key: str
    name: str
    # alias -> version ID; None means "never published" (or, for development, never compiled).
    versions: dict[str, str | None] = field(default_factory=dict)
    access_token: str | None = None
    # The scripted agent the project runs (agent.SCRIPTS).
    agent: str = "pizzeria"

    def version_ids(self) -> set[str]:
        return {version for version in self.versions.values() if version}

    def describe(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> "Project":
        return cls(
            project_id=value["project_id"],
            api_key=value["api_key"],
            name=value.get("name") or value["project_id"],
            versions=dict(value.get("versions") or {}),
            access_token=value.get("access_token"),
            agent=value.get("agent") or "pizzeria",
        )


def js_key_order(value: dict) -> dict:
    """A JavaScript object's key order: array-index keys first, ascending, then the others in
    insertion order (so PATCH [1, 2] puts "0" and "1" first, observed.json)."""
    indexes = sorted(
        (key for key in value if key.isdigit() and (key == "0" or not key.startswith("0"))),
        key=int,
    )
    index_set = set(indexes)
    return {
        **{key: value[key] for key in indexes},
        **{key: item for key, item in value.items() if key not in index_set},
    }


class Store:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._projects: dict[str, Project] = {}
        self._states: dict[tuple[str, str], dict] = {}
        # (projectID, userID) -> that user's transcripts, oldest first; only the last may be open.
        self._transcripts: dict[tuple[str, str], list[dict]] = {}
        self._dirty = False

    # ---- projects ----

    def register(self, project: Project) -> Project:
        """Add or update a project (idempotent on project_id); its API key must be its own."""
        with self._lock:
            for other in self._projects.values():
                if other.api_key == project.api_key and other.project_id != project.project_id:
                    raise ValueError(f"api_key is already used by project {other.project_id}")
            self._projects[project.project_id] = project
            self._dirty = True
            return project

    def project(self, project_id: str) -> Project | None:
        with self._lock:
            return self._projects.get(project_id)

    def project_by_key(self, api_key: str) -> Project | None:
        with self._lock:
            return next((p for p in self._projects.values() if p.api_key == api_key), None)

    def project_by_version(self, version_id: str) -> Project | None:
        with self._lock:
            return next((p for p in self._projects.values() if version_id in p.version_ids()), None)

    def project_by_token(self, access_token: str) -> Project | None:
        with self._lock:
            return next(
                (
                    p
                    for p in self._projects.values()
                    if p.access_token and p.access_token == access_token
                ),
                None,
            )

    def projects(self) -> list[Project]:
        with self._lock:
            return list(self._projects.values())

    # ---- states ----

    def get(self, project_id: str, user_id: str) -> dict | None:
        with self._lock:
            return copy.deepcopy(self._states.get((project_id, user_id)))

    def put(self, project_id: str, user_id: str, state: dict) -> None:
        with self._lock:
            self._states[(project_id, user_id)] = copy.deepcopy(state)
            self._dirty = True

    def delete(self, project_id: str, user_id: str) -> None:
        with self._lock:
            if self._states.pop((project_id, user_id), None) is not None:
                self._dirty = True

    def merge_variables(self, project_id: str, user_id: str, variables: dict) -> dict:
        """Shallow merge into the global variables, creating `{"variables": …}` for an unknown
        user (gr-src `session/local.ts`, §7.1 item 9); returns the whole state."""
        with self._lock:
            state = self._states.setdefault((project_id, user_id), {})
            current = state.get("variables")
            state["variables"] = js_key_order(
                {**(current if isinstance(current, dict) else {}), **variables}
            )
            self._dirty = True
            return copy.deepcopy(state)

    def update(
        self, project_id: str, user_id: str, change: Callable[[dict | None], tuple[dict, Result]]
    ) -> Result:
        """Read-modify-write one state atomically: `change` gets a copy of the stored state (or
        None) and returns the state to store and a result for the caller."""
        with self._lock:
            new_state, result = change(copy.deepcopy(self._states.get((project_id, user_id))))
            self._states[(project_id, user_id)] = copy.deepcopy(new_state)
            self._dirty = True
            return result

    def user_ids(self, project_id: str) -> list[str]:
        with self._lock:
            return sorted(user for project, user in self._states if project == project_id)

    # ---- transcripts (§6) ----

    def record_turn(
        self,
        project_id: str,
        user_id: str,
        *,
        version_id: str,
        requests: list[Any],
        traces: list[dict],
        now: float,
    ) -> None:
        """Log a turn in the user's open transcript, opening one if needed; an `end` trace
        closes it, so the next turn starts a new transcript, like a new session."""
        stamp = iso_time(now)
        with self._lock:
            transcripts = self._transcripts.setdefault((project_id, user_id), [])
            if not transcripts or transcripts[-1]["endedAt"] is not None:
                transcripts.append(
                    {
                        "id": digest(
                            f"transcript:{project_id}:{user_id}:{len(transcripts)}:{stamp}"
                        )[:24],
                        "projectID": project_id,
                        "userID": user_id,
                        "sessionID": user_id,
                        "environmentID": version_id,
                        "createdAt": stamp,
                        "updatedAt": stamp,
                        "endedAt": None,
                        "expiresAt": None,
                        "recordingURL": None,
                        "properties": [],
                        "evaluations": [],
                        "logs": [],
                    }
                )
            transcript = transcripts[-1]
            logs = transcript["logs"]
            logs += [
                {"type": "action", "data": copy.deepcopy(request), "createdAt": stamp}
                for request in requests
                if request is not None
            ]
            logs += [
                {"type": "trace", "data": copy.deepcopy(trace), "createdAt": stamp}
                for trace in traces
            ]
            del logs[:-TRANSCRIPT_LOG_LIMIT]
            transcript["updatedAt"] = stamp
            if any(trace.get("type") == "end" for trace in traces):
                transcript["endedAt"] = stamp
            self._dirty = True

    def add_transcript(
        self,
        project_id: str,
        user_id: str,
        *,
        version_id: str,
        created_at: float,
        updated_at: float,
        ended: bool,
    ) -> dict:
        """A transcript of a conversation held at the given times, with no logs (for tests of
        transcript searches, which need conversations older than the sandbox process)."""
        with self._lock:
            transcripts = self._transcripts.setdefault((project_id, user_id), [])
            transcript = {
                "id": digest(f"transcript:{project_id}:{user_id}:{len(transcripts)}:{created_at}")[
                    :24
                ],
                "projectID": project_id,
                "userID": user_id,
                "sessionID": user_id,
                "environmentID": version_id,
                "createdAt": iso_time(created_at),
                "updatedAt": iso_time(updated_at),
                "endedAt": iso_time(updated_at) if ended else None,
                "expiresAt": None,
                "recordingURL": None,
                "properties": [],
                "evaluations": [],
                "logs": [],
            }
            # Kept in time order, so the user's open transcript stays the last one.
            transcripts.append(transcript)
            transcripts.sort(key=lambda item: item["createdAt"])
            self._dirty = True
            return copy.deepcopy(transcript)

    def transcripts(self, project_id: str) -> list[dict]:
        """Every transcript of the project, newest first, with their logs."""
        with self._lock:
            found = [
                copy.deepcopy(transcript)
                for (project, _), transcripts in self._transcripts.items()
                if project == project_id
                for transcript in transcripts
            ]
        # Ties (same millisecond) keep the order they were opened in, newest first.
        order = sorted(range(len(found)), key=lambda i: (found[i]["createdAt"], i), reverse=True)
        return [found[i] for i in order]

    # ---- whole-store operations ----

    def replace_all(
        self,
        projects: list[Project],
        states: dict[tuple[str, str], dict],
        transcripts: dict[tuple[str, str], list[dict]] | None = None,
    ) -> None:
        with self._lock:
            self._projects = {project.project_id: project for project in projects}
            self._states = copy.deepcopy(states)
            self._transcripts = copy.deepcopy(transcripts or {})
            self._dirty = True

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "format": FILE_FORMAT,
                "projects": [project.describe() for project in self._projects.values()],
                "states": [
                    {"project_id": project_id, "user_id": user_id, "state": state}
                    for (project_id, user_id), state in self._states.items()
                ],
                "transcripts": [
                    transcript
                    for transcripts in self._transcripts.values()
                    for transcript in transcripts
                ],
            }

    def load_file(self, path: Path) -> None:
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        if snapshot.get("format") != FILE_FORMAT:
            raise ValueError(f"{path} is not a sandbox state file (format {FILE_FORMAT})")
        projects = [Project.from_dict(item) for item in snapshot["projects"]]
        states = {
            (item["project_id"], item["user_id"]): item["state"] for item in snapshot["states"]
        }
        transcripts: dict[tuple[str, str], list[dict]] = {}
        for transcript in snapshot.get("transcripts", []):
            key = (transcript["projectID"], transcript["userID"])
            transcripts.setdefault(key, []).append(transcript)
        self.replace_all(projects, states, transcripts)
        with self._lock:
            self._dirty = False

    def save_file(self, path: Path, *, only_if_changed: bool = False) -> None:
        """Write the store atomically (temporary file, then rename)."""
        with self._lock:
            if only_if_changed and not self._dirty:
                return
            # ASCII escapes: a state may hold lone surrogates, which UTF-8 cannot write.
            payload = json.dumps(self.to_json(), ensure_ascii=True, indent=1)
            self._dirty = False
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as target:
            target.write(payload)
        os.replace(temporary, path)
