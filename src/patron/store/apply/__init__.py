"""The one write path: apply internal operations inside the caller's transaction.

Every ingress (Track v1 and v2, Pipelines, imports, sync) builds operations and calls
:func:`apply` or :func:`apply_each`. Rules come from :mod:`patron.domain`; this module only
fetches the state those rules need and writes their outcome, with an activity and a change-log
row for each change to a person. Reads and writes of people, activities and changes go through
a :class:`~patron.store.unit_of_work.UnitOfWork`, which serves a batch's identify and event
operations from memory and writes them in bulk.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from patron.domain import clock
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier
from patron.domain.operations import Identify, Operation, TrackEvent, names_phone
from patron.store.apply.message_ops import MessageOps
from patron.store.apply.object_ops import ObjectOps
from patron.store.apply.person_ops import PersonOps


def apply(conn: Connection, ws: int, ops: Sequence[Operation], now: int | None = None) -> None:
    """Apply ``ops`` in order for workspace ``ws`` inside the caller's transaction."""
    writer = _Writer(conn, ws, clock.now(ws) if now is None else now)
    writer.preload(ops)
    for op in ops:
        writer.apply(op)
    writer.finish()


class _WroteBeforeFailing(Exception):
    """An operation broke a rule after it had buffered writes, which cannot be taken back."""


def apply_each(
    conn: Connection, ws: int, ops: Sequence[Operation], now: int | None = None
) -> dict[int, InvalidInput]:
    """Apply ``ops`` in order, each on its own: one that breaks a rule (say, a person's
    300-attribute limit) is skipped and reported by index, and the others still apply.

    Identify and event operations break rules before they write anything, so they need no
    savepoint; other operations get one each. Should an operation fail after writing, the
    whole run starts again with one savepoint and one writer per operation.
    """
    at = clock.now(ws) if now is None else now
    savepoint = conn.begin_nested()
    try:
        writer = _Writer(conn, ws, at)
        writer.preload(ops)
        errors: dict[int, InvalidInput] = {}
        for index, op in enumerate(ops):
            try:
                writer.apply_alone(op)
            except InvalidInput as exc:
                errors[index] = exc
        writer.finish()
    except _WroteBeforeFailing:
        savepoint.rollback()
    else:
        savepoint.commit()
        return errors
    errors = {}
    for index, op in enumerate(ops):
        savepoint = conn.begin_nested()
        try:
            apply(conn, ws, [op], at)
        except InvalidInput as exc:
            savepoint.rollback()
            errors[index] = exc
        else:
            savepoint.commit()
    return errors


def _buffered(op: Operation) -> bool:
    """Whether ``op`` reads and writes only through the unit of work (see its notes)."""
    if isinstance(op, Identify):
        return op.anonymous_id is None and not op.add_relationships and not op.delete_relationships
    return isinstance(op, TrackEvent)


class _Writer(PersonOps, ObjectOps, MessageOps):
    """Applies operations one after another (see the module notes)."""

    def preload(self, ops: Sequence[Operation]) -> None:
        """Fetch what a batch's identify and event operations name, in a few queries."""
        if len(ops) < 2:
            return
        idents: list[Identifier] = []
        event_ids: list[str] = []
        creates = 0
        for op in ops:
            if isinstance(op, Identify) and _buffered(op):
                idents.append(op.who)
                idents += [Identifier(k, v) for k, v in op.assign.items()]  # type: ignore[arg-type]
                creates += 1
            elif isinstance(op, TrackEvent):
                if op.who is not None:
                    idents.append(op.who)
                    creates += 1
                if op.event_id is not None:
                    event_ids.append(op.event_id)
        self.uow.preload(idents, event_ids, creates)

    def apply(self, op: Operation) -> None:
        if names_phone(op) and not self._settings().phone_identifiers:
            raise InvalidInput(
                "phone identifiers are not enabled in this workspace "
                "(patron workspace settings NAME --phone-identifiers)",
                field="identifiers.phone",
                reason="not_enabled",
            )
        buffered = _buffered(op)
        if not buffered:
            # It runs its own SQL: on the stored rows, and with nothing cached.
            self.uow.flush()
        self.uow.buffering = buffered
        getattr(self, "_" + str(type(op).__struct_config__.tag))(op)

    def apply_alone(self, op: Operation) -> None:
        """Apply ``op``, or raise ``InvalidInput`` with nothing of it written."""
        if _buffered(op):
            writes = self.uow.writes
            try:
                self.apply(op)
            except InvalidInput:
                if self.uow.writes != writes:
                    raise _WroteBeforeFailing() from None
                raise
            return
        self.uow.flush()
        savepoint = self.conn.begin_nested()
        try:
            self.apply(op)
        except InvalidInput:
            savepoint.rollback()
            raise
        savepoint.commit()

    def finish(self) -> None:
        """Write what the unit of work holds back."""
        self.uow.flush()
