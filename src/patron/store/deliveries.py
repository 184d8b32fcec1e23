"""SQL for message deliveries (created by messaging; looked up by metrics and unsubscribe)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.store.schema import deliveries


def workspace_of_delivery(conn: Connection, delivery_id: str, ws: int | None = None) -> int | None:
    """The workspace a delivery belongs to (restricted to ``ws`` when given), or None."""
    query = sa.select(deliveries.c.workspace_id).where(deliveries.c.delivery_id == delivery_id)
    if ws is not None:
        query = query.where(deliveries.c.workspace_id == ws)
    value = conn.execute(query.limit(1)).scalar_one_or_none()
    return None if value is None else int(value)


def create(
    conn: Connection, ws: int, delivery_id: str, person_pk: int | None, channel: str, now: int
) -> None:
    """Record a delivery (messaging calls this when it sends)."""
    conn.execute(
        deliveries.insert().values(
            workspace_id=ws,
            delivery_id=delivery_id,
            person_pk=person_pk,
            channel=channel,
            created_at=now,
        )
    )
