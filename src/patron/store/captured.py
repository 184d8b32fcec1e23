"""SQL for the dev inbox: the messages the capture provider kept (``captured_messages``;
``store.deliveries.capture`` writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.store.schema import captured_messages


@dataclass(frozen=True)
class Captured:
    """One captured message as stored."""

    pk: int
    delivery_id: str
    channel: str
    recipients: list[str]
    subject: str | None
    raw: bytes
    created_at: int

    @classmethod
    def of(cls, r: Any) -> Captured:
        recipients = r.recipients if isinstance(r.recipients, list) else []
        return cls(
            pk=int(r.pk),
            delivery_id=r.delivery_id,
            channel=r.channel,
            recipients=[str(x) for x in recipients],
            subject=r.subject,
            raw=bytes(r.raw),
            created_at=int(r.created_at),
        )


def newest(
    conn: Connection,
    ws: int,
    limit: int,
    *,
    before_pk: int | None = None,
    delivery_id: str | None = None,
) -> list[Captured]:
    """Up to ``limit`` captured messages, newest first, below ``before_pk``."""
    c = captured_messages
    query = sa.select(c).where(c.c.workspace_id == ws).order_by(c.c.pk.desc()).limit(limit)
    if before_pk is not None:
        query = query.where(c.c.pk < before_pk)
    if delivery_id is not None:
        query = query.where(c.c.delivery_id == delivery_id)
    return [Captured.of(r) for r in conn.execute(query)]


def latest_pk(conn: Connection, ws: int) -> int:
    """The key of the newest captured message (0 when there is none): a cheap "anything
    new?" for waiting readers."""
    c = captured_messages
    value = conn.execute(sa.select(sa.func.max(c.c.pk)).where(c.c.workspace_id == ws)).scalar()
    return int(value or 0)


def clear(conn: Connection, ws: int) -> int:
    """Forget the workspace's captured messages; how many there were."""
    c = captured_messages
    return int(conn.execute(c.delete().where(c.c.workspace_id == ws)).rowcount or 0)
