"""v4 sessions (§1.B): session keys, and the events emitted to them.

A session key addresses one user's conversation in one version. Starting a new session for the
same user ends the old one, whose key is then refused (§7.3 item 15). Sessions live in memory
only; the conversation state they drive is in the Store like any other.
"""

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

EVENT_LOG_LIMIT = 1000


@dataclass
class Session:
    key: str
    project_id: str
    user_id: str
    version_id: str
    pending_events: list[dict[str, Any]] = field(default_factory=list)


class SessionRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Session] = {}
        self._by_user: dict[tuple[str, str], Session] = {}
        self._event_log: list[dict[str, Any]] = []

    def start(self, project_id: str, user_id: str, version_id: str) -> Session:
        session = Session(secrets.token_urlsafe(32), project_id, user_id, version_id)
        with self._lock:
            previous = self._by_user.get((project_id, user_id))
            if previous is not None:
                del self._by_key[previous.key]
            self._by_key[session.key] = session
            self._by_user[(project_id, user_id)] = session
        return session

    def get(self, key: str) -> Session | None:
        with self._lock:
            return self._by_key.get(key)

    def emit(self, project_id: str, session_ref: str, action: dict[str, Any]) -> None:
        """Record an emitted event; queue it for the live session it names, if there is one.

        The path parameter is called sessionID in one rendering of the docs and sessionKey in
        another (§1.B), so `session_ref` may be either a session key or the session's userID.
        """
        with self._lock:
            session = self._by_key.get(session_ref)
            if session is None or session.project_id != project_id:
                session = self._by_user.get((project_id, session_ref))
            entry = {
                "project_id": project_id,
                "session_id": session_ref,
                "action": action,
                "received_at": time.time(),
                "queued_for_user": session.user_id if session else None,
                "delivered": False,
            }
            self._event_log.append(entry)
            del self._event_log[:-EVENT_LOG_LIMIT]
            if session is not None:
                session.pending_events.append(entry)

    def take_events(self, session: Session) -> list[dict[str, Any]]:
        """The actions of the events queued for `session`, oldest first; marks them delivered."""
        with self._lock:
            entries, session.pending_events = session.pending_events, []
            for entry in entries:
                entry["delivered"] = True
            return [entry["action"] for entry in entries]

    def events(self, project_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                dict(entry)
                for entry in self._event_log
                if project_id is None or entry["project_id"] == project_id
            ]

    def clear(self) -> None:
        with self._lock:
            self._by_key.clear()
            self._by_user.clear()
            self._event_log.clear()
