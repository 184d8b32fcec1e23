"""What a sync sends: the difference between the model and the acknowledged state, as
Track v2 operations (or segment membership changes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

import msgspec
import orjson

from patron.sync.config import Sync
from patron.sync.values import attribute, digest, identifier, row_key

Kind = Literal["added", "changed", "removed"]


class Change(msgspec.Struct, array_like=True):
    """One row to send: its key, the hash and identifier to keep once acknowledged, and the
    operation (None for segment membership, which is sent by identifier)."""

    kind: Kind
    key: str
    hash: int
    ident: str | None
    op: dict[str, Any] | None
    error: str | None = None  # set when the row cannot be sent at all


class Counts(msgspec.Struct):
    """How many rows of each kind a diff found."""

    rows: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    invalid: int = 0


def signature(sync: Sync) -> str:
    """What, besides the row, decides what a row sends: when it changes, every row is sent
    again."""
    parts = [sync.type, sync.mode, sync.mapping, sync.match, sync.anonymous, sync.event,
             sync.object]  # fmt: skip
    return str(digest(msgspec.to_builtins(parts)))


class Planner:
    """Turns rows of one sync's model into operations."""

    def __init__(self, sync: Sync) -> None:
        self.sync = sync
        self.columns = tuple(sync.mapping.items())

    def _mapped(self, row: dict[str, Any]) -> dict[str, Any]:
        convert, cell = attribute, row.get
        return {attr: convert(cell(column)) for column, attr in self.columns}

    def _person(self, row: dict[str, Any]) -> tuple[dict[str, str], str]:
        match = self.sync.match
        assert match is not None
        value = identifier(row.get(match.column))
        if value is None:
            raise ValueError(f"the match column {match.column!r} is empty")
        return {match.on: value}, value

    def row(self, row: dict[str, Any]) -> tuple[Any, str | None, dict[str, Any] | None]:
        """``(what the hash covers, identifier to keep, operation)`` for one model row;
        ``ValueError`` when the row cannot become an operation."""
        sync = self.sync
        if sync.type == "customers":
            identifiers, ident = self._person(row)
            attributes = self._mapped(row)
            sent = {**attributes, "_update": True} if sync.mode == "update" else attributes
            op = {"type": "person", "action": "identify", "identifiers": identifiers,
                  "attributes": sent}  # fmt: skip
            return [ident, attributes], ident, op
        if sync.type == "segments":
            _, ident = self._person(row)
            return ident, ident, None
        if sync.type == "events":
            return self._event(row)
        return self._object(row)

    def _event(self, row: dict[str, Any]) -> tuple[Any, str | None, dict[str, Any]]:
        spec = self.sync.event
        assert spec is not None
        if self.sync.anonymous is not None:
            anonymous = identifier(row.get(self.sync.anonymous.column))
            if anonymous is None:
                raise ValueError(f"the anonymous column {self.sync.anonymous.column!r} is empty")
            identifiers, ident = {"anonymous_id": anonymous}, anonymous
        else:
            identifiers, ident = self._person(row)
        name = spec.name if spec.name_column is None else identifier(row.get(spec.name_column))
        if not name:
            raise ValueError(f"the event name column {spec.name_column!r} is empty")
        event_id = identifier(row.get(spec.id_column))
        if event_id is None:
            raise ValueError(f"the event id column {spec.id_column!r} is empty")
        op: dict[str, Any] = {
            "type": "person",
            "action": spec.kind,
            "identifiers": identifiers,
            "name": name,
            "id": event_id,
            "attributes": {k: v for k, v in self._mapped(row).items() if v is not None},
        }
        if spec.timestamp_column is not None:
            stamp = attribute(row.get(spec.timestamp_column))
            if isinstance(stamp, int | float) and not isinstance(stamp, bool):
                op["timestamp"] = int(stamp)
            elif stamp is not None:
                raise ValueError(f"{spec.timestamp_column!r} is not a time: {stamp!r}")
        return op, ident, op

    def _object(self, row: dict[str, Any]) -> tuple[Any, str | None, dict[str, Any]]:
        spec = self.sync.object
        assert spec is not None
        object_id = identifier(row.get(spec.id_column))
        if object_id is None:
            raise ValueError(f"the object id column {spec.id_column!r} is empty")
        identifiers = {"object_type_id": str(spec.type_id), "object_id": object_id}
        op: dict[str, Any] = {
            "type": "object",
            "action": "identify",
            "identifiers": identifiers,
            "attributes": self._mapped(row),
        }
        link = spec.relationships
        if link is not None:
            person = identifier(row.get(link.column))
            if person is not None:
                related = {
                    attr: attribute(row.get(column)) for column, attr in link.attributes.items()
                }
                op["cio_relationships"] = [
                    {"identifiers": {link.on: person}, "relationship_attributes": related}
                ]
        return op, orjson.dumps(identifiers).decode(), op

    def removal(self, key: str, ident: str | None) -> dict[str, Any] | None:
        """The operation for a row that left the model (None: nothing to send)."""
        sync = self.sync
        if ident is None or sync.type == "events" or sync.on_delete == "nothing":
            return None
        if sync.type == "segments":
            return None  # removed by identifier through remove_customers
        if sync.type == "objects":
            identifiers = orjson.loads(ident)
            return {"type": "object", "action": "delete", "identifiers": identifiers}
        assert sync.match is not None
        who = {sync.match.on: ident}
        if sync.on_delete == "delete":
            return {"type": "person", "action": "delete", "identifiers": who}
        cleared: dict[str, Any] = {attr: None for attr in sync.mapping.values()}
        return {"type": "person", "action": "identify", "identifiers": who,
                "attributes": {**cleared, "_update": True}}  # fmt: skip


def diff(
    sync: Sync,
    rows: Iterable[dict[str, Any]],
    acked: dict[str, int],
    failed: set[str],
    idents: Any,
    counts: Counts,
    seen: set[str],
) -> Iterator[Change]:
    """The model's rows against the acknowledged state: added and changed rows as they are
    read, then the removed ones. ``acked`` is consumed; ``idents(keys)`` gives removed rows'
    identifiers; ``seen`` is filled with the model's row keys."""
    planner = Planner(sync)
    # The hash covers the config too, so rows sent under another mapping or mode differ.
    config = signature(sync)
    columns = sync.source.key_columns
    insert_only = sync.type == "events"
    for row in rows:
        counts.rows += 1
        key = row_key(row, columns)
        if key in seen or not key:
            counts.invalid += 1
            problem = "an empty primary key" if not key else "a primary key seen twice"
            yield Change("added", key, 0, None, None, f"the row has {problem}")
            continue
        seen.add(key)
        previous = acked.pop(key, None)
        if insert_only and previous is not None and key not in failed:
            counts.unchanged += 1  # events are sent once, ever
            continue
        try:
            covered, ident, op = planner.row(row)
        except ValueError as exc:
            counts.invalid += 1
            yield Change("added" if previous is None else "changed", key, 0, None, None, str(exc))
            continue
        hashed = digest([config, covered])
        if previous == hashed and key not in failed:
            counts.unchanged += 1
            continue
        kind: Kind = "added" if previous is None else "changed"
        setattr(counts, kind, getattr(counts, kind) + 1)
        yield Change(kind, key, hashed, ident, op)
    if insert_only:
        return
    removed = list(acked)
    known = idents(removed)
    for key in removed:
        counts.removed += 1
        ident = known.get(key)
        yield Change("removed", key, 0, ident, planner.removal(key, ident))
