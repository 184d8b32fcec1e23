"""Operations on objects and their relationships with people and anonymous ids."""

from __future__ import annotations

from typing import Any

from patron.domain import ids
from patron.domain.attributes import apply_changes
from patron.domain.errors import InvalidInput
from patron.domain.operations import (
    DeleteObject,
    IdentifyObject,
    ObjectRef,
    ObjectRelationships,
    PersonRelationships,
    Related,
)
from patron.store import changes, people
from patron.store import objects as objects_store
from patron.store.apply.writer_base import WriterBase


class ObjectOps(WriterBase):
    """The object and relationship operations of the writer."""

    def _object(self, ref: ObjectRef, *, create: bool) -> int | None:
        """The object's key; created when unknown and ``create`` (needs type + object id)."""
        found = objects_store.find(self.conn, self.ws, ref, lock=True)
        if found is not None:
            return found.pk
        return self._create_object(ref, {}, {}) if create else None

    def _fresh_cio_object_id(self) -> str:
        cio_object_id = ids.new_cio_object_id(self.ws)
        while ids.current_seed(self.ws) is not None and objects_store.find(
            self.conn, self.ws, ObjectRef(cio_object_id=cio_object_id)
        ):
            cio_object_id = ids.new_cio_object_id(self.ws)
        return cio_object_id

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
