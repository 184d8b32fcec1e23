"""SQL for message metrics over time: what ``/v1/transactional/{id}/metrics`` and
``…/metrics/links`` count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.store.schema import deliveries, delivery_metrics


def _joined() -> Any:
    d, m = deliveries, delivery_metrics
    return m.join(
        d, sa.and_(d.c.workspace_id == m.c.workspace_id, d.c.delivery_id == m.c.delivery_id)
    )


def template_firsts(
    conn: Connection, ws: int, template_id: int, since: int, until: int
) -> list[tuple[str, int]]:
    """``(metric, time)`` for each delivery of a transactional message and each metric it
    reached, at the metric's first time, when that falls in ``[since, until)``; ``created`` is
    each delivery's creation."""
    d, m = deliveries, delivery_metrics
    created = conn.execute(
        sa.select(d.c.created_at).where(
            d.c.workspace_id == ws,
            d.c.template_id == template_id,
            d.c.created_at >= since,
            d.c.created_at < until,
        )
    ).scalars()
    found = [("created", int(ts)) for ts in created]
    first = sa.func.min(m.c.timestamp)
    rows = conn.execute(
        sa.select(m.c.metric, first)
        .select_from(_joined())
        .where(d.c.workspace_id == ws, d.c.template_id == template_id)
        .group_by(m.c.delivery_id, m.c.metric)
        .having(sa.and_(first >= since, first < until))
    )
    found += [(str(metric), int(ts)) for metric, ts in rows]
    return found


@dataclass(frozen=True)
class Click:
    """One recorded click on a link of a delivery."""

    delivery_id: str
    timestamp: int
    link_id: int | None
    href: str


def template_clicks(
    conn: Connection, ws: int, template_id: int, since: int, until: int
) -> list[Click]:
    """Every click recorded in ``[since, until)`` on deliveries of a transactional message,
    oldest first."""
    d, m = deliveries, delivery_metrics
    rows = conn.execute(
        sa.select(m.c.delivery_id, m.c.timestamp, m.c.data)
        .select_from(_joined())
        .where(
            d.c.workspace_id == ws,
            d.c.template_id == template_id,
            m.c.metric == "clicked",
            m.c.timestamp >= since,
            m.c.timestamp < until,
        )
        .order_by(m.c.timestamp, m.c.pk)
    )
    clicks = []
    for delivery_id, ts, data in rows:
        data = data if isinstance(data, dict) else {}
        link_id = data.get("link_id")
        if isinstance(link_id, bool) or not isinstance(link_id, int):
            link_id = None
        href = data.get("href")
        clicks.append(Click(delivery_id, int(ts), link_id, href if isinstance(href, str) else ""))
    return clicks
