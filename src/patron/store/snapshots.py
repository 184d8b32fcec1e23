"""Reset, snapshot and restore a workspace's data (the dev control plane).

A snapshot holds every workspace-scoped row except the change log (history that workers have
already consumed). Restoring replaces the workspace's rows with the saved ones. Saved primary
keys may meanwhile belong to other rows (SQLite reuses the highest freed rowid), so restored
rows are shifted past the current maximum and their references shifted with them.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.errors import NotFound
from patron.store import changes, exports, schema, segments

_FORMAT = 1
_UNSCOPED = {
    schema.workspaces.name,
    schema.snapshots.name,
    schema.consumers.name,
    schema.send_windows.name,
    # The clock is the dev control plane's own (reset puts it back to real time).
    schema.workspace_clocks.name,
}
# Kept by reset: configuration rather than data.
_CONFIG = {
    schema.object_types.name,
    schema.transactional_messages.name,
    schema.transactional_contents.name,
    schema.subscription_topics.name,
    schema.campaigns.name,
    schema.campaign_versions.name,
}
_HISTORY = {schema.changes.name}


def _scoped_tables() -> list[sa.Table]:
    """Workspace-scoped tables, parents before children."""
    return [t for t in schema.metadata.sorted_tables if t.name not in _UNSCOPED]


def _delete(conn: Connection, ws: int, tables: list[sa.Table]) -> None:
    for table in reversed(tables):
        conn.execute(table.delete().where(table.c.workspace_id == ws))
    # The workspace's change-log rows went too: consumers must read the ones to come.
    changes.rewind_cursors(conn)


def reset(conn: Connection, ws: int) -> None:
    """Empty a workspace of all its data; its keys, settings, object types and snapshots stay."""
    _delete(conn, ws, [t for t in _scoped_tables() if t.name not in _CONFIG])


class Snapshot(msgspec.Struct):
    format: int
    settings: dict[str, Any]
    tables: dict[str, tuple[list[str], list[list[Any]]]]


def save(conn: Connection, ws: int, name: str, now: int) -> int:
    """Save the workspace's rows under ``name`` (replacing an earlier one); returns rows saved."""
    tables: dict[str, tuple[list[str], list[list[Any]]]] = {}
    count = 0
    for table in _scoped_tables():
        if table.name in _HISTORY:
            continue
        columns = [str(c.name) for c in table.c if c.name != "workspace_id"]
        order = list(table.primary_key.columns) or [table.c[columns[0]]]
        rows = conn.execute(
            sa.select(*(table.c[c] for c in columns))
            .where(table.c.workspace_id == ws)
            .order_by(*order)
        ).all()
        tables[str(table.name)] = (columns, [list(r) for r in rows])
        count += len(rows)
    settings = conn.scalar(
        sa.select(schema.workspaces.c.settings).where(schema.workspaces.c.id == ws)
    )
    data = msgspec.msgpack.encode(Snapshot(_FORMAT, dict(settings or {}), tables))
    snaps = schema.snapshots
    conn.execute(snaps.delete().where(snaps.c.workspace_id == ws, snaps.c.name == name))
    conn.execute(snaps.insert().values(workspace_id=ws, name=name, data=data, created_at=now))
    return count


def list_saved(conn: Connection, ws: int) -> list[dict[str, Any]]:
    """Names and times of a workspace's snapshots, newest first."""
    snaps = schema.snapshots
    rows = conn.execute(
        sa.select(snaps.c.name, snaps.c.created_at)
        .where(snaps.c.workspace_id == ws)
        .order_by(snaps.c.created_at.desc(), snaps.c.name)
    ).all()
    return [{"name": r.name, "created_at": r.created_at} for r in rows]


def _single_pk(table: sa.Table) -> sa.Column[Any] | None:
    cols = list(table.primary_key.columns)
    if len(cols) == 1 and isinstance(cols[0].type, sa.Integer) and cols[0].autoincrement:
        return cols[0]
    return None


def restore(conn: Connection, ws: int, name: str) -> int:
    """Replace the workspace's rows with snapshot ``name``; returns rows restored."""
    snaps = schema.snapshots
    data = conn.scalar(
        sa.select(snaps.c.data).where(snaps.c.workspace_id == ws, snaps.c.name == name)
    )
    if data is None:
        raise NotFound(f"no snapshot named {name!r}")
    snap = msgspec.msgpack.decode(data, type=Snapshot)
    tables = _scoped_tables()
    _delete(conn, ws, tables)
    conn.execute(
        schema.workspaces.update()
        .where(schema.workspaces.c.id == ws)
        .values(settings=snap.settings)
    )
    shifts: dict[str, int] = {}
    count = 0
    for table in tables:
        if table.name not in snap.tables:
            continue
        columns, rows = snap.tables[table.name]
        pk = _single_pk(table)
        if pk is not None and rows:
            saved = [r[columns.index(pk.name)] for r in rows]
            shifts[table.name] = _shift(conn, pk, min(saved), max(saved))
        moved = {pk.name: shifts.get(table.name, 0)} if pk is not None else {}
        for column in table.c:
            for fk in column.foreign_keys:
                if fk.column.table.name in shifts:
                    moved[column.name] = shifts[fk.column.table.name]
        if rows:
            conn.execute(table.insert(), [_row(ws, columns, r, moved) for r in rows])
            count += len(rows)
        if pk is not None and rows and conn.dialect.name == "postgresql":
            _advance_sequence(conn, table, pk)
    _resume(conn, ws)
    return count


def _resume(conn: Connection, ws: int) -> None:
    """Work under way when the snapshot was saved belonged to the rows it replaced: restored
    builds start again, and pending exports drop the lease of a build nobody will finish."""
    segs, exps = schema.segments, schema.exports
    conn.execute(
        segs.update()
        .where(segs.c.workspace_id == ws, segs.c.state == segments.BUILDING)
        .values(state=segments.BUILD_QUEUED, progress=0)
    )
    conn.execute(
        exps.update()
        .where(exps.c.workspace_id == ws, exps.c.status == exports.PENDING)
        .values(lease_until=None)
    )


def _shift(conn: Connection, pk: sa.Column[Any], lowest: int, highest: int) -> int:
    """How far to move saved keys: not at all when none of their range is taken (so that
    ids clients hold, such as segment ids, survive a restore), else past the current max."""
    taken = conn.scalar(sa.select(sa.func.count()).where(pk.between(lowest, highest)))
    if not taken:
        return 0
    current = conn.scalar(sa.select(sa.func.max(pk))) or 0
    return current + 1 - lowest


def _row(ws: int, columns: list[str], values: list[Any], moved: dict[str, int]) -> dict[str, Any]:
    row = dict(zip(columns, values, strict=True))
    for column, by in moved.items():
        if by and row.get(column) is not None:
            row[column] += by
    row["workspace_id"] = ws
    return row


def _advance_sequence(conn: Connection, table: sa.Table, pk: sa.Column[Any]) -> None:
    # Rows were inserted with explicit keys: make sure the sequence hands out higher ones.
    seq = conn.scalar(
        sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk.name}
    )
    if seq is None:
        return
    conn.execute(
        sa.text(
            f"SELECT setval('{seq}', GREATEST((SELECT MAX({pk.name}) FROM {table.name}),"
            f" (SELECT last_value FROM {seq})))"
        )
    )
