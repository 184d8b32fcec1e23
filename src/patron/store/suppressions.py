"""SQL for suppressions: a suppressed person's identifiers, blocked from coming back."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.identifiers import Identifier
from patron.store.prepared import Prepared, one_of
from patron.store.schema import suppressions


@functools.cache
def _suppressed_statement(count: int) -> Prepared:
    pairs = (
        sa.and_(
            suppressions.c.kind == sa.bindparam(f"kind{i}"),
            suppressions.c.value_key == sa.bindparam(f"key{i}"),
        )
        for i in range(count)
    )
    return Prepared(
        sa.select(suppressions.c.pk)
        .where(suppressions.c.workspace_id == sa.bindparam("ws"), sa.or_(*pairs))
        .limit(1)
    )


def suppressed(conn: Connection, ws: int, idents: Sequence[Identifier]) -> bool:
    """True when any of ``idents`` is blocked by a suppression (one query)."""
    if not idents:
        return False
    params: dict[str, Any] = {"ws": ws}
    for i, ident in enumerate(idents):
        params[f"kind{i}"] = ident.kind
        params[f"key{i}"] = ident.key
    return _suppressed_statement(len(idents)).first(conn, params) is not None


@functools.cache
def _suppressed_among_statement(dialect: str) -> Prepared:
    return Prepared(
        sa.select(suppressions.c.kind, suppressions.c.value_key).where(
            suppressions.c.workspace_id == sa.bindparam("ws"),
            one_of(suppressions.c.value_key, "keys", dialect),
        ),
        json=("keys",),
    )


_ANY_SUPPRESSED = Prepared(
    sa.select(suppressions.c.pk).where(suppressions.c.workspace_id == sa.bindparam("ws")).limit(1)
)


def any_suppressed(conn: Connection, ws: int) -> bool:
    """Whether the workspace has any suppression at all (most have none)."""
    return _ANY_SUPPRESSED.first(conn, {"ws": ws}) is not None


def suppressed_among(
    conn: Connection, ws: int, idents: Sequence[Identifier]
) -> set[tuple[str, str]]:
    """The ``(kind, key)`` of each of ``idents`` that a suppression blocks."""
    wanted = {(i.kind, i.key) for i in idents}
    keys = sorted({key for _, key in wanted})
    statement = _suppressed_among_statement(conn.dialect.name)
    found = {(kind, key) for kind, key in statement.rows(conn, {"ws": ws, "keys": keys})}
    return found & wanted


def suppress(conn: Connection, ws: int, idents: Iterable[Identifier], block: str, now: int) -> None:
    """Block identifiers; all rows of one suppression share ``block``."""
    for ident in idents:
        key = ident.key
        exists = conn.execute(
            sa.select(suppressions.c.pk).where(
                suppressions.c.workspace_id == ws,
                suppressions.c.kind == ident.kind,
                suppressions.c.value_key == key,
            )
        ).first()
        if exists is None:
            conn.execute(
                suppressions.insert().values(
                    workspace_id=ws, kind=ident.kind, value_key=key, block=block, created_at=now
                )
            )


def unsuppress(conn: Connection, ws: int, ident: Identifier) -> bool:
    """Lift the suppression that blocks ``ident`` (with all identifiers blocked with it)."""
    block = conn.execute(
        sa.select(suppressions.c.block).where(
            suppressions.c.workspace_id == ws,
            suppressions.c.kind == ident.kind,
            suppressions.c.value_key == ident.key,
        )
    ).scalar_one_or_none()
    if block is None:
        return False
    conn.execute(
        suppressions.delete().where(
            suppressions.c.workspace_id == ws, suppressions.c.block == block
        )
    )
    return True
