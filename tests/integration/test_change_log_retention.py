"""The change log forgets old changes, but only those every consumer has read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.store import changes, workspaces
from patron.store.database import Database
from patron.store.migrate import prepare
from patron.store.schema import changes as changes_table
from support import scratch_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database of this test's own (the consumers table is shared by everything in one)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log.db'}"
        prepare(url)
        db = Database(url)
        yield db
        db.close()
        return
    with scratch_postgres("patron_log") as url:
        prepare(url)
        db = Database(url)
        yield db
        db.close()


def remaining(db: Database) -> list[int]:
    return db.read_sync(
        lambda c: list(
            c.execute(sa.select(changes_table.c.created_at).order_by(changes_table.c.seq)).scalars()
        )
    )


def test_prune_keeps_unread_and_recent_changes(fresh: Database) -> None:
    ws = fresh.write_sync(lambda c: workspaces.create(c, "w")).workspace_id
    for created in (100, 200, 300, 400, 5000):
        fresh.write_sync(lambda c, at=created: changes.log(c, ws, None, "identify", at))  # type: ignore[misc]
    # No consumer yet: everything old enough goes.
    assert fresh.write_sync(lambda c: changes.prune(c, 150)) == 1
    assert remaining(fresh) == [200, 300, 400, 5000]

    # A consumer that has read up to the change written at 300.
    def read_some(conn: sa.Connection) -> None:
        changes.cursor(conn, "reader", 0)
        batch = changes.read(conn, (0, 0), 2)
        changes.advance(conn, "reader", (batch[-1].txid, batch[-1].seq), 0)

    fresh.write_sync(read_some)
    assert fresh.write_sync(lambda c: changes.prune(c, 1000)) == 2  # 200 and 300, not 400
    assert remaining(fresh) == [400, 5000]

    def read_all(conn: sa.Connection) -> None:
        batch = changes.read(conn, changes.cursor(conn, "reader", 0), 10)
        changes.advance(conn, "reader", (batch[-1].txid, batch[-1].seq), 0)

    fresh.write_sync(read_all)
    assert fresh.write_sync(lambda c: changes.prune(c, 1000)) == 1  # read, but 5000 is recent
    assert remaining(fresh) == [5000]
    # A second consumer that has read nothing holds everything.
    fresh.write_sync(lambda c: changes.cursor(c, "late", 0))
    assert fresh.write_sync(lambda c: changes.prune(c, 10_000)) == 0
    assert remaining(fresh) == [5000]


def test_a_consumer_reads_changes_written_after_pruning_the_whole_log(fresh: Database) -> None:
    """On SQLite a new row is numbered one past the highest remaining ``seq``: once the
    newest rows are pruned their numbers come again, and the cursor must not be above them."""
    ws = fresh.write_sync(lambda c: workspaces.create(c, "w")).workspace_id
    for created in (100, 200, 300):
        fresh.write_sync(lambda c, at=created: changes.log(c, ws, None, "identify", at))  # type: ignore[misc]

    def read_all(conn: sa.Connection) -> list[int]:
        batch = changes.read(conn, changes.cursor(conn, "reader", 0), 10)
        if batch:
            changes.advance(conn, "reader", (batch[-1].txid, batch[-1].seq), 0)
        return [c.seq for c in batch]

    assert len(fresh.write_sync(read_all)) == 3
    assert fresh.write_sync(lambda c: changes.prune(c, 1000)) == 3
    assert remaining(fresh) == []
    fresh.write_sync(lambda c: changes.log(c, ws, None, "identify", 2000))
    assert len(fresh.write_sync(read_all)) == 1
    assert fresh.read_sync(lambda c: changes.behind(c, "reader")) is False
