"""People, activities and change-log rows for one run of operations, read and written in bulk.

Applied one statement at a time, a 500 KB batch costs a lookup and a few writes per
operation. A :class:`UnitOfWork` keeps every person the run has touched in memory (an identity
map, keyed by each identifier they hold, that also remembers which identifiers nobody holds),
and holds back inserts and updates of people, with their activities and changes, until
:meth:`UnitOfWork.flush` writes each table with one ``executemany``. :meth:`preload` fetches
what a whole batch names in a few queries.

``buffering`` is set by the writer for operations whose only SQL goes through this object
(identify and event). Operations that run their own SQL on the same rows (merges, deletes,
devices, relationships, anonymous ids) flush first and then run with ``buffering`` off, where
every call goes straight to the database, as if there were no unit of work.

Nothing here decides a rule: the writer does (store/apply/), and reads the same answers
either way. Within one SQLite transaction there is one writer, so the map stays true; on
PostgreSQL people are read ``FOR UPDATE`` and a concurrent insert of the same identifier ends
in a unique-key error at the flush, which the database layer retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from sqlalchemy.engine import Connection

from patron.domain.conditions import CHANGE_FACETS
from patron.domain.identifiers import Identifier, email_key
from patron.store import activities, changes, people, suppressions
from patron.store.people import Person

Key = tuple[str, str]  # (identifier kind, stored key)


def _keys_of(person: Person) -> Iterator[Key]:
    yield ("cio_id", person.cio_id)
    if person.id is not None:
        yield ("id", person.id)
    if person.email is not None:
        yield ("email", email_key(person.email))
    if person.phone is not None:
        yield ("phone", person.phone)


def _key(ident: Identifier) -> Key:
    return (ident.kind, ident.key)


class UnitOfWork:
    """The identity map and write buffer of one writer (see the module notes)."""

    def __init__(self, conn: Connection, ws: int, now: int) -> None:
        self.conn = conn
        self.ws = ws
        self.now = now
        self.buffering = False
        self.writes = 0  # buffered writes so far, to tell whether an operation wrote any
        self._expected = 1
        self._preloaded = False  # a batch: new people's keys are reserved in a block
        self._forget()

    def _forget(self) -> None:
        self._people: dict[int, Person] = {}
        self._holder: dict[Key, int | None] = {}  # None: nobody holds it
        self._blocked: dict[Key, bool] = {}
        self._suppressions: bool | None = None  # any in the workspace; only direct ops change that
        self._event_ids: dict[str, bool] = {}  # True: an activity has it
        self._new: dict[int, None] = {}
        self._dirty: dict[int, bool] = {}  # True: identifiers changed too
        self._activities: list[dict[str, Any]] = []
        self._changes: dict[tuple[int | None, str], None] = {}
        self._changed_wholly: set[int | None] = set()
        self._free: list[int] = []
        self._last_key = 0

    # -- reads --------------------------------------------------------------------------------

    def preload(self, idents: Iterable[Identifier], event_ids: Iterable[str], creates: int) -> None:
        """Fetch, in a few queries, the people holding ``idents``, which of them are
        suppressed, and which ``event_ids`` are taken; ``creates`` bounds how many people the
        run may create."""
        self._expected = max(1, creates)
        self._preloaded = True
        wanted = {_key(i): i for i in idents}
        unknown = [i for k, i in wanted.items() if k not in self._holder]
        by_kind: dict[str, list[str]] = {}
        for ident in unknown:
            by_kind.setdefault(ident.kind, []).append(ident.key)
        for kind, keys in by_kind.items():
            for person in people.find_many(self.conn, self.ws, kind, keys, lock=True):
                self._remember(person)
        for ident in unknown:
            self._holder.setdefault(_key(ident), None)
        unchecked = [i for k, i in wanted.items() if k not in self._blocked]
        if unchecked and self._any_suppressed():
            blocked = suppressions.suppressed_among(self.conn, self.ws, unchecked)
            self._blocked.update((_key(i), _key(i) in blocked) for i in unchecked)
        self._load_event_ids(event_ids)

    def _load_event_ids(self, event_ids: Iterable[str]) -> None:
        fresh = [e for e in dict.fromkeys(event_ids) if e not in self._event_ids]
        if fresh:
            taken = activities.taken_event_ids(self.conn, self.ws, fresh)
            self._event_ids.update((e, e in taken) for e in fresh)

    def _remember(self, person: Person) -> Person:
        cached = self._people.get(person.pk)
        if cached is not None:  # ours is newer than the stored row
            return cached
        self._people[person.pk] = person
        for key in _keys_of(person):
            self._holder.setdefault(key, person.pk)
        return person

    def holders(self, idents: list[Identifier]) -> list[Person | None]:
        """For each identifier, the person holding it (locked until the transaction ends)."""
        if not self.buffering:
            return people.find_holders(self.conn, self.ws, idents)
        keys = [_key(i) for i in idents]
        unknown = [(i, k) for i, k in zip(idents, keys, strict=True) if k not in self._holder]
        if unknown:
            found = people.find_holders(self.conn, self.ws, [i for i, _ in unknown])
            for (_, key), person in zip(unknown, found, strict=True):
                if person is not None and person.pk not in self._people:
                    self._remember(person)
                # A cached person who no longer holds it (changed in this run) does not count.
                self._holder.setdefault(key, None)
        return [self._holding(k) for k in keys]

    def _holding(self, key: Key) -> Person | None:
        pk = self._holder[key]
        return None if pk is None else self._people[pk]

    def find(self, ident: Identifier) -> Person | None:
        """The person holding ``ident``."""
        if not self.buffering:
            return people.find(self.conn, self.ws, ident, lock=True)
        return self.holders([ident])[0]

    def get(self, pk: int) -> Person:
        """The person with key ``pk``, which must exist."""
        cached = self._people.get(pk)
        if cached is not None:
            return cached
        person = people.get(self.conn, pk, lock=True)
        return self._remember(person) if self.buffering else person

    def blocked(self, idents: list[Identifier]) -> bool:
        """True when a suppression blocks any of ``idents``."""
        if not self.buffering:
            return suppressions.suppressed(self.conn, self.ws, idents)
        if not self._any_suppressed():
            return False
        keys = [_key(i) for i in idents]
        known = self._blocked
        if any(known.get(k) for k in keys):
            return True
        unknown = [i for i, k in zip(idents, keys, strict=True) if k not in known]
        if unknown:
            if suppressions.suppressed(self.conn, self.ws, unknown):
                return True
            known.update((_key(i), False) for i in unknown)
        return False

    def _any_suppressed(self) -> bool:
        if self._suppressions is None:
            self._suppressions = suppressions.any_suppressed(self.conn, self.ws)
        return self._suppressions

    # -- writes -------------------------------------------------------------------------------

    def new_person(
        self,
        cio_id: str,
        identifiers: dict[str, str],
        attributes: dict[str, Any],
        attribute_ts: dict[str, int],
    ) -> int:
        """Create a person; returns their key."""
        if not self.buffering or not self._preloaded:
            # Unbuffered, or a single operation: one INSERT … RETURNING beats reserving a key.
            pk = people.insert(
                self.conn, self.ws, cio_id=cio_id, identifiers=identifiers,
                attributes=attributes, attribute_ts=attribute_ts, now=self.now,
            )  # fmt: skip
            if not self.buffering:
                return pk
        else:
            if not self._free:
                self._free = people.reserve_keys(self.conn, self._expected, self._last_key)[::-1]
            pk = self._last_key = self._free.pop()
            self._new[pk] = None
        person = Person(
            pk=pk,
            cio_id=cio_id,
            id=identifiers.get("id"),
            email=identifiers.get("email"),
            phone=identifiers.get("phone"),
            attributes=attributes,
            attribute_ts=attribute_ts,
            created_at=self.now,
        )
        self._people[pk] = person
        for key in _keys_of(person):
            self._holder[key] = pk
        self.writes += 1
        return pk

    def save_person(
        self,
        pk: int,
        *,
        identifiers: dict[str, str | None] | None = None,
        attributes: dict[str, Any] | None = None,
        attribute_ts: dict[str, int] | None = None,
    ) -> None:
        """Change a person's identifiers and/or attributes."""
        if not self.buffering:
            people.save(
                self.conn, pk, now=self.now, identifiers=identifiers,
                attributes=attributes, attribute_ts=attribute_ts,
            )  # fmt: skip
            return
        person = self._people[pk]
        changed: dict[str, Any] = {}
        for kind, value in (identifiers or {}).items():
            old = getattr(person, kind)
            if old is not None:
                self._holder[_key(Identifier(kind, old))] = None  # type: ignore[arg-type]
            if value is not None:
                self._holder[_key(Identifier(kind, value))] = pk  # type: ignore[arg-type]
            changed[kind] = value
        if attributes is not None:
            changed["attributes"] = attributes
        if attribute_ts is not None:
            changed["attribute_ts"] = attribute_ts
        self._people[pk] = msgspec.structs.replace(person, **changed)
        if pk not in self._new:
            self._dirty[pk] = self._dirty.get(pk, False) or bool(identifiers)
        self.writes += 1

    def activity(
        self,
        type: str,
        person_pk: int | None,
        *,
        timestamp: int,
        name: str | None = None,
        data: dict[str, Any] | None = None,
        anonymous_id: str | None = None,
        event_id: str | None = None,
    ) -> bool:
        """Append an activity; False (and nothing written) when ``event_id`` is taken."""
        if not self.buffering:
            return activities.record(
                self.conn, self.ws, type=type, person_pk=person_pk, now=self.now,
                timestamp=timestamp, name=name, data=data, anonymous_id=anonymous_id,
                event_id=event_id,
            )  # fmt: skip
        if event_id is not None:
            if event_id not in self._event_ids:
                self._load_event_ids([event_id])
            if self._event_ids[event_id]:
                return False
            self._event_ids[event_id] = True
        self._activities.append(
            {
                "workspace_id": self.ws,
                "person_pk": person_pk,
                "anonymous_id": anonymous_id,
                "type": type,
                "name": name,
                "event_id": event_id,
                "timestamp": timestamp,
                "data": data or {},
                "created_at": self.now,
            }
        )
        self.writes += 1
        return True

    def change(self, person_pk: int | None, kind: str) -> None:
        """Append a change-log row: one per person and kind per flush, and none after one
        that says everything about the person changed (a creation; conditions.py)."""
        if not self.buffering:
            changes.log(self.conn, self.ws, person_pk, kind, self.now)
            return
        if person_pk in self._changed_wholly:
            return
        if kind not in CHANGE_FACETS:
            self._changed_wholly.add(person_pk)
        self._changes[(person_pk, kind)] = None
        self.writes += 1

    def flush(self) -> None:
        """Write everything held back, and forget what was read (others may change it)."""
        if self._new:
            created = [self._people[pk] for pk in self._new]
            people.insert_many(self.conn, self.ws, created, self.now)
        for with_identifiers in (False, True):
            # Only what changed: an UPDATE naming an indexed column rewrites its index entry.
            updated = [
                self._people[pk] for pk, ids in self._dirty.items() if ids is with_identifiers
            ]
            people.save_many(self.conn, updated, self.now, identifiers=with_identifiers)
        if self._activities:
            activities.record_many(self.conn, self._activities)
        if self._changes:
            changes.log_many(self.conn, self.ws, self._changes, self.now)
        self._forget()
