"""Workspaces' virtual clocks (dev mode), kept so that a restart resumes each one's time."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.store.schema import workspace_clocks


def load_all(conn: Connection) -> dict[int, tuple[float, float | None]]:
    """Every kept clock: workspace → (offset from real time, frozen reading or None)."""
    c = workspace_clocks
    rows = conn.execute(sa.select(c.c.workspace_id, c.c.offset, c.c.frozen_at)).all()
    return {r.workspace_id: (r.offset, r.frozen_at) for r in rows}


def save(conn: Connection, ws: int, state: tuple[float, float | None] | None) -> None:
    """Keep a workspace's clock (``None``: it reads real time again)."""
    c = workspace_clocks
    conn.execute(c.delete().where(c.c.workspace_id == ws))
    if state is not None:
        conn.execute(c.insert().values(workspace_id=ws, offset=state[0], frozen_at=state[1]))
