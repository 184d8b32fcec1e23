"""SQL for people, their anonymous ids and devices (suppressions: store/suppressions.py)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.identifiers import Identifier, digest_prefix, email_key, email_sha256
from patron.domain.identity import PersonIds
from patron.store.prepared import Prepared, json_value, one_of
from patron.store.schema import (
    activities,
    anonymous_ids,
    anonymous_profiles,
    devices,
    people,
    relationships,
)

_PERSON_COLUMNS = (
    people.c.pk,
    people.c.cio_id,
    people.c.external_id,
    people.c.email,
    people.c.phone,
    people.c.attributes,
    people.c.attribute_ts,
    people.c.created_at,
)


class Person(msgspec.Struct):
    """A stored person with attributes and per-attribute timestamps."""

    pk: int
    cio_id: str
    id: str | None
    email: str | None
    phone: str | None
    attributes: dict[str, Any]
    attribute_ts: dict[str, int]
    created_at: int

    def holds(self, ident: Identifier) -> bool:
        """True when this person has ``ident``."""
        if ident.kind == "cio_id":
            return self.cio_id == ident.value
        mine = self.ids().value(ident.kind)
        return mine is not None and Identifier(ident.kind, mine).key == ident.key

    def ids(self) -> PersonIds:
        """Just the identifiers, for identity decisions."""
        return PersonIds(self.pk, self.cio_id, self.id, self.email, self.phone)


def _row_to_person(row: Sequence[Any]) -> Person:
    pk, cio_id, external_id, email, phone, attributes, attribute_ts, created_at = row
    return Person(
        pk=pk,
        cio_id=cio_id,
        id=external_id,
        email=email,
        phone=phone,
        attributes=dict(json_value(attributes) or {}),
        attribute_ts=dict(json_value(attribute_ts) or {}),
        created_at=created_at,
    )


_KEY_COLUMNS = {
    "id": people.c.external_id,
    "email": people.c.email_key,
    "cio_id": people.c.cio_id,
    "phone": people.c.phone,
}


# Statements on the ingest path are built once and reused (see patron.store.prepared).
@functools.cache
def _find_statement(kind: str, lock: bool) -> Prepared:
    query = sa.select(*_PERSON_COLUMNS).where(
        people.c.workspace_id == sa.bindparam("ws"), _KEY_COLUMNS[kind] == sa.bindparam("key")
    )
    return Prepared(query.with_for_update() if lock else query)


def find(conn: Connection, ws: int, ident: Identifier, *, lock: bool = False) -> Person | None:
    """The person holding ``ident`` in workspace ``ws``.

    With ``lock`` the row stays locked until the transaction ends (PostgreSQL's
    ``FOR UPDATE``; SQLite has one writer anyway), so read-modify-write cannot lose updates.
    """
    row = _find_statement(ident.kind, lock).first(conn, {"ws": ws, "key": ident.key})
    return None if row is None else _row_to_person(row)


@functools.cache
def _find_any_statement(kinds: tuple[str, ...]) -> Prepared:
    return Prepared(
        sa.select(*_PERSON_COLUMNS)
        .where(
            people.c.workspace_id == sa.bindparam("ws"),
            sa.or_(*(_KEY_COLUMNS[k] == sa.bindparam(f"k{i}") for i, k in enumerate(kinds))),
        )
        .with_for_update()
    )


def find_holders(conn: Connection, ws: int, idents: Sequence[Identifier]) -> list[Person | None]:
    """For each identifier, the person holding it (one locked query for all of them)."""
    params: dict[str, Any] = {"ws": ws}
    params.update({f"k{i}": ident.key for i, ident in enumerate(idents)})
    statement = _find_any_statement(tuple(i.kind for i in idents))
    found = [_row_to_person(r) for r in statement.rows(conn, params)]
    return [next((p for p in found if p.holds(ident)), None) for ident in idents]


@functools.cache
def _find_many_statement(kind: str, dialect: str, lock: bool) -> Prepared:
    query = sa.select(*_PERSON_COLUMNS).where(
        people.c.workspace_id == sa.bindparam("ws"), one_of(_KEY_COLUMNS[kind], "keys", dialect)
    )
    return Prepared(query.with_for_update() if lock else query, json=("keys",))


def find_many(
    conn: Connection, ws: int, kind: str, values: Iterable[str], *, lock: bool = False
) -> list[Person]:
    """People holding any of ``values`` as identifiers of ``kind`` (``lock`` as in
    :func:`find`)."""
    keys = sorted({email_key(v) if kind == "email" else v for v in values})
    statement = _find_many_statement(kind, conn.dialect.name, lock)
    return [_row_to_person(r) for r in statement.rows(conn, {"ws": ws, "keys": keys})]


def page(conn: Connection, ws: int, after_pk: int, limit: int) -> list[Person]:
    """Up to ``limit`` people of the workspace in creation order, after internal key
    ``after_pk``."""
    rows = conn.execute(
        sa.select(*_PERSON_COLUMNS)
        .where(people.c.workspace_id == ws, people.c.pk > after_pk)
        .order_by(people.c.pk)
        .limit(limit)
    )
    return [_row_to_person(r) for r in rows]


@functools.cache
def _get_statement(lock: bool) -> Prepared:
    query = sa.select(*_PERSON_COLUMNS).where(people.c.pk == sa.bindparam("pk"))
    return Prepared(query.with_for_update() if lock else query)


def get(conn: Connection, pk: int, *, lock: bool = False) -> Person:
    """The person with internal key ``pk`` (which must exist); ``lock`` as in :func:`find`."""
    row = _get_statement(lock).first(conn, {"pk": pk})
    assert row is not None, f"person {pk} vanished inside its transaction"
    return _row_to_person(row)


def by_email(conn: Connection, ws: int, email: str) -> list[Person]:
    """People whose email matches case-insensitively (zero or one)."""
    rows = conn.execute(
        sa.select(*_PERSON_COLUMNS).where(
            people.c.workspace_id == ws, people.c.email_key == email_key(email)
        )
    )
    return [_row_to_person(r) for r in rows]


def by_email_sha256(conn: Connection, ws: int, digest: str) -> list[Person]:
    """People whose normalized email hashes to ``digest`` (zero or one)."""
    prefix = digest_prefix(digest)
    if prefix is None:
        return []
    rows = conn.execute(
        sa.select(*_PERSON_COLUMNS).where(
            people.c.workspace_id == ws,
            people.c.email_hash == prefix,
            people.c.email_sha256 == digest.strip().lower(),
        )
    )
    return [_row_to_person(r) for r in rows]


def _email_columns(email: str | None) -> dict[str, Any]:
    digest = None if email is None else email_sha256(email)
    return {
        "email": email,
        "email_key": None if email is None else email_key(email),
        "email_sha256": digest,
        "email_hash": None if digest is None else digest_prefix(digest),
    }


def _identifier_columns(identifiers: dict[str, str | None]) -> dict[str, Any]:
    """Column values for identifiers given as ``{kind: value}`` (``None`` clears one)."""
    values: dict[str, Any] = {}
    for kind, value in identifiers.items():
        if kind == "id":
            values["external_id"] = value
        elif kind == "email":
            values.update(_email_columns(value))
        elif kind == "phone":
            values["phone"] = value
    return values


_INSERT_PERSON = Prepared(
    people.insert().returning(people.c.pk), json=("attributes", "attribute_ts")
)
_INSERT_PEOPLE = Prepared(people.insert(), json=("attributes", "attribute_ts"))


def insert(
    conn: Connection,
    ws: int,
    *,
    cio_id: str,
    identifiers: dict[str, str],
    attributes: dict[str, Any],
    attribute_ts: dict[str, int],
    now: int,
) -> int:
    """Create a person; a unique-key clash raises ``IntegrityError`` (the caller retries)."""
    row = _INSERT_PERSON.first(
        conn,
        dict(
            workspace_id=ws,
            cio_id=cio_id,
            **_identifier_columns({"id": None, "email": None, "phone": None, **identifiers}),
            attributes=attributes,
            attribute_ts=attribute_ts,
            created_at=now,
            updated_at=now,
        ),
    )
    assert row is not None
    return int(row[0])


def _full_row(person: Person, now: int) -> dict[str, Any]:
    return {
        "pk": person.pk,
        "external_id": person.id,
        **_email_columns(person.email),
        "phone": person.phone,
        "attributes": person.attributes,
        "attribute_ts": person.attribute_ts,
        "updated_at": now,
    }


def insert_many(conn: Connection, ws: int, persons: Sequence[Person], now: int) -> None:
    """Create people whose keys came from :func:`reserve_keys` (one ``executemany``)."""
    rows = []
    for p in persons:
        row = _full_row(p, now)
        row["workspace_id"] = ws
        row["cio_id"] = p.cio_id
        row["created_at"] = p.created_at
        rows.append(row)
    _INSERT_PEOPLE.run_many(conn, rows)


_LARGEST_KEY = Prepared(sa.select(sa.func.coalesce(sa.func.max(people.c.pk), 0)))


def reserve_keys(conn: Connection, count: int, after: int = 0) -> list[int]:
    """``count`` unused person keys, ascending and above ``after``, for :func:`insert_many`.

    SQLite has one writer, so the keys above the largest stored one are free until this
    transaction commits (the caller passes the last key it took as ``after``); PostgreSQL
    draws them from the column's sequence.
    """
    if conn.dialect.name == "postgresql":
        query = sa.text(
            "SELECT nextval(pg_get_serial_sequence('people', 'pk')) FROM generate_series(1, :n)"
        )
        return sorted(int(k) for k in conn.execute(query, {"n": count}).scalars())
    row = _LARGEST_KEY.first(conn, {})
    start = max(int(row[0]) if row else 0, after) + 1
    return list(range(start, start + count))


@functools.cache
def _update_statement(columns: frozenset[str]) -> Prepared:
    return Prepared(
        people.update()
        .where(people.c.pk == sa.bindparam("person_pk"))
        .values({name: sa.bindparam(name, type_=people.c[name].type) for name in columns}),
        json=("attributes", "attribute_ts"),
    )


def save(
    conn: Connection,
    pk: int,
    *,
    now: int,
    identifiers: dict[str, str | None] | None = None,
    attributes: dict[str, Any] | None = None,
    attribute_ts: dict[str, int] | None = None,
) -> None:
    """Write a person's changed identifiers and/or attributes."""
    values: dict[str, Any] = {"updated_at": now, **_identifier_columns(identifiers or {})}
    if attributes is not None:
        values["attributes"] = attributes
    if attribute_ts is not None:
        values["attribute_ts"] = attribute_ts
    _update_statement(frozenset(values)).run(conn, {"person_pk": pk, **values})


def save_many(conn: Connection, persons: Sequence[Person], now: int, *, identifiers: bool) -> None:
    """Write people's current attributes, and their identifiers when ``identifiers`` (one
    ``executemany``)."""
    rows = []
    for p in persons:
        if identifiers:
            row = _full_row(p, now)
            row["person_pk"] = row.pop("pk")
        else:
            row = {
                "person_pk": p.pk,
                "attributes": p.attributes,
                "attribute_ts": p.attribute_ts,
                "updated_at": now,
            }
        rows.append(row)
    if rows:
        _update_statement(frozenset(rows[0]) - {"person_pk"}).run_many(conn, rows)


def delete(conn: Connection, pk: int) -> None:
    """Remove a person and everything that belongs to them."""
    for table in (activities, devices, anonymous_ids, relationships):
        conn.execute(table.delete().where(table.c.person_pk == pk))
    conn.execute(people.delete().where(people.c.pk == pk))


# -- anonymous ids ------------------------------------------------------------------------


def anonymous_owner(conn: Connection, ws: int, anonymous_id: str) -> int | None:
    """The person an anonymous id is linked to."""
    return conn.execute(
        sa.select(anonymous_ids.c.person_pk).where(
            anonymous_ids.c.workspace_id == ws, anonymous_ids.c.anonymous_id == anonymous_id
        )
    ).scalar_one_or_none()


def link_anonymous(conn: Connection, ws: int, anonymous_id: str, pk: int, now: int) -> None:
    """Link an anonymous id to a person (the caller checked it is free)."""
    conn.execute(
        anonymous_ids.insert().values(
            workspace_id=ws, anonymous_id=anonymous_id, person_pk=pk, linked_at=now
        )
    )


def anonymous_profile(
    conn: Connection, ws: int, anonymous_id: str
) -> tuple[dict[str, Any], dict[str, int]] | None:
    """The traits (and their timestamps) kept for an anonymous id, if any."""
    row = conn.execute(
        sa.select(anonymous_profiles.c.attributes, anonymous_profiles.c.attribute_ts).where(
            anonymous_profiles.c.workspace_id == ws,
            anonymous_profiles.c.anonymous_id == anonymous_id,
        )
    ).first()
    return None if row is None else (json_value(row[0]), json_value(row[1]))


def save_anonymous_profile(
    conn: Connection,
    ws: int,
    anonymous_id: str,
    attributes: dict[str, Any],
    attribute_ts: dict[str, int],
    *,
    now: int,
    new: bool,
) -> None:
    """Create (``new``) or replace the traits kept for an anonymous id."""
    table = anonymous_profiles
    if new:
        conn.execute(
            table.insert().values(
                workspace_id=ws,
                anonymous_id=anonymous_id,
                attributes=attributes,
                attribute_ts=attribute_ts,
                created_at=now,
                updated_at=now,
            )
        )
        return
    conn.execute(
        table.update()
        .where(table.c.workspace_id == ws, table.c.anonymous_id == anonymous_id)
        .values(attributes=attributes, attribute_ts=attribute_ts, updated_at=now)
    )


def drop_anonymous_profile(conn: Connection, ws: int, anonymous_id: str) -> None:
    """Forget an anonymous id's traits (they have moved to a person)."""
    table = anonymous_profiles
    conn.execute(
        table.delete().where(table.c.workspace_id == ws, table.c.anonymous_id == anonymous_id)
    )


# -- devices -------------------------------------------------------------------------------


def devices_of(conn: Connection, pk: int) -> list[dict[str, Any]]:
    """A person's devices as the App API shows them."""
    rows = conn.execute(
        sa.select(devices.c.token, devices.c.platform, devices.c.last_used, devices.c.attributes)
        .where(devices.c.person_pk == pk)
        .order_by(devices.c.pk)
    )
    out = []
    for r in rows:
        device: dict[str, Any] = {"id": r.token, "platform": r.platform, "last_used": r.last_used}
        if r.attributes:
            device["attributes"] = r.attributes
        out.append(device)
    return out


def device_owner(conn: Connection, ws: int, token: str) -> tuple[int, int] | None:
    """(device pk, person pk) for a token."""
    row = conn.execute(
        sa.select(devices.c.pk, devices.c.person_pk).where(
            devices.c.workspace_id == ws, devices.c.token == token
        )
    ).first()
    return None if row is None else (int(row.pk), int(row.person_pk))


def put_device(
    conn: Connection,
    ws: int,
    pk: int,
    *,
    token: str,
    platform: str,
    last_used: int | None,
    attributes: dict[str, Any],
    now: int,
) -> None:
    """Create a device, or update it and move it to this person."""
    existing = device_owner(conn, ws, token)
    values = dict(
        person_pk=pk, platform=platform, last_used=last_used, attributes=attributes, updated_at=now
    )
    if existing is None:
        conn.execute(devices.insert().values(workspace_id=ws, token=token, **values))
    else:
        conn.execute(devices.update().where(devices.c.pk == existing[0]).values(**values))


def delete_device(conn: Connection, ws: int, pk: int, token: str) -> bool:
    """Remove a person's device; False when they had no such device."""
    result = conn.execute(
        devices.delete().where(
            devices.c.workspace_id == ws, devices.c.person_pk == pk, devices.c.token == token
        )
    )
    return bool(result.rowcount)


def move_belongings(conn: Connection, from_pk: int, to_pk: int) -> None:
    """Move activities, devices and anonymous ids from one person to another (merge)."""
    for table in (activities, devices, anonymous_ids):
        conn.execute(table.update().where(table.c.person_pk == from_pk).values(person_pk=to_pk))


def identifiers_of(conn: Connection, ws: int, keys: Sequence[int]) -> list[Any]:
    """``(pk, id, email, cio_id)`` of the workspace's people with these keys, in key order."""
    if not keys:
        return []
    return list(
        conn.execute(
            sa.select(people.c.pk, people.c.external_id, people.c.email, people.c.cio_id)
            .where(people.c.workspace_id == ws, people.c.pk.in_(list(keys)))
            .order_by(people.c.pk)
        )
    )


def with_keys(conn: Connection, ws: int, keys: Sequence[int]) -> list[Person]:
    """The workspace's people with these internal keys, in key order."""
    if not keys:
        return []
    rows = conn.execute(
        sa.select(*_PERSON_COLUMNS)
        .where(people.c.workspace_id == ws, people.c.pk.in_(list(keys)))
        .order_by(people.c.pk)
    )
    return [_row_to_person(r) for r in rows]
