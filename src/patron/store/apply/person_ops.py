"""Operations on people: identify, anonymous ids, events, devices, merge, delete, suppress."""

from __future__ import annotations

import msgspec

from patron.domain import ids
from patron.domain.attributes import apply_changes, fill_gaps, newer_wins, parse_identify
from patron.domain.identifiers import Identifier, check_phone, looks_like_email
from patron.domain.identity import PersonIds, resolve_identify
from patron.domain.operations import (
    AddDevice,
    DeleteDevice,
    DeletePerson,
    Identify,
    IdentifyAnonymous,
    Merge,
    Suppress,
    TrackEvent,
    Unsuppress,
)
from patron.domain.values import to_wire
from patron.store import activities, people, segments, suppressions
from patron.store import objects as objects_store
from patron.store.apply.writer_base import WriterBase, attribute_diff


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


class PersonOps(WriterBase):
    """The person operations of the writer."""

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
                changes = attribute_diff(diff)
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
            self._activity("attribute_change", pk, data=attribute_diff(diff))
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
                data=attribute_diff(diff),
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
        suppressions.suppress(self.conn, self.ws, blocked, ids.new_block_id(self.ws), self.now)
        if person is not None:
            self._remove_person(person.pk)
            self._changed(person.pk, "suppress")

    def _unsuppress(self, op: Unsuppress) -> None:
        suppressions.unsuppress(self.conn, self.ws, op.who)
