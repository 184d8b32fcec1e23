"""The change log: every committed change to a person, and consumers that read it in order.

Appended in the same transaction as the change it describes. A consumer (the segment worker;
later journeys and webhooks) keeps a cursor in ``consumers`` and reads what follows it.

Reading "everything after sequence N" is only safe when rows become visible in sequence
order. On SQLite they do: one writer commits in sequence order. On PostgreSQL concurrent
writers draw sequence numbers in one order and commit in another, so a row with a smaller
``seq`` can appear after a consumer has moved past it. There each row also records its
transaction id, and a consumer reads only rows of transactions older than the oldest one still
running (``pg_snapshot_xmin``): every such transaction has finished, so nothing can still appear
below the cursor. The cursor is the pair ``(txid, seq)``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.store.prepared import Prepared
from patron.store.schema import changes, consumers, relationships

_TXID = sa.cast(sa.cast(sa.func.pg_current_xact_id(), sa.Text), sa.BigInteger)
_XMIN = sa.cast(
    sa.cast(sa.func.pg_snapshot_xmin(sa.func.pg_current_snapshot()), sa.Text), sa.BigInteger
)


class Change(msgspec.Struct, frozen=True):
    """One row of the change log."""

    seq: int
    ws: int
    person_pk: int | None
    kind: str
    segment_id: int | None
    txid: int
    created_at: int = 0


@functools.cache
def _insert(dialect: str) -> Prepared:
    statement = changes.insert()
    return Prepared(statement.values(txid=_TXID) if dialect == "postgresql" else statement)


def log(
    conn: Connection,
    ws: int,
    person_pk: int | None,
    kind: str,
    now: int,
    segment_id: int | None = None,
) -> None:
    """Append one change."""
    values: dict[str, Any] = dict(workspace_id=ws, person_pk=person_pk, kind=kind, created_at=now)
    if segment_id is not None:
        values["segment_id"] = segment_id
    _insert(conn.dialect.name).run(conn, values)


def log_many(
    conn: Connection, ws: int, entries: Iterable[tuple[int | None, str]], now: int
) -> None:
    """Append changes given as ``(person, kind)`` (one ``executemany``)."""
    rows = [dict(workspace_id=ws, person_pk=pk, kind=kind, created_at=now) for pk, kind in entries]
    _insert(conn.dialect.name).run_many(conn, rows)


def log_segment_moves(
    conn: Connection, moves: Iterable[tuple[int, int, str, int]], now: int
) -> None:
    """Append segment entries and exits: ``(workspace, person, kind, segment)`` each."""
    rows = [
        dict(workspace_id=ws, person_pk=pk, kind=kind, created_at=now, segment_id=segment_id)
        for ws, pk, kind, segment_id in moves
    ]
    _insert(conn.dialect.name).run_many(conn, rows)


def log_related(conn: Connection, ws: int, object_pk: int, kind: str, now: int) -> None:
    """One change for every person related to an object (its attributes changed, or it went)."""
    columns = ["workspace_id", "person_pk", "kind", "created_at"]
    select: list[Any] = [
        sa.literal(ws),
        relationships.c.person_pk,
        sa.literal(kind),
        sa.literal(now),
    ]
    if conn.dialect.name == "postgresql":
        columns.append("txid")
        select.append(_TXID)
    query = sa.select(*select).where(
        relationships.c.object_pk == object_pk, relationships.c.person_pk.isnot(None)
    )
    conn.execute(changes.insert().from_select(columns, query))


def cursor(conn: Connection, name: str, now: int, *, start_at_end: bool = False) -> tuple[int, int]:
    """The consumer's position, locked until the transaction ends (so that two processes
    never consume the same changes at once); created at the log's start, or at its end with
    ``start_at_end`` (a consumer that must act only on what happens from now on)."""
    row = conn.execute(
        sa.select(consumers.c.txid, consumers.c.seq)
        .where(consumers.c.name == name)
        .with_for_update()
    ).first()
    if row is not None:
        return int(row.txid), int(row.seq)
    txid, seq = 0, 0
    if start_at_end:
        last = conn.execute(
            sa.select(sa.func.coalesce(changes.c.txid, 0), changes.c.seq)
            .order_by(sa.func.coalesce(changes.c.txid, 0).desc(), changes.c.seq.desc())
            .limit(1)
        ).first()
        if last is not None:
            txid, seq = int(last[0]), int(last[1])
    conn.execute(consumers.insert().values(name=name, txid=txid, seq=seq, updated_at=now))
    return txid, seq


def advance(conn: Connection, name: str, position: tuple[int, int], now: int) -> None:
    """Move the consumer past what it has processed."""
    conn.execute(
        consumers.update()
        .where(consumers.c.name == name)
        .values(txid=position[0], seq=position[1], updated_at=now)
    )


def read(conn: Connection, position: tuple[int, int], limit: int) -> list[Change]:
    """Up to ``limit`` changes after ``position``, in a safe order (see the module notes)."""
    columns = (
        changes.c.seq,
        changes.c.workspace_id,
        changes.c.person_pk,
        changes.c.kind,
        changes.c.segment_id,
    )
    txid, seq = position
    if conn.dialect.name == "postgresql":
        xmin = conn.execute(sa.select(_XMIN)).scalar_one()
        query = (
            sa.select(*columns, changes.c.txid, changes.c.created_at)
            .where(
                changes.c.txid.isnot(None),
                sa.tuple_(changes.c.txid, changes.c.seq) > sa.tuple_(txid, seq),
                changes.c.txid < xmin,
            )
            .order_by(changes.c.txid, changes.c.seq)
        )
    else:
        query = (
            sa.select(*columns, sa.literal(0), changes.c.created_at)
            .where(changes.c.seq > seq)
            .order_by(changes.c.seq)
        )
    return [Change(*row) for row in conn.execute(query.limit(limit))]


def behind(conn: Connection, name: str) -> bool:
    """Whether changes wait for the consumer (unread, or not yet readable on PostgreSQL)."""
    row = conn.execute(
        sa.select(consumers.c.txid, consumers.c.seq).where(consumers.c.name == name)
    ).first()
    txid, seq = (0, 0) if row is None else (int(row.txid), int(row.seq))
    if conn.dialect.name == "postgresql":
        newer = sa.tuple_(changes.c.txid, changes.c.seq) > sa.tuple_(txid, seq)
        query = sa.select(changes.c.seq).where(changes.c.txid.isnot(None), newer)
    else:
        query = sa.select(changes.c.seq).where(changes.c.seq > seq)
    return conn.execute(query.limit(1)).first() is not None


PRUNE_STEP = 10_000


def prune(conn: Connection, before: int, limit: int = PRUNE_STEP) -> int:
    """Delete up to ``limit`` changes written before unix time ``before`` that every consumer
    has read (all of them, when there is no consumer); returns how many went."""
    read_by_all: list[Any] = []
    for txid, seq in conn.execute(sa.select(consumers.c.txid, consumers.c.seq)):
        if conn.dialect.name == "postgresql":
            read_by_all.append(
                sa.or_(
                    changes.c.txid.is_(None),
                    sa.tuple_(changes.c.txid, changes.c.seq) <= sa.tuple_(txid, seq),
                )
            )
        else:
            read_by_all.append(changes.c.seq <= seq)
    victims = (
        sa.select(changes.c.seq)
        .where(changes.c.created_at < before, *read_by_all)
        .order_by(changes.c.seq)
        .limit(limit)
    )
    keys = list(conn.execute(victims).scalars())
    if keys:
        conn.execute(changes.delete().where(changes.c.seq.in_(keys)))
        rewind_cursors(conn)
    return len(keys)


def rewind_cursors(conn: Connection) -> None:
    """Call after deleting change-log rows. SQLite numbers a new row one past the highest
    remaining ``seq`` (a rowid without AUTOINCREMENT), so deleting the newest rows makes it
    hand their numbers out again; a cursor left above that would skip every change to come.
    Cursors come back to the highest remaining row (no unread row is below them: anything
    above it was deleted). PostgreSQL's sequence never goes back."""
    if conn.dialect.name == "postgresql":
        return
    newest = sa.select(sa.func.coalesce(sa.func.max(changes.c.seq), 0)).scalar_subquery()
    conn.execute(consumers.update().where(consumers.c.seq > newest).values(seq=newest))
