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
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain import clock, ids
from patron.domain.attributes import apply_changes, fill_gaps, newer_wins, parse_identify
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier, check_phone, looks_like_email
from patron.domain.identity import PersonIds, resolve_identify
from patron.domain.operations import (
    AddDevice,
    DeleteDevice,
    DeleteObject,
    DeletePerson,
    DeliveryMetric,
    Identify,
    IdentifyAnonymous,
    IdentifyObject,
    Merge,
    ObjectRef,
    ObjectRelationships,
    Operation,
    PersonRelationships,
    RejectedCall,
    Related,
    SubmitForm,
    Suppress,
    TrackEvent,
    Unsubscribe,
    Unsuppress,
    names_phone,
)
from patron.domain.values import to_wire
from patron.domain.workspace_settings import WorkspaceSettings
from patron.store import activities, changes, people, segments, workspaces
from patron.store import objects as objects_store
from patron.store.schema import deliveries, delivery_metrics, forms
from patron.store.unit_of_work import UnitOfWork

FORM_RESERVED_FIELDS = frozenset(
    {"form_id", "form_name", "form_type", "form_url", "form_url_param"}
)


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


def _phone_to_identifier(op: Identify) -> Identify:
    """With phone identifiers enabled, a ``phone`` attribute names the person's phone."""
    attributes = dict(op.attributes)
    phone = attributes.pop("phone")
    if phone is None:
        return msgspec.structs.replace(op, attributes=attributes)
    value = check_phone(phone, "phone")
    if op.who.kind == "phone":
        return msgspec.structs.replace(op, attributes=attributes)
    return msgspec.structs.replace(op, attributes=attributes, assign={**op.assign, "phone": value})


def _buffered(op: Operation) -> bool:
    """Whether ``op`` reads and writes only through the unit of work (see its notes)."""
    if isinstance(op, Identify):
        return op.anonymous_id is None and not op.add_relationships and not op.delete_relationships
    return isinstance(op, TrackEvent)


def _attribute_diff(diff: dict[str, list[Any]]) -> dict[str, Any]:
    return {name: {"from": to_wire(old), "to": to_wire(new)} for name, (old, new) in diff.items()}


class _Writer:
    def __init__(self, conn: Connection, ws: int, now: int) -> None:
        self.conn = conn
        self.ws = ws
        self.now = now
        self._workspace_settings: WorkspaceSettings | None = None
        self.uow = UnitOfWork(conn, ws, now)

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

    def _fresh_cio_object_id(self) -> str:
        cio_object_id = ids.new_cio_object_id(self.ws)
        while ids.current_seed(self.ws) is not None and objects_store.find(
            self.conn, self.ws, ObjectRef(cio_object_id=cio_object_id)
        ):
            cio_object_id = ids.new_cio_object_id(self.ws)
        return cio_object_id

    def _create(self, identifiers: dict[str, str], attributes: dict[str, Any], at: int) -> int:
        attrs, stamps, diff = apply_changes({}, {}, attributes, at)
        for kind in identifiers:
            stamps[kind] = at
        pk = self.uow.new_person(self._fresh_cio_id(), identifiers, attrs, stamps)
        self._activity(
            "profile_create", pk, data={**_attribute_diff(diff), "identifiers": identifiers}
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

    # -- person operations -------------------------------------------------------------------

    def _identify(self, op: Identify) -> None:
        if "phone" in op.attributes and self._settings().phone_identifiers:
            op = _phone_to_identifier(op)
        named = [op.who, *(Identifier(k, v) for k, v in op.assign.items())]  # type: ignore[arg-type]
        if self._blocked(*named):
            return
        found = self.uow.holders(named)
        path = found[0]
        holders: dict[str, PersonIds | None] = {"path": None if path is None else path.ids()}
        for ident, holder in zip(named[1:], found[1:], strict=True):
            holders[ident.kind] = None if holder is None else holder.ids()
        decision = resolve_identify(op.who, op.assign, holders, update_only=op.update_only)
        at = self.now if op.timestamp is None else op.timestamp
        if decision.action == "fail":
            self._activity(
                "failed_attribute_change",
                None if decision.person is None else decision.person.pk,
                data={"reason": decision.reason, "identifier": {op.who.kind: op.who.value}},
            )
            return
        if decision.action == "create":
            pk = self._create(decision.assign, op.attributes, at)
        else:
            assert decision.person is not None
            pk = decision.person.pk
            person = path if path is not None and path.pk == pk else self._get(pk)
            attrs, stamps, diff = apply_changes(
                person.attributes, person.attribute_ts, op.attributes, at
            )
            for kind in decision.assign:
                stamps[kind] = at
            if diff or decision.assign:
                self.uow.save_person(
                    pk, identifiers=dict(decision.assign), attributes=attrs, attribute_ts=stamps
                )
                changes = _attribute_diff(diff)
                for kind, value in decision.assign.items():
                    changes[kind] = {"from": to_wire(getattr(person, kind)), "to": value}
                self._activity("attribute_change", pk, data=changes)
                self._changed(pk, "identify")
            elif stamps != person.attribute_ts:
                self.uow.save_person(pk, attribute_ts=stamps)
        if op.anonymous_id is not None:
            self._link_anonymous(op.anonymous_id, pk)
        self._relate_objects(pk, op.add_relationships, add=True)
        self._relate_objects(pk, op.delete_relationships, add=False)

    def _link_anonymous(self, anonymous_id: str, pk: int) -> None:
        owner = people.anonymous_owner(self.conn, self.ws, anonymous_id)
        if owner == pk:
            return
        if owner is not None:
            self._activity(
                "failed_attribute_change",
                pk,
                data={"reason": f"anonymous_id {anonymous_id} belongs to another person"},
            )
            return
        people.link_anonymous(self.conn, self.ws, anonymous_id, pk, self.now)
        objects_store.claim_anonymous(self.conn, self.ws, anonymous_id, pk)
        merged = activities.claim_anonymous(self.conn, self.ws, anonymous_id, pk, self.now)
        traits = self._absorb_anonymous_profile(anonymous_id, pk)
        self._activity(
            "anon_merge",
            pk,
            data={"anonymous_id": anonymous_id, "events": merged, "attributes": traits},
        )
        self._changed(pk, "anonymous_merge")

    def _absorb_anonymous_profile(self, anonymous_id: str, pk: int) -> int:
        """Move an anonymous id's traits to person ``pk``; returns how many changed."""
        profile = people.anonymous_profile(self.conn, self.ws, anonymous_id)
        if profile is None:
            return 0
        people.drop_anonymous_profile(self.conn, self.ws, anonymous_id)
        traits, trait_ts = dict(profile[0]), profile[1]
        email = traits.pop("email", None)
        person = self._get(pk)
        attrs, stamps, diff = newer_wins(person.attributes, person.attribute_ts, traits, trait_ts)
        if diff:
            self.uow.save_person(pk, attributes=attrs, attribute_ts=stamps)
            self._activity("attribute_change", pk, data=_attribute_diff(diff))
        if person.email is None and isinstance(email, str) and looks_like_email(email):
            # Through identify, so that an email held by someone else is refused as usual.
            who = Identifier("cio_id", person.cio_id)
            self._identify(Identify(who=who, attributes={}, assign={"email": email}))
        return len(diff)

    def _identify_anonymous(self, op: IdentifyAnonymous) -> None:
        at = self.now if op.timestamp is None else op.timestamp
        owner = people.anonymous_owner(self.conn, self.ws, op.anonymous_id)
        if owner is not None:
            person = self._get(owner)
            who = Identifier("cio_id", person.cio_id)
            self._identify(parse_identify(who, {**op.attributes, "_timestamp": at}))
            return
        profile = people.anonymous_profile(self.conn, self.ws, op.anonymous_id)
        current, stamps = profile if profile is not None else ({}, {})
        attrs, stamps, diff = apply_changes(
            current, stamps, op.attributes, at, owner="anonymous profile"
        )
        people.save_anonymous_profile(
            self.conn, self.ws, op.anonymous_id, attrs, stamps, now=self.now, new=profile is None
        )
        if diff:
            self._activity(
                "attribute_change",
                None,
                data=_attribute_diff(diff),
                anonymous_id=op.anonymous_id,
            )

    def _delete(self, op: DeletePerson) -> None:
        person = self._find(op.who)
        if person is None:
            return
        self._remove_person(person.pk)
        self._activity(
            "profile_delete",
            None,
            data={"identifiers": {"id": person.id, "email": person.email, "cio_id": person.cio_id}},
        )
        self._changed(person.pk, "delete")

    def _event(self, op: TrackEvent) -> None:
        person_pk: int | None = None
        anonymous_id = op.anonymous_id
        if op.who is not None:
            if self._blocked(op.who):
                return
            person_pk = self._find_or_create(op.who)
            if person_pk is None:
                self._activity(
                    "failed_event",
                    None,
                    name=op.name,
                    data={"reason": f"no person has cio_id {op.who.value}"},
                )
                return
        elif anonymous_id is not None:
            person_pk = people.anonymous_owner(self.conn, self.ws, anonymous_id)
        recorded = self._activity(
            op.kind,
            person_pk,
            name=op.name,
            data=op.data,
            timestamp=self.now if op.timestamp is None else op.timestamp,
            anonymous_id=anonymous_id,
            event_id=op.event_id,
        )
        if recorded and person_pk is not None:
            self._changed(person_pk, op.kind)

    def _add_device(self, op: AddDevice) -> None:
        if self._blocked(op.who):
            return
        pk = self._find_or_create(op.who)
        if pk is None:
            return
        people.put_device(
            self.conn,
            self.ws,
            pk,
            token=op.token,
            platform=op.platform,
            last_used=op.last_used,
            attributes=op.attributes,
            now=self.now,
        )
        self._activity(
            "device_change", pk, data={"action": "add", "id": op.token, "platform": op.platform}
        )
        self._changed(pk, "device")

    def _delete_device(self, op: DeleteDevice) -> None:
        person = self._find(op.who)
        if person is None or not people.delete_device(self.conn, self.ws, person.pk, op.token):
            return
        self._activity("device_change", person.pk, data={"action": "delete", "id": op.token})
        self._changed(person.pk, "device")

    def _merge(self, op: Merge) -> None:
        if self._blocked(op.primary, op.secondary):
            return
        secondary = self._find(op.secondary)
        if secondary is None:
            if op.secondary_may_be_anonymous:
                pk = self._find_or_create(op.primary)
                if pk is not None:
                    self._link_anonymous(op.secondary.value, pk)
            return
        primary_pk = self._find_or_create(op.primary)
        if primary_pk is None or primary_pk == secondary.pk:
            return
        primary = self._get(primary_pk)
        attrs, stamps = fill_gaps(
            primary.attributes, primary.attribute_ts, secondary.attributes, secondary.attribute_ts
        )
        inherited: dict[str, str | None] = {}
        for kind in ("id", "email", "phone"):
            theirs = getattr(secondary, kind)
            if getattr(primary, kind) is None and theirs is not None:
                inherited[kind] = theirs
                stamps[kind] = secondary.attribute_ts.get(kind, self.now)
        objects_store.move_to(self.conn, secondary.pk, primary.pk)
        people.move_belongings(self.conn, secondary.pk, primary.pk)
        segments.move_manual(self.conn, self.ws, secondary.pk, primary.pk, self.now)
        self._remove_person(secondary.pk)
        self.uow.save_person(
            primary.pk, identifiers=inherited, attributes=attrs, attribute_ts=stamps
        )
        merged = {"id": secondary.id, "email": secondary.email, "cio_id": secondary.cio_id}
        self._activity("profile_merge", primary.pk, data={"merged": merged})
        self._changed(primary.pk, "merge")
        self._changed(secondary.pk, "delete")

    def _suppress(self, op: Suppress) -> None:
        person = self._find(op.who)
        blocked = [op.who]
        if person is not None:
            blocked += [Identifier("cio_id", person.cio_id)]
            if person.id is not None:
                blocked.append(Identifier("id", person.id))
            if person.email is not None:
                blocked.append(Identifier("email", person.email))
            if person.phone is not None:
                blocked.append(Identifier("phone", person.phone))
        people.suppress(self.conn, self.ws, blocked, ids.new_block_id(self.ws), self.now)
        if person is not None:
            self._remove_person(person.pk)
            self._changed(person.pk, "suppress")

    def _unsuppress(self, op: Unsuppress) -> None:
        people.unsuppress(self.conn, self.ws, op.who)

    # -- objects and relationships -------------------------------------------------------------

    def _object(self, ref: ObjectRef, *, create: bool) -> int | None:
        """The object's key; created when unknown and ``create`` (needs type + object id)."""
        found = objects_store.find(self.conn, self.ws, ref, lock=True)
        if found is not None:
            return found.pk
        return self._create_object(ref, {}, {}) if create else None

    def _create_object(self, ref: ObjectRef, attrs: dict[str, Any], stamps: dict[str, int]) -> int:
        if ref.cio_object_id is not None:
            raise InvalidInput(
                f"no object has cio_object_id {ref.cio_object_id}",
                field="identifiers.cio_object_id",
                reason="not_found",
            )
        assert ref.type_id is not None
        strict = self._settings().object_types == "strict"
        if not objects_store.ensure_type(
            self.conn, self.ws, ref.type_id, self.now, create=not strict
        ):
            raise InvalidInput(
                f"object type {ref.type_id} does not exist in this workspace "
                "(patron workspace object-type NAME TYPE_ID TYPE_NAME creates it)",
                field="identifiers.object_type_id",
                reason="not_found",
            )
        return objects_store.insert(
            self.conn,
            self.ws,
            ref,
            cio_object_id=self._fresh_cio_object_id(),
            attributes=attrs,
            attribute_ts=stamps,
            now=self.now,
        )

    def _relate_objects(self, person_pk: int, related: tuple[Related, ...], *, add: bool) -> None:
        for rel in related:
            assert rel.object is not None
            object_pk = self._object(rel.object, create=add)
            if object_pk is None:
                continue
            if add:
                objects_store.relate(
                    self.conn, self.ws, object_pk, person_pk=person_pk,
                    attributes=rel.attributes, now=self.now,
                )  # fmt: skip
            else:
                objects_store.unrelate(self.conn, object_pk, person_pk=person_pk)
        if related:
            kind = "add_relationship" if add else "delete_relationship"
            self._activity(kind, person_pk, data={"objects": len(related)})
            self._changed(person_pk, "relationships")

    def _person_pk(self, who: Identifier, *, create: bool) -> int | None:
        """The person ``who`` names, created if unknown when ``create``; None if blocked."""
        if self._blocked(who):
            return None
        if create:
            return self._find_or_create(who)
        person = self._find(who)
        return None if person is None else person.pk

    def _person_relationships(self, op: PersonRelationships) -> None:
        pk = self._person_pk(op.who, create=op.add)
        if pk is not None:
            self._relate_objects(pk, op.objects, add=op.add)

    def _relate_people(self, object_pk: int, related: tuple[Related, ...], *, add: bool) -> None:
        for rel in related:
            person_pk: int | None = None
            anonymous_id = rel.anonymous_id
            if rel.person is not None:
                person_pk = self._person_pk(rel.person, create=add)
                if person_pk is None:
                    continue
            elif anonymous_id is not None:
                person_pk = people.anonymous_owner(self.conn, self.ws, anonymous_id)
                if person_pk is not None:
                    anonymous_id = None
            if add:
                objects_store.relate(
                    self.conn, self.ws, object_pk, person_pk=person_pk,
                    anonymous_id=anonymous_id, attributes=rel.attributes, now=self.now,
                )  # fmt: skip
            else:
                objects_store.unrelate(
                    self.conn, object_pk, person_pk=person_pk, anonymous_id=anonymous_id
                )
            if person_pk is not None:
                self._changed(person_pk, "relationships")

    def _identify_object(self, op: IdentifyObject) -> None:
        stored = objects_store.find(self.conn, self.ws, op.object, lock=True)
        current, stamps = ({}, {}) if stored is None else (stored.attributes, stored.attribute_ts)
        attrs, stamps, diff = apply_changes(
            current, stamps, op.attributes, self.now, owner="object"
        )
        if stored is None:
            object_pk = self._create_object(op.object, attrs, stamps)
        else:
            object_pk = stored.pk
            if diff:
                objects_store.save(self.conn, object_pk, attrs, stamps, self.now)
                changes.log_related(self.conn, self.ws, object_pk, "object", self.now)
        self._relate_people(object_pk, op.relationships, add=True)

    def _delete_object(self, op: DeleteObject) -> None:
        found = objects_store.find(self.conn, self.ws, op.object, lock=True)
        if found is not None:
            changes.log_related(self.conn, self.ws, found.pk, "object", self.now)
            objects_store.delete(self.conn, found.pk)

    def _object_relationships(self, op: ObjectRelationships) -> None:
        object_pk = self._object(op.object, create=op.add)
        if object_pk is not None:
            self._relate_people(object_pk, op.people, add=op.add)

    # -- forms and deliveries ------------------------------------------------------------------

    def _submit_form(self, op: SubmitForm) -> None:
        table = forms
        row = self.conn.execute(
            sa.select(table.c.fields, table.c.submissions).where(
                table.c.workspace_id == self.ws, table.c.form_id == op.form_id
            )
        ).first()
        fields = sorted(set(op.fields) | set(row.fields if row else ()))
        if row is None:
            self.conn.execute(
                table.insert().values(
                    workspace_id=self.ws,
                    form_id=op.form_id,
                    fields=fields,
                    submissions=1,
                    created_at=self.now,
                    last_submitted_at=self.now,
                )
            )
        else:
            self.conn.execute(
                table.update()
                .where(table.c.workspace_id == self.ws, table.c.form_id == op.form_id)
                .values(fields=fields, submissions=row.submissions + 1, last_submitted_at=self.now)
            )
        if op.who is None:
            return
        attributes = {
            k: v
            for k, v in op.fields.items()
            if k not in FORM_RESERVED_FIELDS and k not in ("id", "email")
        }
        assign = {k: op.fields[k] for k in ("id", "email") if op.fields.get(k)}
        assign.pop(op.who.kind, None)
        self._identify(Identify(who=op.who, attributes=attributes, assign=assign))

    def _delivery_metric(self, op: DeliveryMetric) -> None:
        self.conn.execute(
            delivery_metrics.insert().values(
                workspace_id=self.ws,
                delivery_id=op.delivery_id,
                metric=op.metric,
                source=op.source,
                timestamp=self.now if op.timestamp is None else op.timestamp,
                data=op.data,
            )
        )

    def _unsubscribe(self, op: Unsubscribe) -> None:
        delivery = self.conn.execute(
            sa.select(deliveries.c.person_pk).where(
                deliveries.c.workspace_id == self.ws, deliveries.c.delivery_id == op.delivery_id
            )
        ).first()
        if delivery is None:
            raise InvalidInput(f"delivery_id {op.delivery_id} does not exist", field="delivery_id")
        metric = "unsubscribed" if op.unsubscribe else "resubscribed"
        self._delivery_metric(DeliveryMetric(op.delivery_id, metric, "unsubscribe"))
        if delivery.person_pk is not None:
            person = self._get(delivery.person_pk)
            self._identify(
                Identify(
                    who=Identifier("cio_id", person.cio_id),
                    attributes={"unsubscribed": op.unsubscribe},
                )
            )

    def _rejected_call(self, op: RejectedCall) -> None:
        data: dict[str, Any] = {
            "source": op.source,
            "reason": op.reason,
            "field": op.field,
            "message": op.message,
        }
        if op.batch_index is not None:
            data["batch_index"] = op.batch_index
        if op.message_id is not None:
            data["message_id"] = op.message_id
        self._activity("rejected_call", None, name=op.call_type, data=data)
