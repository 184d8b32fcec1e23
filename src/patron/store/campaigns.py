"""Campaign definitions and their versions.

A campaign row holds what finds it (``trigger_kind``/``trigger_key``), its state and its
current version; ``campaign_versions`` holds every version's definition, since runs finish the
version they entered with. Compiled versions are cached: a version never changes.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.campaigns import Campaign, parse_campaigns
from patron.store.schema import campaign_versions, campaigns, journey_runs


@dataclass(frozen=True)
class Stored:
    """A campaign as stored: its current definition and bookkeeping."""

    campaign: Campaign
    version: int
    webhook_token: str | None
    activated_at: int | None
    created_at: int
    updated_at: int
    trigger_key: str | None


@functools.lru_cache(maxsize=1024)
def _compiled(definition: bytes) -> Campaign:
    import orjson

    return parse_campaigns([orjson.loads(definition)])[0]


def _campaign(definition: dict[str, Any]) -> Campaign:
    import orjson

    return _compiled(orjson.dumps(definition, option=orjson.OPT_SORT_KEYS))


def _stored(row: Any, definition: dict[str, Any]) -> Stored:
    return Stored(
        campaign=_campaign(definition),
        version=row.version,
        webhook_token=row.webhook_token,
        activated_at=row.activated_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        trigger_key=row.trigger_key,
    )


def _load(conn: Connection, ws: int, *where: Any) -> list[Stored]:
    c, v = campaigns, campaign_versions
    rows = conn.execute(
        sa.select(c, v.c.definition)
        .join(
            v,
            sa.and_(
                v.c.workspace_id == c.c.workspace_id,
                v.c.campaign_id == c.c.id,
                v.c.version == c.c.version,
            ),
        )
        .where(c.c.workspace_id == ws, *where)
        .order_by(c.c.id)
    ).all()
    return [_stored(r, r.definition) for r in rows]


def all_of(conn: Connection, ws: int) -> list[Stored]:
    """Every campaign of the workspace, by id."""
    return _load(conn, ws)


def get(conn: Connection, ws: int, campaign_id: int) -> Stored | None:
    """One campaign by id."""
    found = _load(conn, ws, campaigns.c.id == campaign_id)
    return found[0] if found else None


def triggered_by(conn: Connection, ws: int, kind: str, keys: list[str]) -> list[Stored]:
    """The running campaigns a trigger of ``kind`` with one of ``keys`` starts."""
    if not keys:
        return []
    return _load(
        conn,
        ws,
        campaigns.c.state == "running",
        campaigns.c.trigger_kind == kind,
        campaigns.c.trigger_key.in_(keys),
    )


def by_webhook_token(conn: Connection, token: str) -> tuple[int, Stored] | None:
    """The campaign whose webhook URL ends in ``token``, with its workspace."""
    ws = conn.execute(
        sa.select(campaigns.c.workspace_id).where(campaigns.c.webhook_token == token)
    ).scalar()
    if ws is None:
        return None
    found = _load(conn, ws, campaigns.c.webhook_token == token)
    return (int(ws), found[0]) if found else None


def version(conn: Connection, ws: int, campaign_id: int, number: int) -> Campaign | None:
    """A campaign as it was at ``number`` (what a run that entered then follows)."""
    v = campaign_versions
    definition = conn.execute(
        sa.select(v.c.definition).where(
            v.c.workspace_id == ws, v.c.campaign_id == campaign_id, v.c.version == number
        )
    ).scalar()
    return None if definition is None else _campaign(definition)


def put(conn: Connection, ws: int, campaign: Campaign, trigger_key: str | None, now: int) -> str:
    """Create or change a campaign; a changed definition becomes a new version. Returns
    ``created``, ``updated`` or ``unchanged``."""
    c = campaigns
    row = conn.execute(
        sa.select(c).where(c.c.workspace_id == ws, c.c.id == campaign.id).with_for_update()
    ).first()
    fingerprint = campaign.fingerprint()
    if row is not None and row.fingerprint == fingerprint and row.trigger_key == trigger_key:
        return "unchanged"
    number = 1 if row is None else row.version + 1
    conn.execute(
        campaign_versions.insert().values(
            workspace_id=ws,
            campaign_id=campaign.id,
            version=number,
            definition=campaign.raw,
            created_at=now,
        )
    )
    running = campaign.state == "running"
    values: dict[str, Any] = {
        "name": campaign.name,
        "state": campaign.state,
        "trigger_kind": campaign.trigger.kind,
        "trigger_key": trigger_key,
        "version": number,
        "fingerprint": fingerprint,
        "updated_at": now,
    }
    if row is None:
        token = secrets.token_hex(8) if campaign.trigger.kind == "webhook" else None
        conn.execute(
            c.insert().values(
                workspace_id=ws,
                id=campaign.id,
                webhook_token=token,
                activated_at=now if running else None,
                created_at=now,
                **values,
            )
        )
        return "created"
    if running and row.state != "running":
        values["activated_at"] = now
    if campaign.trigger.kind == "webhook" and row.webhook_token is None:
        values["webhook_token"] = secrets.token_hex(8)
    conn.execute(c.update().where(c.c.workspace_id == ws, c.c.id == campaign.id).values(**values))
    return "updated"


def delete(conn: Connection, ws: int, campaign_id: int) -> None:
    """Remove a campaign, its versions and its runs."""
    for table, column in (
        (journey_runs, journey_runs.c.campaign_id),
        (campaign_versions, campaign_versions.c.campaign_id),
        (campaigns, campaigns.c.id),
    ):
        conn.execute(table.delete().where(table.c.workspace_id == ws, column == campaign_id))


def any_running(conn: Connection, ws: int) -> bool:
    """Whether the workspace has a running campaign."""
    c = campaigns
    query = sa.select(c.c.id).where(c.c.workspace_id == ws, c.c.state == "running")
    return conn.execute(query.limit(1)).first() is not None
