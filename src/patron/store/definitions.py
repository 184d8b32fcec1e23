"""Subscription topics and transactional messages (with their language variants)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.definitions import OPTION_DEFAULTS, Topic, Transactional
from patron.store.prepared import Prepared, json_value
from patron.store.schema import subscription_topics, transactional_contents, transactional_messages

# -- topics -------------------------------------------------------------------------------------


def topics(conn: Connection, ws: int) -> list[Topic]:
    """The workspace's subscription topics, by id."""
    t = subscription_topics
    rows = conn.execute(sa.select(t).where(t.c.workspace_id == ws).order_by(t.c.id)).all()
    return [Topic(r.id, r.name, r.description, r.subscribed_by_default) for r in rows]


def put_topic(conn: Connection, ws: int, topic: Topic) -> None:
    """Create or replace a topic."""
    t = subscription_topics
    values = {
        "name": topic.name,
        "description": topic.description,
        "subscribed_by_default": topic.subscribed_by_default,
    }
    done = conn.execute(
        t.update().where(t.c.workspace_id == ws, t.c.id == topic.id).values(**values)
    )
    if not done.rowcount:
        conn.execute(t.insert().values(workspace_id=ws, id=topic.id, **values))


def delete_topic(conn: Connection, ws: int, topic_id: int) -> None:
    """Remove a topic."""
    t = subscription_topics
    conn.execute(t.delete().where(t.c.workspace_id == ws, t.c.id == topic_id))


# -- transactional messages ---------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A transactional message as stored: its times and the content id of each variant."""

    message: Transactional
    created_at: int
    updated_at: int
    content_ids: dict[str, int]


def _load(conn: Connection, ws: int, where: Any) -> list[Stored]:
    m, c = transactional_messages, transactional_contents
    rows = conn.execute(sa.select(m).where(m.c.workspace_id == ws, where).order_by(m.c.id)).all()
    if not rows:
        return []
    variants = conn.execute(
        sa.select(c).where(c.c.workspace_id == ws, c.c.message_id.in_([r.id for r in rows]))
    ).all()
    by_message: dict[int, list[Any]] = {}
    for v in variants:
        by_message.setdefault(v.message_id, []).append(v)
    found = []
    for r in rows:
        own = by_message.get(r.id, [])
        default = next((v for v in own if v.language == ""), None)
        message = Transactional(
            id=r.id,
            name=r.name,
            channel=r.channel,
            description=r.description,
            options={**OPTION_DEFAULTS, **r.options},
            content=dict(default.fields) if default else {},
            languages={v.language: dict(v.fields) for v in own if v.language},
        )
        content_ids = {v.language: v.id for v in own}
        found.append(Stored(message, r.created_at, r.updated_at, content_ids))
    return found


def transactional(conn: Connection, ws: int) -> list[Stored]:
    """Every transactional message of the workspace, by id."""
    return _load(conn, ws, sa.true())


def transactional_by_id(conn: Connection, ws: int, message_id: int) -> Stored | None:
    """One transactional message by its id."""
    found = _load(conn, ws, transactional_messages.c.id == message_id)
    return found[0] if found else None


def transactional_by_ids(conn: Connection, ws: int, ids: Sequence[int]) -> dict[int, Stored]:
    """Several transactional messages by id (two queries), those that exist."""
    if not ids:
        return {}
    found = _load(conn, ws, transactional_messages.c.id.in_(sorted(set(ids))))
    return {stored.message.id: stored for stored in found}


def transactional_by_name(conn: Connection, ws: int, name: str) -> Stored | None:
    """One transactional message by trigger name, case-insensitively."""
    found = _load(conn, ws, transactional_messages.c.name_key == name.strip().lower())
    return found[0] if found else None


def _head_statement(by: str) -> Prepared:
    m = transactional_messages
    key = m.c.id if by == "id" else m.c.name_key
    return Prepared(
        sa.select(m.c.id, m.c.name, m.c.channel, m.c.description, m.c.options)
        .where(m.c.workspace_id == sa.bindparam("ws"), key == sa.bindparam("key"))
        .order_by(m.c.id)
        .limit(1)
    )


_HEAD_BY_ID = _head_statement("id")
_HEAD_BY_NAME = _head_statement("name")


def transactional_head(conn: Connection, ws: int, ref: int | str) -> Transactional | None:
    """A transactional message by id or (case-insensitively) trigger name, without its
    content: what a send request needs (its id, channel and options), in one query."""
    if isinstance(ref, int):
        row = _HEAD_BY_ID.first(conn, {"ws": ws, "key": ref})
    else:
        row = _HEAD_BY_NAME.first(conn, {"ws": ws, "key": ref.strip().lower()})
    if row is None:
        return None
    message_id, name, channel, description, options = row
    return Transactional(
        id=message_id,
        name=name,
        channel=channel,
        description=description,
        options={**OPTION_DEFAULTS, **json_value(options)},
    )


def next_transactional_id(conn: Connection, ws: int) -> int:
    """An id no transactional message of the workspace has (one past the largest)."""
    m = transactional_messages
    largest = conn.execute(sa.select(sa.func.max(m.c.id)).where(m.c.workspace_id == ws)).scalar()
    return int(largest or 0) + 1


def put_transactional(conn: Connection, ws: int, message: Transactional, now: int) -> None:
    """Create or replace a transactional message and its variants (content ids of languages
    that stay are kept)."""
    m, c = transactional_messages, transactional_contents
    values = {
        "name": message.name,
        "name_key": message.name.lower(),
        "description": message.description,
        "channel": message.channel,
        "options": message.options,
        "updated_at": now,
    }
    done = conn.execute(
        m.update().where(m.c.workspace_id == ws, m.c.id == message.id).values(**values)
    )
    if not done.rowcount:
        conn.execute(m.insert().values(workspace_id=ws, id=message.id, created_at=now, **values))
    variants = {"": message.content, **message.languages}
    conn.execute(
        c.delete().where(
            c.c.workspace_id == ws,
            c.c.message_id == message.id,
            c.c.language.not_in(list(variants)),
        )
    )
    for language, fields in variants.items():
        put_variant(conn, ws, message.id, language, fields, now)


def put_variant(
    conn: Connection, ws: int, message_id: int, language: str, fields: dict[str, Any], now: int
) -> int:
    """Create or replace one language variant; returns its content id."""
    c = transactional_contents
    where = (c.c.workspace_id == ws, c.c.message_id == message_id, c.c.language == language)
    existing = conn.execute(sa.select(c.c.id, c.c.fields).where(*where)).first()
    if existing is None:
        return int(
            conn.execute(
                c.insert()
                .values(
                    workspace_id=ws,
                    message_id=message_id,
                    language=language,
                    fields=fields,
                    created_at=now,
                    updated_at=now,
                )
                .returning(c.c.id)
            ).scalar_one()
        )
    if existing.fields != fields:
        conn.execute(c.update().where(*where).values(fields=fields, updated_at=now))
        touch_transactional(conn, ws, message_id, now)
    return int(existing.id)


def touch_transactional(conn: Connection, ws: int, message_id: int, now: int) -> None:
    """Record that a message's content changed."""
    m = transactional_messages
    conn.execute(
        m.update().where(m.c.workspace_id == ws, m.c.id == message_id).values(updated_at=now)
    )


def delete_transactional(conn: Connection, ws: int, message_id: int) -> None:
    """Remove a transactional message and its variants (its deliveries stay)."""
    m, c = transactional_messages, transactional_contents
    conn.execute(c.delete().where(c.c.workspace_id == ws, c.c.message_id == message_id))
    conn.execute(m.delete().where(m.c.workspace_id == ws, m.c.id == message_id))


def variant_times(conn: Connection, ws: int, message_id: int) -> dict[str, tuple[int, int]]:
    """When each language variant of a message was created and last changed."""
    c = transactional_contents
    rows = conn.execute(
        sa.select(c.c.language, c.c.created_at, c.c.updated_at).where(
            c.c.workspace_id == ws, c.c.message_id == message_id
        )
    )
    return {r.language: (int(r.created_at), int(r.updated_at)) for r in rows}
