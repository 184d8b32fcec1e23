"""The group-commit writer: what a failing function leaves behind, alone and among others."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.errors import InvalidInput
from patron.store.database import Database
from patron.store.schema import workspaces

Job = Callable[[Connection], Any]


def _named(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _insert(conn: Connection, name: str, site_id: str | None = None) -> None:
    """A workspace row, unique by name and by site id (the constraints the tests lean on)."""
    conn.execute(
        workspaces.insert().values(
            name=name, site_id=site_id or name, track_key_hash=name, app_key_hash=name,
            pipelines_key_hash=name, created_at=0,
        )
    )  # fmt: skip


def _names(database: Database, prefix: str) -> set[str]:
    query = sa.select(workspaces.c.name).where(workspaces.c.name.like(f"{prefix}%"))
    return set(database.read_sync(lambda conn: conn.execute(query).scalars().all()))


def _grouped(database: Database, jobs: list[Job]) -> list[Future[Any]]:
    """Hand ``jobs`` to the writer while it is held busy, so that it takes them as one group."""
    release = threading.Event()
    started = threading.Event()

    def hold(conn: Connection) -> None:
        started.set()
        release.wait(10)

    pool = ThreadPoolExecutor(len(jobs) + 1)
    holder = pool.submit(database.write_sync, hold)
    started.wait(10)
    futures = [pool.submit(database.write_sync, job) for job in jobs]
    while database._queue.qsize() < len(jobs):  # every job queued behind the holder
        threading.Event().wait(0.01)
    release.set()
    holder.result(10)
    pool.shutdown(wait=True)
    return futures


def test_a_lone_job_that_fails_after_writing_leaves_nothing(database: Database) -> None:
    prefix = _named("lone")

    def writes_then_fails(conn: Connection) -> None:
        _insert(conn, prefix + "-a")
        raise InvalidInput("rule broken after a write")

    with pytest.raises(InvalidInput, match="rule broken"):
        database.write_sync(writes_then_fails)
    database.write_sync(lambda conn: _insert(conn, prefix + "-b"))
    assert _names(database, prefix) == {prefix + "-b"}


def test_a_lone_job_that_loses_a_unique_race_runs_again(database: Database) -> None:
    prefix = _named("race")
    database.write_sync(lambda conn: _insert(conn, prefix + "-taken"))
    attempts: list[int] = []

    def races(conn: Connection) -> int:
        attempts.append(1)
        _insert(conn, prefix + f"-{len(attempts)}")  # written, then undone on the first try
        if len(attempts) == 1:
            _insert(conn, prefix + "-taken")  # IntegrityError, as when another writer won
        return len(attempts)

    assert database.write_sync(races) == 2
    assert _names(database, prefix) == {prefix + "-taken", prefix + "-2"}


def test_a_lone_job_that_always_conflicts_fails_with_the_integrity_error(
    database: Database,
) -> None:
    prefix = _named("always")
    database.write_sync(lambda conn: _insert(conn, prefix))
    with pytest.raises(sa.exc.IntegrityError):
        database.write_sync(lambda conn: _insert(conn, prefix))
    assert _names(database, prefix) == {prefix}


def test_in_a_group_only_the_failing_job_is_undone(db_url: str) -> None:
    database = Database(db_url, writer_threads=1, read_pool_size=1)  # one writer: one group
    prefix = _named("group")

    def fine(n: int) -> Job:
        return lambda conn: _insert(conn, f"{prefix}-{n}") or n

    def writes_then_fails(conn: Connection) -> None:
        _insert(conn, prefix + "-bad")
        raise InvalidInput("this one only")

    try:
        futures = _grouped(database, [fine(1), writes_then_fails, fine(2), fine(3)])
        assert [f.result() for f in (futures[0], futures[2], futures[3])] == [1, 2, 3]
        with pytest.raises(InvalidInput, match="this one only"):
            futures[1].result()
        assert _names(database, prefix) == {f"{prefix}-{n}" for n in (1, 2, 3)}
    finally:
        database.close()
