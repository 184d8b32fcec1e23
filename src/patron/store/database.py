"""Engines, the group-commit writer, and the read pool.

Writes: callers hand a function ``fn(conn) -> T`` to :meth:`Database.write`; writer threads
take every pending function (up to a bound), run them in one transaction (a savepoint each
only if one of them fails; none for a function alone), commit once, then resolve the callers'
futures. A caller's future resolves only after the commit, so an acknowledged write is
durable. SQLite has exactly one writer thread (one writer per file); PostgreSQL has several,
and identity races between them (or between processes) are settled by unique constraints: a
function that hits one is retried, and on the retry it sees the winner's row.

Reads: ``fn(conn)`` runs on a small thread pool, each call in its own short transaction.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from patron import json_codec
from patron.domain.errors import InvalidInput, NotFound
from patron.store import pg_statistics
from patron.store.segment_sql import sqlite_number

T = TypeVar("T")
log = logging.getLogger("patron.store")

_RETRIES = 5
# Checkpoints slow the commits around them; every 10 s keeps that out of p99 (architecture.md).
CHECKPOINT_SECONDS = 10.0
# The WAL size past which the writer restarts the log itself (PATRON_SQLITE_WAL_LIMIT).
WAL_LIMIT = 64 * 1024 * 1024
# How long that restart may wait for readers still reading the log before giving up.
WAL_RESTART_WAIT_MS = 250
_BUSY_TIMEOUT_MS = 30_000
# How often PostgreSQL tables are checked for growth that calls for fresh statistics, and for
# how long after the last commit (PostgreSQL publishes counts of changed rows up to ~10 s late).
STATISTICS_SECONDS = 5.0
STATISTICS_LAG = 20.0
# Errors the client caused: roll back that one function and report them, never retry.
_CLIENT_ERRORS = (InvalidInput, NotFound)


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    """True for SQLite URLs."""
    return url.startswith("sqlite")


def create_engine(
    url: str, *, pool_size: int = 5, for_writes: bool = False, wal_limit: int = WAL_LIMIT
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and explicit transactions, and a
    log truncated back to ``wal_limit`` bytes whenever it starts again from the beginning."""
    url = normalize_url(url)
    json_options: dict[str, Any] = {
        "json_serializer": json_codec.dumps_text,
        "json_deserializer": json_codec.loads,
    }
    if not is_sqlite(url):
        return sa.create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **json_options
        )
    engine = sa.create_engine(
        url,
        **json_options,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=sa.pool.QueuePool,
        pool_size=pool_size,
        max_overflow=0,
    )
    begin = "BEGIN IMMEDIATE" if for_writes else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions start, so that
        # SAVEPOINTs work (SQLAlchemy docs, "Serializable isolation / Savepoints").
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA journal_size_limit={int(wal_limit)}")
        if for_writes:
            # Checkpoints run on their own thread (Database._checkpoint_loop), so that a
            # commit never stalls while the WAL is copied into the database file.
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()
        # Numeric segment conditions read numeric strings (store/segment_sql.py).
        dbapi_conn.create_function("patron_number", 1, sqlite_number, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


@dataclass
class _Job:
    fn: Callable[[Connection], Any]
    loop: asyncio.AbstractEventLoop | None
    future: Any  # asyncio.Future or concurrent.futures.Future-like with set_result


class _SyncFuture:
    """Lets synchronous callers (CLI, tests) wait on the writer like async ones."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def set_result(self, value: Any) -> None:
        self._result = value
        self._done.set()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result


_STOP = object()


class Database:
    """The store's access to one database: group-commit writes and pooled reads."""

    def __init__(
        self,
        url: str,
        *,
        writer_threads: int = 0,
        read_pool_size: int = 4,
        write_batch_size: int = 256,
        sqlite_wal_limit: int = WAL_LIMIT,
    ) -> None:
        self.url = normalize_url(url)
        self.sqlite = is_sqlite(self.url)
        threads = writer_threads or (1 if self.sqlite else 4)
        if self.sqlite:
            threads = 1
        self.wal_limit = max(1, sqlite_wal_limit)
        self.write_engine = create_engine(
            self.url, pool_size=threads, for_writes=True, wal_limit=self.wal_limit
        )
        self.read_engine = (
            create_engine(self.url, pool_size=read_pool_size, wal_limit=self.wal_limit)
            if self.sqlite
            else self.write_engine
        )
        self.wal_path = _wal_path(self.url) if self.sqlite else None
        # The writer restarts the WAL once it is past this size (see _bound_wal).
        self._wal_restart_above = self.wal_limit
        self._batch = max(1, write_batch_size)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._commits = 0  # groups committed; read by the checkpoint thread
        # Called on the writer thread after each group (the segment worker's wake-up).
        self.after_commit: Callable[[], None] | None = None
        self._readers = ThreadPoolExecutor(read_pool_size, thread_name_prefix="patron-read")
        self._writers = [
            threading.Thread(target=self._writer_loop, name=f"patron-write-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._writers:
            t.start()
        self._closed = False
        self._stopping = threading.Event()
        # SQLite: WAL checkpoints off the commit path. PostgreSQL: statistics for young tables.
        self._housekeeper = threading.Thread(
            target=self._checkpoint_loop if self.sqlite else self._statistics_loop,
            name="patron-checkpoint" if self.sqlite else "patron-statistics",
            daemon=True,
        )
        self._housekeeper.start()

    # -- writes ---------------------------------------------------------------------------

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in the next group-commit transaction; return after the commit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, loop, future))
        return await future

    def write_sync(self, fn: Callable[[Connection], T]) -> T:
        """Blocking form of :meth:`write`, for the CLI and tests."""
        future = _SyncFuture()
        self._queue.put(_Job(fn, None, future))
        result: T = future.wait()
        return result

    def _writer_loop(self) -> None:
        conn: Connection | None = None
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                jobs = [first]
                while len(jobs) < self._batch:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        self._queue.put(_STOP)
                        break
                    jobs.append(nxt)
                try:
                    conn = self._run_group(conn or self.write_engine.connect(), jobs)
                except Exception as exc:
                    # The database is unreachable or the connection broke beyond retrying:
                    # fail these callers (nothing of theirs committed) and keep serving.
                    log.exception("writer could not apply %d jobs", len(jobs))
                    _resolve_all([(job, False, exc) for job in jobs])
                    conn = self._discard(conn)
        finally:
            self._discard(conn)

    @staticmethod
    def _discard(conn: Connection | None) -> None:
        if conn is None:
            return
        try:
            conn.close()
        except Exception:
            log.debug("closing a broken connection", exc_info=True)

    def _run_group(self, conn: Connection, jobs: list[_Job]) -> Connection:
        self._commits += 1
        conn = self._apply_group(conn, jobs)
        if self.after_commit is not None:
            self.after_commit()
        if self.wal_path is not None:
            self._bound_wal(conn, self.wal_path)
        return conn

    def _bound_wal(self, conn: Connection, wal_path: Path) -> None:
        """SQLite: keep the write-ahead log near its limit under sustained load.

        A background PASSIVE checkpoint copies the log into the database file but never
        restarts it: under steady writes new frames keep arriving behind it (and readers keep
        old ones in use), so the log grows for as long as the load lasts. Once it is past the
        limit the writer itself, between two transactions, runs a RESTART checkpoint: it copies
        what is left and waits (a moment at most) for readers to leave the log, so that the next
        transaction writes from its start again and ``journal_size_limit`` truncates the file.
        One ``stat`` per commit otherwise. If readers hold on, it tries again once the log has
        grown by another limit's worth.
        """
        try:
            size = wal_path.stat().st_size
        except OSError:
            return
        if size <= self._wal_restart_above:
            return
        busy = self._checkpoint_on(conn, "RESTART", WAL_RESTART_WAIT_MS)
        self._wal_restart_above = size + self.wal_limit if busy else self.wal_limit

    @staticmethod
    def _checkpoint_on(conn: Connection, mode: str, wait_ms: int) -> bool:
        """Run a checkpoint on ``conn`` outside any transaction, letting it wait for readers
        at most ``wait_ms``; True when readers kept it from finishing."""
        try:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            cur = dbapi.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
                row = cur.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            finally:
                cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
                cur.close()
        except Exception:
            log.warning("WAL checkpoint (%s) failed", mode, exc_info=True)
            return True
        return bool(row and row[0])

    def _apply_group(self, conn: Connection, jobs: list[_Job]) -> Connection:
        """Apply ``jobs`` in one transaction and commit once.

        A job alone runs in a transaction of its own (:meth:`_run_alone`). A group runs
        optimistically first: no savepoints, since nearly every job succeeds. If any job
        raises, the whole transaction rolls back and the group runs again with a savepoint per
        job, so that one failing job cannot take its neighbours down with it.
        """
        if len(jobs) == 1:
            return self._run_alone(conn, jobs[0])
        try:
            with conn.begin():
                values = [job.fn(conn) for job in jobs]
        except Exception:
            conn = self._fresh(conn) if conn.invalidated else conn
        else:
            _resolve_all([(job, True, value) for job, value in zip(jobs, values, strict=True)])
            return conn
        outcomes: list[tuple[bool, Any]] = []
        try:
            with conn.begin():
                for job in jobs:
                    outcomes.append(self._run_in_savepoint(conn, job))
        except Exception as exc:
            # The commit itself failed (deadlock, serialization, I/O): nothing in this group
            # is durable. Retry each job alone so one bad neighbour cannot sink the others.
            log.warning("group commit of %d jobs failed (%s); retrying one by one", len(jobs), exc)
            conn = self._fresh(conn)
            for job in jobs:
                conn = self._run_alone(conn, job)
            return conn
        _resolve_all([(job, ok, value) for job, (ok, value) in zip(jobs, outcomes, strict=True)])
        return conn

    def _run_in_savepoint(self, conn: Connection, job: _Job) -> tuple[bool, Any]:
        for attempt in range(_RETRIES):
            savepoint = conn.begin_nested()
            try:
                value = job.fn(conn)
            except sa.exc.IntegrityError as exc:
                savepoint.rollback()
                if attempt == _RETRIES - 1:
                    return False, exc
                continue
            except _CLIENT_ERRORS as exc:
                savepoint.rollback()
                return False, exc
            except sa.exc.DBAPIError:
                raise
            except Exception as exc:
                log.exception("write failed")
                savepoint.rollback()
                return False, exc
            savepoint.commit()
            return True, value
        raise AssertionError("unreachable")

    def _run_alone(self, conn: Connection, job: _Job) -> Connection:
        """Run one job in a transaction of its own. It needs no savepoint (SQLAlchemy's cost
        about 50 µs, a sizeable part of a small write): if it fails, its transaction is
        rolled back whole. Unique-constraint races and broken connections are retried."""
        error: BaseException | None = None
        for _ in range(_RETRIES):
            try:
                with conn.begin():
                    value = job.fn(conn)
            except _CLIENT_ERRORS as exc:
                _resolve(job, False, exc)
                return conn
            except sa.exc.IntegrityError as exc:
                # An identity race: on the retry the job sees the winner's row.
                error = exc
                conn = self._fresh(conn) if conn.invalidated else conn
                continue
            except sa.exc.DBAPIError as exc:
                # The connection or the commit failed: nothing of the job is durable.
                error = exc
                conn = self._fresh(conn)
                continue
            except Exception as exc:
                log.exception("write failed")
                _resolve(job, False, exc)
                return self._fresh(conn) if conn.invalidated else conn
            _resolve(job, True, value)
            return conn
        _resolve(job, False, error)
        return conn

    def _fresh(self, conn: Connection) -> Connection:
        self._discard(conn)
        return self.write_engine.connect()

    # -- reads ----------------------------------------------------------------------------

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` on the read pool in its own transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_sync, fn)

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        """Blocking form of :meth:`read`."""
        with self.read_engine.connect() as conn, conn.begin():
            return fn(conn)

    # -- SQLite checkpoints -------------------------------------------------------------

    def _checkpoint_loop(self) -> None:
        seen = self._commits
        while not self._stopping.wait(CHECKPOINT_SECONDS):
            if self._commits != seen:  # an idle server does no work at all
                seen = self._commits
                self.checkpoint("PASSIVE")

    def _statistics_loop(self) -> None:
        seen, changed_at = self._commits, -STATISTICS_LAG
        while not self._stopping.wait(STATISTICS_SECONDS):
            if self._commits != seen:
                seen, changed_at = self._commits, time.monotonic()
            # An idle server does nothing.
            if time.monotonic() - changed_at <= STATISTICS_LAG:
                try:
                    self.analyze_grown()
                except sa.exc.DBAPIError:
                    log.warning("could not refresh table statistics", exc_info=True)

    def analyze_grown(self) -> list[str]:
        """PostgreSQL: analyze the tables that at least doubled since their last analysis
        (store/pg_statistics.py); returns their names."""
        with self.write_engine.connect() as conn, conn.begin():
            return pg_statistics.analyze_grown(conn)

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy the SQLite WAL into the database file (PASSIVE never blocks writers)."""
        try:
            with self.read_engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
        except sa.exc.DBAPIError:
            log.warning("WAL checkpoint (%s) failed", mode, exc_info=True)

    def _truncate_wal(self) -> None:
        """At close, with no reader or writer left: copy the whole WAL into the database file
        and empty it (SQLite then deletes it when the last connection closes)."""
        try:
            with self.write_engine.connect() as conn:
                busy = self._checkpoint_on(conn, "TRUNCATE", _BUSY_TIMEOUT_MS)
        except sa.exc.DBAPIError:
            log.warning("could not open the database to truncate its WAL", exc_info=True)
            return
        if busy:
            log.warning("could not truncate the WAL at close: another process is using it")

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Finish queued writes, stop the threads and dispose of the engines."""
        if self._closed:
            return
        self._closed = True
        for _ in self._writers:
            self._queue.put(_STOP)
        for t in self._writers:
            t.join(timeout=30)
        self._stopping.set()
        self._housekeeper.join(timeout=30)
        self._readers.shutdown(wait=True)
        if self.sqlite:
            self._truncate_wal()
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def _wal_path(url: str) -> Path | None:
    """The WAL file beside a SQLite database file (None for an in-memory database)."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).resolve()
    return path.with_name(path.name + "-wal")


def _settle(outcomes: list[tuple[_Job, bool, Any]]) -> None:
    for job, ok, value in outcomes:
        future = job.future
        if future.done():  # the caller went away (cancelled request)
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _resolve_all(outcomes: list[tuple[_Job, bool, Any]]) -> None:
    """Hand results back: one wake-up per event loop for a whole group, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop | None, list[tuple[_Job, bool, Any]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        if loop is None:
            _settle(items)
        elif not loop.is_closed():  # a closed loop has no one left waiting
            loop.call_soon_threadsafe(_settle, items)


def _resolve(job: _Job, ok: bool, value: Any) -> None:
    _resolve_all([(job, ok, value)])
