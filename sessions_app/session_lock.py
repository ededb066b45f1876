"""One write at a time to each session (project and userID), across every web and worker process.

An audited write re-reads the state, compares it with what the operator saw (`based_on`), then
writes (`actions._write`). Two writers doing that at once both see the old state, both pass the
check, and the second write silently undoes the first. Holding this lock from the re-read to the
end of the write makes the second writer re-read after the first has written, so its check fails
and it gets the conflict page or 412.

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a key derived from the
  project and userID. It is not tied to a transaction, because the audit row must be committed
  before the request goes to Voiceflow; PostgreSQL drops it when the connection ends, so a killed
  process never keeps it.
- Other databases (SQLite, the embedded default): a `SessionWriteLock` row, unique per project
  and userID, with an expiry; a row left by a killed process is taken over once it has expired.

A writer that cannot get the lock within `wait_s()` (another write is stuck on a slow Voiceflow)
gets `SessionBusy`, which pages, the API (409) and bulk jobs (a retry) answer like any other
temporary failure.
"""

import functools
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from .models import Environment, SessionWriteLock
from .voiceflow import VoiceflowError, validate_user_id

POLL_S = 0.05
T = TypeVar("T")
_held = threading.local()


class SessionBusy(VoiceflowError):
    """Another write to this session did not finish in time; nothing was sent."""

    code = "conflict"
    permanent = False


def wait_s() -> float:
    """How long a writer waits for the one before it: that one's re-read and write, each of
    which may take the whole Voiceflow time-out."""
    return 2 * settings.VOICEFLOW_TIMEOUT_S + 5


def expiry_s() -> float:
    """How long a lock row outlives a process that died holding it."""
    return max(4 * settings.VOICEFLOW_TIMEOUT_S, 60)


def advisory_key(project_id: int, user_id: str) -> int:
    digest = hashlib.blake2b(f"session-write\n{project_id}\n{user_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


@contextmanager
def session_write_lock(project_id: int, user_id: str) -> Iterator[None]:
    """Hold the write lock of one session; re-entrant within a thread."""
    key = (connection.alias, project_id, user_id)
    held = getattr(_held, "keys", None)
    if held is None:
        held = _held.keys = set()
    if key in held:
        yield
        return
    hold = _advisory_lock if connection.vendor == "postgresql" else _row_lock
    with hold(project_id, user_id):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)


def _busy() -> SessionBusy:
    return SessionBusy(
        "Another write to this session is still in progress; nothing was sent. Reload the "
        "session and try again."
    )


def _pause(started: float) -> None:
    if time.monotonic() - started > wait_s():
        raise _busy()
    time.sleep(POLL_S)


@contextmanager
def _advisory_lock(project_id: int, user_id: str) -> Iterator[None]:
    key = advisory_key(project_id, user_id)
    started = time.monotonic()
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if cursor.fetchone()[0]:
                break
        _pause(started)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except DatabaseError:
            # The connection broke or its transaction was aborted: ending the connection
            # releases the lock, which a later request on it would otherwise still hold.
            connection.close()


@contextmanager
def _row_lock(project_id: int, user_id: str) -> Iterator[None]:
    holder = uuid.uuid4().hex
    started = time.monotonic()
    while True:
        now = timezone.now()
        SessionWriteLock.objects.filter(
            project_id=project_id, user_id=user_id, expires_at__lt=now
        ).delete()
        try:
            with transaction.atomic():
                SessionWriteLock.objects.create(
                    project_id=project_id,
                    user_id=user_id,
                    holder=holder,
                    expires_at=now + timedelta(seconds=expiry_s()),
                )
            break
        except IntegrityError:
            _pause(started)
    try:
        yield
    finally:
        SessionWriteLock.objects.filter(
            project_id=project_id, user_id=user_id, holder=holder
        ).delete()


def one_writer_per_session(write: Callable[..., T]) -> Callable[..., T]:
    """Run `write(environment=…, user_id=…, …)` holding the lock of that session."""

    @functools.wraps(write)
    def locked(*, environment: Environment, user_id: str, **kwargs: Any) -> T:
        validate_user_id(user_id)  # before the userID becomes part of a lock
        with session_write_lock(environment.project_id, user_id):
            return write(environment=environment, user_id=user_id, **kwargs)

    return locked
