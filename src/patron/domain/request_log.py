"""The last N requests a dev-mode server answered, newest first (``/__patron/requests``)."""

from __future__ import annotations

import fnmatch
import itertools
import re
import threading
from collections import deque
from typing import Any

import msgspec

from patron.domain.errors import InvalidInput


class Identity(msgspec.Struct, frozen=True):
    """Who sent a request: the workspace and the kind of credential that resolved it."""

    workspace_id: int
    credential: str  # track | app | pipelines


class Entry(msgspec.Struct):
    """One request and its answer; bodies are JSON when they parse, else text, both capped."""

    id: int
    received_at: int
    method: str
    path: str
    query: str
    identity: Identity | None
    body: Any
    body_bytes: int
    status: int
    response_body: Any
    duration_ms: float


class RequestLog:
    """A bounded, thread-safe ring of entries."""

    def __init__(self, size: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=max(size, 1))
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def next_id(self) -> int:
        """A fresh entry id (increasing)."""
        with self._lock:
            return next(self._ids)

    def add(self, entry: Entry) -> None:
        """Keep ``entry``, dropping the oldest when full."""
        with self._lock:
            self._entries.append(entry)

    def query(
        self,
        workspace_id: int,
        *,
        path: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[Entry]:
        """Entries the workspace may see (its own and unauthenticated ones), newest first.

        ``path`` is a glob (``/api/v1/*``) or an exact path; ``status`` is a code (``401``) or a
        class (``4xx``).
        """
        with self._lock:
            entries = list(self._entries)
        found: list[Entry] = []
        for entry in reversed(entries):
            if entry.identity is not None and entry.identity.workspace_id != workspace_id:
                continue
            if path and not fnmatch.fnmatchcase(entry.path, path):
                continue
            if status and not _status_matches(entry.status, status):
                continue
            found.append(entry)
            if len(found) >= limit:
                break
        return found

    def clear(self, workspace_id: int) -> int:
        """Forget the workspace's entries (and unauthenticated ones); returns how many."""
        with self._lock:
            kept = [
                e
                for e in self._entries
                if e.identity is not None and e.identity.workspace_id != workspace_id
            ]
            removed = len(self._entries) - len(kept)
            self._entries.clear()
            self._entries.extend(kept)
        return removed


_STATUS = re.compile(r"[1-5](?:[0-9]{2}|[xX]{2})")


def check_filters(path: str | None, status: str | None) -> None:
    """Raise :class:`InvalidInput` for a filter that is not one :meth:`RequestLog.query`
    understands (rather than quietly matching nothing, or everything)."""
    if status is not None and not _STATUS.fullmatch(status):
        raise InvalidInput(
            "status must be a status code (401) or a class of them (4xx)", field="status"
        )
    if path is not None and not path.startswith(("/", "*")):
        raise InvalidInput(
            "path must be a path (/api/v1/customers/u1) or a glob (/api/v1/*)", field="path"
        )


def _status_matches(code: int, wanted: str) -> bool:
    wanted = wanted.strip().lower()
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0].isdigit():
        return code // 100 == int(wanted[0])
    return wanted.isdigit() and code == int(wanted)
