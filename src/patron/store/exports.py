"""SQL for customer exports: the App API's export objects and their CSV files.

An export is created ``pending``; the export worker claims it with a lease (so that two
processes never build the same one, and one that died is picked up again), builds the CSV and
stores it gzip-compressed with the row count: ``done``, or ``failed`` with the reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.store.prepared import json_value
from patron.store.schema import exports

CUSTOMERS = "customers"
PENDING = "pending"
DONE = "done"
FAILED = "failed"


class Export(msgspec.Struct):
    """A stored export (without its file)."""

    id: int
    ws: int
    type: str
    filters: Any
    description: str
    status: str
    total: int
    downloads: int
    failure: str | None
    secret: str
    created_at: int
    updated_at: int

    def view(self) -> dict[str, Any]:
        """The App API's export object."""
        return {
            "id": self.id,
            "user_id": None,
            "user_email": None,
            "total": self.total,
            "deduplicate_id": f"{self.id}:{self.updated_at}",
            "type": self.type,
            "failed": self.status == FAILED,
            "status": self.status,
            "description": self.description,
            "downloads": self.downloads,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_COLUMNS = (
    exports.c.id,
    exports.c.workspace_id,
    exports.c.type,
    exports.c.filters,
    exports.c.description,
    exports.c.status,
    exports.c.total,
    exports.c.downloads,
    exports.c.failure,
    exports.c.secret,
    exports.c.created_at,
    exports.c.updated_at,
)


def _export(row: Sequence[Any]) -> Export:
    values = list(row)
    values[3] = json_value(values[3])
    return Export(*values)


def create(conn: Connection, ws: int, filters: Any, description: str, now: int) -> Export:
    """A new pending customers export of the people matching ``filters``."""
    values = dict(
        workspace_id=ws,
        type=CUSTOMERS,
        filters=filters,
        description=description,
        status=PENDING,
        total=0,
        downloads=0,
        failure=None,
        secret=secrets.token_hex(32),
        created_at=now,
        updated_at=now,
    )
    new_id = conn.execute(exports.insert().values(values).returning(exports.c.id)).scalar_one()
    return Export(id=new_id, ws=ws, **{k: v for k, v in values.items() if k != "workspace_id"})


def get(conn: Connection, ws: int, export_id: int) -> Export | None:
    """The workspace's export with this id."""
    return _first(conn, exports.c.workspace_id == ws, exports.c.id == export_id)


def by_id(conn: Connection, export_id: int) -> Export | None:
    """The export with this id, in whichever workspace (signed links carry no credentials)."""
    return _first(conn, exports.c.id == export_id)


def _first(conn: Connection, *criteria: Any) -> Export | None:
    row = conn.execute(sa.select(*_COLUMNS).where(*criteria)).first()
    return None if row is None else _export(row)


def all_of(conn: Connection, ws: int) -> list[Export]:
    """The workspace's exports, newest first."""
    rows = conn.execute(
        sa.select(*_COLUMNS).where(exports.c.workspace_id == ws).order_by(exports.c.id.desc())
    )
    return [_export(r) for r in rows]


def claim(conn: Connection, now: int, lease: int) -> Export | None:
    """Take the oldest pending export whose lease is free, leasing it for ``lease`` seconds."""
    row = conn.execute(
        sa.select(*_COLUMNS)
        .where(
            exports.c.status == PENDING,
            sa.or_(exports.c.lease_until.is_(None), exports.c.lease_until < now),
        )
        .order_by(exports.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if row is None:
        return None
    found = _export(row)
    conn.execute(exports.update().where(exports.c.id == found.id).values(lease_until=now + lease))
    return found


def pending(conn: Connection) -> bool:
    """True while some export waits to be built."""
    query = sa.select(exports.c.id).where(exports.c.status == PENDING).limit(1)
    return conn.execute(query).first() is not None


def finish(conn: Connection, export_id: int, content: bytes, total: int, now: int) -> None:
    """Store a built export's file (gzip-compressed CSV) and row count."""
    conn.execute(
        exports.update()
        .where(exports.c.id == export_id, exports.c.status == PENDING)
        .values(status=DONE, content=content, total=total, lease_until=None, updated_at=now)
    )


def fail(conn: Connection, export_id: int, reason: str, now: int) -> None:
    """Mark an export failed, keeping why."""
    conn.execute(
        exports.update()
        .where(exports.c.id == export_id, exports.c.status == PENDING)
        .values(status=FAILED, failure=reason[:2000], lease_until=None, updated_at=now)
    )


def content(conn: Connection, export_id: int) -> bytes | None:
    """A done export's compressed file, counting the download."""
    stored = conn.execute(
        sa.select(exports.c.content).where(exports.c.id == export_id, exports.c.status == DONE)
    ).scalar()
    if stored is None:
        return None
    conn.execute(
        exports.update().where(exports.c.id == export_id).values(downloads=exports.c.downloads + 1)
    )
    return bytes(stored)
