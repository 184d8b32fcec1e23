"""Workspaces and their credentials. Keys are stored as SHA-256 digests, never in clear."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain import clock, ids
from patron.domain.errors import InvalidInput, NotFound
from patron.domain.workspace_settings import WorkspaceSettings, settings_from
from patron.store.schema import workspaces

KeyKind = Literal["track", "app", "pipelines"]
KEY_KINDS: tuple[KeyKind, ...] = ("track", "app", "pipelines")


class Credentials(msgspec.Struct):
    """A workspace's credentials, in clear: shown once, when created or rotated."""

    workspace_id: int
    name: str
    site_id: str
    track_api_key: str | None = None
    app_api_key: str | None = None
    pipelines_write_key: str | None = None


class Workspace(msgspec.Struct, frozen=True):
    """A workspace as listed (no secrets)."""

    id: int
    name: str
    site_id: str
    created_at: int


def digest(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def create(conn: Connection, name: str) -> Credentials:
    """Create a workspace with fresh keys; the name must be new."""
    name = name.strip()
    if not name:
        raise InvalidInput("workspace name cannot be blank")
    if conn.execute(sa.select(workspaces.c.id).where(workspaces.c.name == name)).first():
        raise InvalidInput(f"a workspace named {name!r} already exists")
    creds = Credentials(
        workspace_id=0,
        name=name,
        site_id=ids.new_site_id(),
        track_api_key=ids.new_key(),
        app_api_key=ids.new_key("app_"),
        pipelines_write_key=ids.new_key("wk_"),
    )
    assert creds.track_api_key and creds.app_api_key and creds.pipelines_write_key
    creds.workspace_id = conn.execute(
        workspaces.insert()
        .values(
            name=name,
            site_id=creds.site_id,
            track_key_hash=digest(creds.track_api_key),
            app_key_hash=digest(creds.app_api_key),
            pipelines_key_hash=digest(creds.pipelines_write_key),
            secret=secrets.token_hex(32),
            created_at=clock.now(),
        )
        .returning(workspaces.c.id)
    ).scalar_one()
    return creds


def rotate(conn: Connection, name: str, kinds: tuple[KeyKind, ...] = KEY_KINDS) -> Credentials:
    """Replace some or all of a workspace's keys; old keys stop working at once."""
    row = conn.execute(sa.select(workspaces).where(workspaces.c.name == name)).first()
    if row is None:
        raise NotFound(f"no workspace named {name!r}")
    creds = Credentials(workspace_id=row.id, name=row.name, site_id=row.site_id)
    values: dict[str, str] = {}
    if "track" in kinds:
        creds.track_api_key = ids.new_key()
        values["track_key_hash"] = digest(creds.track_api_key)
    if "app" in kinds:
        creds.app_api_key = ids.new_key("app_")
        values["app_key_hash"] = digest(creds.app_api_key)
    if "pipelines" in kinds:
        creds.pipelines_write_key = ids.new_key("wk_")
        values["pipelines_key_hash"] = digest(creds.pipelines_write_key)
    conn.execute(workspaces.update().where(workspaces.c.id == row.id).values(**values))
    return creds


def list_all(conn: Connection) -> list[Workspace]:
    """Every workspace, oldest first."""
    rows = conn.execute(
        sa.select(
            workspaces.c.id, workspaces.c.name, workspaces.c.site_id, workspaces.c.created_at
        ).order_by(workspaces.c.id)
    )
    return [Workspace(r.id, r.name, r.site_id, r.created_at) for r in rows]


def count(conn: Connection) -> int:
    """How many workspaces exist."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(workspaces)).scalar_one())


def by_track_credentials(conn: Connection, site_id: str, api_key: str) -> int | None:
    """The workspace id for a Track API site id and key, or None."""
    row = conn.execute(
        sa.select(workspaces.c.id, workspaces.c.track_key_hash).where(
            workspaces.c.site_id == site_id
        )
    ).first()
    if row is None or not hmac.compare_digest(row.track_key_hash, digest(api_key)):
        return None
    return int(row.id)


def by_key(conn: Connection, kind: Literal["app", "pipelines"], key: str) -> int | None:
    """The workspace id for an App API key or a Pipelines write key, or None."""
    column = workspaces.c.app_key_hash if kind == "app" else workspaces.c.pipelines_key_hash
    row = conn.execute(sa.select(workspaces.c.id).where(column == digest(key))).first()
    return None if row is None else int(row.id)


def id_of(conn: Connection, name: str) -> int:
    """The id of the workspace called ``name``."""
    found = conn.execute(sa.select(workspaces.c.id).where(workspaces.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"no workspace named {name!r}")
    return int(found)


def settings_of(conn: Connection, ws: int) -> WorkspaceSettings:
    """A workspace's settings."""
    raw = conn.execute(sa.select(workspaces.c.settings).where(workspaces.c.id == ws)).scalar()
    return settings_from(raw)


def change_settings(conn: Connection, name: str, **changes: Any) -> WorkspaceSettings:
    """Change some settings of the workspace called ``name``; returns them all."""
    row = conn.execute(
        sa.select(workspaces.c.id, workspaces.c.settings).where(workspaces.c.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no workspace named {name!r}")
    merged = {**msgspec.to_builtins(settings_from(row.settings)), **changes}
    settings = settings_from(merged)
    conn.execute(
        workspaces.update()
        .where(workspaces.c.id == row.id)
        .values(settings=msgspec.to_builtins(settings))
    )
    return settings


def secret_of(conn: Connection, ws: int) -> bytes:
    """The workspace's signing secret (tracking links, unsubscribe and preference tokens)."""
    value = conn.execute(sa.select(workspaces.c.secret).where(workspaces.c.id == ws)).scalar()
    if not value:
        raise NotFound(f"workspace {ws} does not exist")
    return bytes.fromhex(value)
