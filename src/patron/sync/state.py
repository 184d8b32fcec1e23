"""The sync's own state: a plain SQLite file users can query (docs/sync.md#state).

- ``rows``: per sync and row key, the hash of what was last acknowledged and the identifier it
  was sent under (removals need it once the row has left the model). A row is written here
  only after the destination acknowledged it, so a killed run resumes safely.
- ``failures``: rows the destination refused, or that could not be sent, with the error;
  they are retried on every later run until they succeed.
- ``runs``, ``requests``, ``request_rows``: every run, every request and response, and which
  rows each request carried (``patron sync debug``); kept ``keep_days`` days.
- ``syncs``: per sync, its health and the segment id it created.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
  sync TEXT NOT NULL, key TEXT NOT NULL, hash INTEGER NOT NULL, ident TEXT,
  acked_at INTEGER NOT NULL, PRIMARY KEY (sync, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failures (
  sync TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, error TEXT NOT NULL,
  run_id INTEGER, attempts INTEGER NOT NULL, failed_at INTEGER NOT NULL,
  PRIMARY KEY (sync, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS syncs (
  name TEXT PRIMARY KEY, health TEXT, segment_id INTEGER, updated_at INTEGER);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, sync TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER,
  status TEXT NOT NULL, dry_run INTEGER NOT NULL, full INTEGER NOT NULL,
  added INTEGER DEFAULT 0, changed INTEGER DEFAULT 0, removed INTEGER DEFAULT 0,
  failed INTEGER DEFAULT 0, requests INTEGER DEFAULT 0, error TEXT);
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, sync TEXT NOT NULL, at INTEGER NOT NULL,
  method TEXT NOT NULL, url TEXT NOT NULL, body TEXT, attempt INTEGER NOT NULL,
  status INTEGER, response TEXT, duration_ms REAL);
CREATE TABLE IF NOT EXISTS request_rows (
  request_id INTEGER NOT NULL, sync TEXT NOT NULL, key TEXT NOT NULL, position INTEGER,
  outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS request_rows_by_key ON request_rows (sync, key);
CREATE INDEX IF NOT EXISTS request_rows_by_request ON request_rows (request_id);
CREATE INDEX IF NOT EXISTS requests_by_run ON requests (run_id);
CREATE INDEX IF NOT EXISTS runs_by_sync ON runs (sync, id);
"""

DAY = 86_400


class State:
    """The state database of one config's syncs."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / "state.db"
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = self.db.execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]

    # -- rows --------------------------------------------------------------------------

    def acknowledged(self, sync: str) -> dict[str, int]:
        """Row key → hash of what the destination last acknowledged."""
        return dict(self.db.execute("SELECT key, hash FROM rows WHERE sync = ?", (sync,)))

    def idents(self, sync: str, keys: Iterable[str]) -> dict[str, str | None]:
        """The identifiers removed rows were sent under."""
        found: dict[str, str | None] = {}
        for chunk in chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, ident FROM rows WHERE sync = ? AND key IN ({marks})"
            found.update(self.db.execute(query, (sync, *chunk)))
        return found

    def failed_keys(self, sync: str) -> set[str]:
        """Rows that failed before (sent again whatever their hash)."""
        return {k for (k,) in self.db.execute("SELECT key FROM failures WHERE sync = ?", (sync,))}

    def record(
        self,
        sync: str,
        acked: list[tuple[str, int, str | None]],
        removed: list[str],
        failed: list[tuple[str, str, str]],
        run_id: int,
    ) -> None:
        """Store one request's outcome in one transaction: rows acknowledged ``(key, hash,
        ident)``, removals acknowledged, and failures ``(key, kind, error)``."""
        now = int(time.time())
        with self._transaction():
            self.db.executemany(
                "INSERT INTO rows (sync, key, hash, ident, acked_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (sync, key) DO UPDATE SET hash = excluded.hash, "
                "ident = excluded.ident, acked_at = excluded.acked_at",
                [(sync, key, digest, ident, now) for key, digest, ident in acked],
            )
            self.db.executemany(
                "DELETE FROM rows WHERE sync = ? AND key = ?", [(sync, k) for k in removed]
            )
            self.db.executemany(
                "DELETE FROM failures WHERE sync = ? AND key = ?",
                [(sync, k) for k, _, _ in acked] + [(sync, k) for k in removed],
            )
            self.db.executemany(
                "INSERT INTO failures (sync, key, kind, error, run_id, attempts, failed_at) "
                "VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (sync, key) DO UPDATE SET "
                "kind = excluded.kind, error = excluded.error, run_id = excluded.run_id, "
                "attempts = failures.attempts + 1, failed_at = excluded.failed_at",
                [(sync, key, kind, error, run_id, now) for key, kind, error in failed],
            )

    def forget(self, sync: str) -> None:
        """Drop a sync's acknowledged rows (``--full``, or a changed mapping)."""
        self.db.execute("DELETE FROM rows WHERE sync = ?", (sync,))

    def failures(self, sync: str) -> list[tuple[str, str, str, int]]:
        """``(key, kind, error, attempts)`` of every row that is failing."""
        return list(
            self.db.execute(
                "SELECT key, kind, error, attempts FROM failures WHERE sync = ? ORDER BY key",
                (sync,),
            )
        )

    # -- per-sync settings ---------------------------------------------------------------

    def sync_value(self, sync: str, column: str) -> Any:
        """One column of the ``syncs`` row (None when there is none)."""
        assert column in ("health", "segment_id")
        return self._one(f"SELECT {column} FROM syncs WHERE name = ?", (sync,))

    def set_sync_value(self, sync: str, column: str, value: Any) -> None:
        """Set one column of the ``syncs`` row."""
        assert column in ("health", "segment_id")
        self.db.execute(
            f"INSERT INTO syncs (name, {column}, updated_at) VALUES (?, ?, ?) "
            f"ON CONFLICT (name) DO UPDATE SET {column} = excluded.{column}, "
            "updated_at = excluded.updated_at",
            (sync, value, int(time.time())),
        )

    def sync_names(self) -> list[str]:
        """Every sync that has run with this state."""
        return [n for (n,) in self.db.execute("SELECT DISTINCT sync FROM runs ORDER BY sync")]

    # -- runs and the request log --------------------------------------------------------

    def start_run(self, sync: str, dry_run: bool, full: bool) -> int:
        """A new run, ``running``."""
        cursor = self.db.execute(
            "INSERT INTO runs (sync, started_at, status, dry_run, full) VALUES (?, ?, ?, ?, ?)",
            (sync, int(time.time()), "running", int(dry_run), int(full)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(self, run_id: int, status: str, error: str | None, **counts: int) -> None:
        """Close a run with its status and counts."""
        sets = ", ".join(f"{k} = ?" for k in counts)
        self.db.execute(
            f"UPDATE runs SET status = ?, error = ?, finished_at = ?{', ' if sets else ''}{sets} "
            "WHERE id = ?",
            (status, error, int(time.time()), *counts.values(), run_id),
        )

    def log_request(
        self,
        run_id: int,
        sync: str,
        attempt: dict[str, Any],
        rows: list[tuple[str, int | None, str]],
    ) -> None:
        """Keep one request and its response, and which rows it carried with what outcome."""
        with self._transaction():
            cursor = self.db.execute(
                "INSERT INTO requests (run_id, sync, at, method, url, body, attempt, status, "
                "response, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, sync, attempt["at"], attempt["method"], attempt["url"], attempt["body"],
                 attempt["attempt"], attempt["status"], attempt["response"],
                 attempt["duration_ms"]),
            )  # fmt: skip
            self.db.executemany(
                "INSERT INTO request_rows (request_id, sync, key, position, outcome) "
                "VALUES (?, ?, ?, ?, ?)",
                [(cursor.lastrowid, sync, key, pos, outcome) for key, pos, outcome in rows],
            )

    def prune(self, keep_days: int) -> None:
        """Forget requests older than ``keep_days`` days (runs stay)."""
        cutoff = int(time.time()) - keep_days * DAY
        with self._transaction():
            self.db.execute(
                "DELETE FROM request_rows WHERE request_id IN "
                "(SELECT id FROM requests WHERE at < ?)",
                (cutoff,),
            )
            self.db.execute("DELETE FROM requests WHERE at < ?", (cutoff,))

    def runs(self, sync: str, limit: int = 20) -> list[sqlite3.Row]:
        """The newest runs of a sync."""
        self.db.row_factory = sqlite3.Row
        try:
            return list(
                self.db.execute(
                    "SELECT * FROM runs WHERE sync = ? ORDER BY id DESC LIMIT ?", (sync, limit)
                )
            )
        finally:
            self.db.row_factory = None

    def run_sync(self, run_id: int) -> str | None:
        """The sync a run belongs to, or None when there is no such run."""
        name: str | None = self._one("SELECT sync FROM runs WHERE id = ?", (run_id,))
        return name

    def requests_for(
        self, sync: str, run_id: int | None, key: str | None, limit: int = 50
    ) -> list[sqlite3.Row]:
        """Requests of a sync (of one run, or carrying one row), newest first, with the row's
        outcome in ``outcome`` when a row is asked for."""
        self.db.row_factory = sqlite3.Row
        try:
            if key is not None:
                query = (
                    "SELECT r.*, rr.position, rr.outcome FROM requests r JOIN request_rows rr "
                    "ON rr.request_id = r.id WHERE rr.sync = ? AND rr.key = ?"
                )
                params: list[Any] = [sync, key]
            else:
                query = "SELECT r.*, NULL AS position, NULL AS outcome FROM requests r "
                query += "WHERE r.sync = ?"
                params = [sync]
            if run_id is not None:
                query += " AND r.run_id = ?"
                params.append(run_id)
            query += " ORDER BY r.id DESC LIMIT ?"
            params.append(limit)
            return list(self.db.execute(query, params))
        finally:
            self.db.row_factory = None

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, read lazily."""
    rest = iter(items)
    while part := list(itertools.islice(rest, size)):
        yield part
