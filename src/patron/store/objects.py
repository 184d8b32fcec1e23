"""SQL for object types, objects and relationships."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.attributes import apply_changes
from patron.domain.operations import ObjectRef
from patron.store.schema import object_types, objects, people, relationships


class StoredObject(msgspec.Struct):
    """An object with attributes and per-attribute timestamps."""

    pk: int
    type_id: int
    object_id: str
    cio_object_id: str
    attributes: dict[str, Any]
    attribute_ts: dict[str, int]
    created_at: int


_COLUMNS = (
    objects.c.pk,
    objects.c.type_id,
    objects.c.object_id,
    objects.c.cio_object_id,
    objects.c.attributes,
    objects.c.attribute_ts,
    objects.c.created_at,
)


def find(conn: Connection, ws: int, ref: ObjectRef, *, lock: bool = False) -> StoredObject | None:
    """The object ``ref`` names."""
    query = sa.select(*_COLUMNS).where(objects.c.workspace_id == ws)
    if ref.cio_object_id is not None:
        query = query.where(objects.c.cio_object_id == ref.cio_object_id)
    else:
        query = query.where(objects.c.type_id == ref.type_id, objects.c.object_id == ref.object_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    return StoredObject(
        pk=row.pk,
        type_id=row.type_id,
        object_id=row.object_id,
        cio_object_id=row.cio_object_id,
        attributes=dict(row.attributes or {}),
        attribute_ts=dict(row.attribute_ts or {}),
        created_at=row.created_at,
    )


def ensure_type(
    conn: Connection, ws: int, type_id: int, now: int, *, create: bool = True, name: str = ""
) -> bool:
    """True when the object type exists, after creating it when unknown and ``create``."""
    exists = conn.execute(
        sa.select(object_types.c.type_id).where(
            object_types.c.workspace_id == ws, object_types.c.type_id == type_id
        )
    ).first()
    if exists is not None:
        return True
    if not create:
        return False
    conn.execute(
        object_types.insert().values(
            workspace_id=ws,
            type_id=type_id,
            name=name or f"Object type {type_id}",
            created_at=now,
        )
    )
    return True


def name_type(conn: Connection, ws: int, type_id: int, name: str, now: int) -> None:
    """Create object type ``type_id`` called ``name``, or rename it."""
    if ensure_type(conn, ws, type_id, now, name=name):
        conn.execute(
            object_types.update()
            .where(object_types.c.workspace_id == ws, object_types.c.type_id == type_id)
            .values(name=name)
        )


def insert(
    conn: Connection,
    ws: int,
    ref: ObjectRef,
    *,
    cio_object_id: str,
    attributes: dict[str, Any],
    attribute_ts: dict[str, int],
    now: int,
) -> int:
    """Create an object (a unique-key clash raises ``IntegrityError``; the writer retries)."""
    return int(
        conn.execute(
            objects.insert()
            .values(
                workspace_id=ws,
                type_id=ref.type_id,
                object_id=ref.object_id,
                cio_object_id=cio_object_id,
                attributes=attributes,
                attribute_ts=attribute_ts,
                created_at=now,
                updated_at=now,
            )
            .returning(objects.c.pk)
        ).scalar_one()
    )


def save(
    conn: Connection, pk: int, attributes: dict[str, Any], attribute_ts: dict[str, int], now: int
) -> None:
    """Write an object's attributes."""
    conn.execute(
        objects.update()
        .where(objects.c.pk == pk)
        .values(attributes=attributes, attribute_ts=attribute_ts, updated_at=now)
    )


def delete(conn: Connection, pk: int) -> None:
    """Remove an object and its relationships."""
    conn.execute(relationships.delete().where(relationships.c.object_pk == pk))
    conn.execute(objects.delete().where(objects.c.pk == pk))


# -- relationships ---------------------------------------------------------------------------


def _match(object_pk: int, person_pk: int | None, anonymous_id: str | None) -> Any:
    if person_pk is not None:
        return sa.and_(
            relationships.c.object_pk == object_pk, relationships.c.person_pk == person_pk
        )
    return sa.and_(
        relationships.c.object_pk == object_pk,
        relationships.c.person_pk.is_(None),
        relationships.c.anonymous_id == anonymous_id,
    )


def relate(
    conn: Connection,
    ws: int,
    object_pk: int,
    *,
    person_pk: int | None = None,
    anonymous_id: str | None = None,
    attributes: dict[str, Any],
    now: int,
) -> None:
    """Add a relationship, or merge new attributes into it (``None`` removes one; at most
    300 attributes, as for people and objects)."""
    row = conn.execute(
        sa.select(relationships.c.pk, relationships.c.attributes).where(
            _match(object_pk, person_pk, anonymous_id)
        )
    ).first()
    current = dict(row.attributes) if row is not None else {}
    merged, _, _ = apply_changes(current, {}, attributes, now, owner="relationship")
    if row is None:
        conn.execute(
            relationships.insert().values(
                workspace_id=ws,
                object_pk=object_pk,
                person_pk=person_pk,
                anonymous_id=anonymous_id,
                attributes=merged,
                created_at=now,
                updated_at=now,
            )
        )
    else:
        conn.execute(
            relationships.update()
            .where(relationships.c.pk == row.pk)
            .values(attributes=merged, updated_at=now)
        )


def unrelate(
    conn: Connection,
    object_pk: int,
    *,
    person_pk: int | None = None,
    anonymous_id: str | None = None,
) -> bool:
    """Remove a relationship; False when there was none."""
    result = conn.execute(relationships.delete().where(_match(object_pk, person_pk, anonymous_id)))
    return bool(result.rowcount)


def claim_anonymous(conn: Connection, ws: int, anonymous_id: str, person_pk: int) -> None:
    """Move an anonymous id's relationships to the person it now belongs to."""
    rows = conn.execute(
        sa.select(relationships.c.pk, relationships.c.object_pk).where(
            relationships.c.workspace_id == ws,
            relationships.c.anonymous_id == anonymous_id,
            relationships.c.person_pk.is_(None),
        )
    ).all()
    for row in rows:
        taken = conn.execute(
            sa.select(relationships.c.pk).where(_match(row.object_pk, person_pk, None))
        ).first()
        if taken is None:
            conn.execute(
                relationships.update()
                .where(relationships.c.pk == row.pk)
                .values(person_pk=person_pk)
            )
        else:
            conn.execute(relationships.delete().where(relationships.c.pk == row.pk))


def move_to(conn: Connection, from_pk: int, to_pk: int) -> None:
    """Merge: the secondary's relationships go to the primary (the primary's win)."""
    mine = set(
        conn.execute(
            sa.select(relationships.c.object_pk).where(relationships.c.person_pk == to_pk)
        ).scalars()
    )
    if mine:
        conn.execute(
            relationships.delete().where(
                relationships.c.person_pk == from_pk, relationships.c.object_pk.in_(mine)
            )
        )
    conn.execute(
        relationships.update().where(relationships.c.person_pk == from_pk).values(person_pk=to_pk)
    )


# -- reads ---------------------------------------------------------------------------------


def types(conn: Connection, ws: int) -> list[Any]:
    """A workspace's object types."""
    return list(
        conn.execute(
            sa.select(object_types.c.type_id, object_types.c.name)
            .where(object_types.c.workspace_id == ws)
            .order_by(object_types.c.type_id)
        )
    )


def _relationship_page(
    columns: tuple[Any, ...], joined: Any, owner: Any, owner_pk: int, offset: int, limit: int
) -> Any:
    return (
        sa.select(relationships.c.pk, relationships.c.attributes, *columns)
        .select_from(joined)
        .where(owner == owner_pk, relationships.c.pk > offset)
        .order_by(relationships.c.pk)
        .limit(limit + 1)
    )


def object_relationships(conn: Connection, object_pk: int, offset: int, limit: int) -> list[Any]:
    """People (or anonymous ids) related to an object, in relationship order, one extra row
    beyond ``limit`` to tell whether there is a next page."""
    columns = (relationships.c.anonymous_id, people.c.external_id, people.c.email, people.c.cio_id)
    joined = relationships.outerjoin(people, people.c.pk == relationships.c.person_pk)
    query = _relationship_page(columns, joined, relationships.c.object_pk, object_pk, offset, limit)
    return list(conn.execute(query))


def person_relationships(conn: Connection, person_pk: int, offset: int, limit: int) -> list[Any]:
    """Objects related to a person, like :func:`object_relationships`."""
    columns = (objects.c.type_id, objects.c.object_id, objects.c.cio_object_id)
    joined = relationships.join(objects, objects.c.pk == relationships.c.object_pk)
    query = _relationship_page(columns, joined, relationships.c.person_pk, person_pk, offset, limit)
    return list(conn.execute(query))
