"""The writer's shared state and helpers (store/apply/__init__.py composes the writer)."""

from __future__ import annotations

import abc
from typing import Any

from sqlalchemy.engine import Connection

from patron.domain import ids
from patron.domain.attributes import apply_changes
from patron.domain.identifiers import Identifier
from patron.domain.operations import (
    Identify,
    Related,
)
from patron.domain.values import to_wire
from patron.domain.workspace_settings import WorkspaceSettings
from patron.store import people, segments, workspaces
from patron.store.unit_of_work import UnitOfWork


def attribute_diff(diff: dict[str, list[Any]]) -> dict[str, Any]:
    """An attribute diff as activities record it: ``{name: {"from", "to"}}`` in wire form."""
    return {name: {"from": to_wire(old), "to": to_wire(new)} for name, (old, new) in diff.items()}


class WriterBase(abc.ABC):
    """What every group of operations shares: the transaction, the workspace, the clock
    reading, the unit of work, and the lookups and writes of people."""

    def __init__(self, conn: Connection, ws: int, now: int) -> None:
        self.conn = conn
        self.ws = ws
        self.now = now
        self._workspace_settings: WorkspaceSettings | None = None
        self.uow = UnitOfWork(conn, ws, now)

    def _settings(self) -> WorkspaceSettings:
        if self._workspace_settings is None:
            self._workspace_settings = workspaces.settings_of(self.conn, self.ws)
        return self._workspace_settings

    # -- helpers ----------------------------------------------------------------------------

    def _activity(self, type: str, person_pk: int | None, **kw: Any) -> bool:
        kw.setdefault("timestamp", self.now)
        return self.uow.activity(type, person_pk, **kw)

    def _changed(self, person_pk: int | None, kind: str) -> None:
        self.uow.change(person_pk, kind)

    def _remove_person(self, pk: int) -> None:
        segments.drop_person(self.conn, self.ws, pk, self.now)
        people.delete(self.conn, pk)

    def _find(self, ident: Identifier) -> people.Person | None:
        return self.uow.find(ident)

    def _get(self, pk: int) -> people.Person:
        return self.uow.get(pk)

    def _blocked(self, *idents: Identifier) -> bool:
        return self.uow.blocked(list(idents))

    def _fresh_cio_id(self) -> str:
        # Random ids never collide in practice; seeded ones repeat when a workspace is seeded
        # twice without a reset, so those are checked.
        cio_id = ids.new_cio_id(self.ws)
        while ids.current_seed(self.ws) is not None and self._find(Identifier("cio_id", cio_id)):
            cio_id = ids.new_cio_id(self.ws)
        return cio_id

    def _create(self, identifiers: dict[str, str], attributes: dict[str, Any], at: int) -> int:
        attrs, stamps, diff = apply_changes({}, {}, attributes, at)
        for kind in identifiers:
            stamps[kind] = at
        pk = self.uow.new_person(self._fresh_cio_id(), identifiers, attrs, stamps)
        self._activity(
            "profile_create", pk, data={**attribute_diff(diff), "identifiers": identifiers}
        )
        self._changed(pk, "create")
        return pk

    def _find_or_create(self, who: Identifier) -> int | None:
        """The person ``who`` names, created when unknown (None for an unknown cio_id)."""
        person = self._find(who)
        if person is not None:
            return person.pk
        if who.kind == "cio_id":
            return None
        return self._create({who.kind: who.value}, {}, self.now)

    # Implemented by the person and object operations (store/apply/person_ops.py and
    # object_ops.py), which call each other.

    @abc.abstractmethod
    def _identify(self, op: Identify) -> None: ...

    @abc.abstractmethod
    def _relate_objects(
        self, person_pk: int, related: tuple[Related, ...], *, add: bool
    ) -> None: ...

    def _person_pk(self, who: Identifier, *, create: bool) -> int | None:
        """The person ``who`` names, created if unknown when ``create``; None if blocked."""
        if self._blocked(who):
            return None
        if create:
            return self._find_or_create(who)
        person = self._find(who)
        return None if person is None else person.pk
