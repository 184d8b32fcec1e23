"""SQL for the activity log: events, page and screen views, system activities."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from patron.domain import cursors
from patron.store.prepared import Prepared, one_of
from patron.store.schema import activities, people

ANONYMOUS_MERGE_WINDOW = 30 * 24 * 3600


_INSERT = Prepared(activities.insert(), json=("data",))


@functools.cache
def _insert_deduplicated(dialect_name: str) -> Prepared:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return Prepared(
        dialect.insert(activities).on_conflict_do_nothing(
            index_elements=["workspace_id", "event_id"],
            index_where=activities.c.event_id.isnot(None),
        ),
        json=("data",),
    )


def record(
    conn: Connection,
    ws: int,
    *,
    type: str,
    timestamp: int,
    now: int,
    person_pk: int | None = None,
    name: str | None = None,
    data: dict[str, Any] | None = None,
    anonymous_id: str | None = None,
    event_id: str | None = None,
) -> bool:
    """Append an activity; with ``event_id`` a repeat within the workspace is ignored.

    Returns False when the activity was a duplicate.
    """
    values = dict(
        workspace_id=ws,
        person_pk=person_pk,
        anonymous_id=anonymous_id,
        type=type,
        name=name,
        event_id=event_id,
        timestamp=timestamp,
        data=data or {},
        created_at=now,
    )
    if event_id is None:
        _INSERT.run(conn, values)
        return True
    return bool(_insert_deduplicated(conn.dialect.name).run(conn, values))


def record_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append activities given as whole rows, every column named (one ``executemany``; their
    event ids were checked with :func:`taken_event_ids`)."""
    _INSERT.run_many(conn, rows)


@functools.cache
def _taken_statement(dialect: str) -> Prepared:
    return Prepared(
        sa.select(activities.c.event_id).where(
            activities.c.workspace_id == sa.bindparam("ws"),
            one_of(activities.c.event_id, "event_ids", dialect),
        ),
        json=("event_ids",),
    )


def taken_event_ids(conn: Connection, ws: int, event_ids: Sequence[str]) -> set[str]:
    """Which of ``event_ids`` an activity of the workspace already has."""
    statement = _taken_statement(conn.dialect.name)
    rows = statement.rows(conn, {"ws": ws, "event_ids": sorted(set(event_ids))})
    return {event_id for (event_id,) in rows}


def record_segment_moves(
    conn: Connection, moves: Sequence[tuple[int, int, str, dict[str, Any]]], now: int
) -> None:
    """System activities for many people at once (segment entries and exits):
    ``(workspace, person, type, data)`` each."""
    conn.execute(
        activities.insert(),
        [
            dict(workspace_id=ws, person_pk=pk, type=type, timestamp=now, data=data, created_at=now)
            for ws, pk, type, data in moves
        ],
    )


def claim_anonymous(conn: Connection, ws: int, anonymous_id: str, pk: int, now: int) -> int:
    """Give a person the anonymous events with this id from the last 30 days; returns count."""
    result = conn.execute(
        activities.update()
        .where(
            activities.c.workspace_id == ws,
            activities.c.anonymous_id == anonymous_id,
            activities.c.person_pk.is_(None),
            activities.c.timestamp >= now - ANONYMOUS_MERGE_WINDOW,
        )
        .values(person_pk=pk)
    )
    return int(result.rowcount)


# -- reading --------------------------------------------------------------------------------


def page(
    conn: Connection,
    ws: int,
    *,
    person_pk: int | None = None,
    type: str | None = None,
    name: str | None = None,
    start: str | None = None,
    limit: int = 50,
) -> tuple[list[Any], str]:
    """Activity rows newest first, and the token of the next page ("" on the last page)."""
    query = (
        sa.select(
            activities,
            people.c.external_id.label("person_id"),
            people.c.email.label("person_email"),
            people.c.cio_id.label("person_cio_id"),
        )
        .select_from(activities.outerjoin(people, people.c.pk == activities.c.person_pk))
        .where(activities.c.workspace_id == ws)
    )
    if person_pk is not None:
        query = query.where(activities.c.person_pk == person_pk)
    if type:
        query = query.where(activities.c.type == type)
    if name:
        query = query.where(activities.c.name == name)
    if start:
        ts, seq = cursors.decode(start, 2)
        query = query.where(
            sa.or_(
                activities.c.timestamp < ts,
                sa.and_(activities.c.timestamp == ts, activities.c.seq < seq),
            )
        )
    rows = list(
        conn.execute(
            query.order_by(activities.c.timestamp.desc(), activities.c.seq.desc()).limit(limit + 1)
        )
    )
    next_token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        next_token = cursors.encode(rows[-1].timestamp, rows[-1].seq)
    return rows, next_token


def written_at(conn: Connection, ws: int, person_pk: int, type: str, at: int) -> list[Any]:
    """A person's activities of ``type`` written at ``at`` (one write's): seq, name, data,
    timestamp."""
    a = activities
    return list(
        conn.execute(
            sa.select(a.c.seq, a.c.name, a.c.data, a.c.timestamp).where(
                a.c.workspace_id == ws,
                a.c.person_pk == person_pk,
                a.c.type == type,
                a.c.created_at == at,
            )
        )
    )


def performed_since(conn: Connection, ws: int, person_pk: int, name: str, since: int) -> bool:
    """Whether the person performed event ``name`` at or after ``since``."""
    a = activities
    query = sa.select(a.c.seq).where(
        a.c.workspace_id == ws,
        a.c.person_pk == person_pk,
        a.c.type == "event",
        a.c.name == name,
        a.c.timestamp >= since,
    )
    return conn.execute(query.limit(1)).first() is not None
