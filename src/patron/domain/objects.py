"""Objects and relationships: parsing identifiers, attributes and ``cio_relationships``."""

from __future__ import annotations

from typing import Any

from patron.domain.attributes import parse_attribute_map
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import ALL_KINDS, check_value, identifier
from patron.domain.limits import json_size
from patron.domain.operations import ObjectRef, Related

MAX_OBJECT_ATTRIBUTES_BYTES = 100_000


def parse_type_id(value: Any, field: str) -> int:
    """An object type id: a string-formatted (or plain) integer starting at 1."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise InvalidInput(f'{field} must be an integer (as a string) starting at "1"', field=field)
    return value


def parse_object_ref(identifiers: Any, field: str = "identifiers") -> ObjectRef:
    """``{"object_type_id","object_id"}`` or ``{"cio_object_id"}``."""
    if not isinstance(identifiers, dict):
        raise InvalidInput(
            f"{field} is required and must be an object", field=field, reason="required"
        )
    if identifiers.get("cio_object_id") not in (None, ""):
        if identifiers.get("object_id") not in (None, ""):
            raise InvalidInput(
                f"{field} needs object_type_id + object_id, or cio_object_id, not both",
                field=field,
                reason="invalid_identifiers",
            )
        return ObjectRef(
            cio_object_id=check_value(identifiers["cio_object_id"], f"{field}.cio_object_id")
        )
    if identifiers.get("object_id") in (None, ""):
        raise InvalidInput(
            f"{field} needs object_type_id and object_id (or cio_object_id)",
            field=field,
            reason="invalid_identifiers",
        )
    return ObjectRef(
        type_id=parse_type_id(identifiers.get("object_type_id"), f"{field}.object_type_id"),
        object_id=check_value(identifiers["object_id"], f"{field}.object_id"),
    )


def parse_object_attributes(raw: Any, field: str = "attributes") -> dict[str, Any]:
    """Object or relationship attributes: ``null``/"" remove; at most 100 KB in all."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{field} must be an object", field=field)
    if json_size(raw) > MAX_OBJECT_ATTRIBUTES_BYTES:
        raise InvalidInput(
            f"{field} cannot be larger than {MAX_OBJECT_ATTRIBUTES_BYTES} bytes", field=field
        )
    return parse_attribute_map(raw)


def _items(raw: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise InvalidInput(f"{field} must be a list", field=field, reason="invalid_type")
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput(
                f"each of {field} must be an object", field=field, reason="invalid_type"
            )
    return raw


def related_objects(raw: Any, field: str = "cio_relationships") -> tuple[Related, ...]:
    """A person's ``cio_relationships``: objects with relationship attributes."""
    return tuple(
        Related(
            object=parse_object_ref(item.get("identifiers"), f"{field}.identifiers"),
            attributes=parse_object_attributes(
                item.get("relationship_attributes"), f"{field}.relationship_attributes"
            ),
        )
        for item in _items(raw, field)
    )


def related_people(
    raw: Any, field: str = "cio_relationships", *, anonymous: bool = False
) -> tuple[Related, ...]:
    """An object's ``cio_relationships``: people (or anonymous ids) with attributes."""
    out = []
    for item in _items(raw, field):
        identifiers = item.get("identifiers")
        if not isinstance(identifiers, dict):
            raise InvalidInput(f"{field}.identifiers is required", field=field, reason="required")
        attributes = parse_object_attributes(
            item.get("relationship_attributes"), f"{field}.relationship_attributes"
        )
        present = [k for k, v in identifiers.items() if v not in (None, "")]
        if anonymous and present == ["anonymous_id"]:
            anonymous_id = check_value(
                identifiers["anonymous_id"], f"{field}.identifiers.anonymous_id"
            )
            out.append(Related(anonymous_id=anonymous_id, attributes=attributes))
            continue
        if len(present) != 1 or present[0] not in ALL_KINDS:
            expected = "anonymous_id" if anonymous else "one of id, email or cio_id"
            raise InvalidInput(
                f"{field}.identifiers needs exactly {expected}",
                field=f"{field}.identifiers",
                reason="invalid_identifiers",
            )
        kind = present[0]
        person = identifier(kind, identifiers[kind], f"{field}.identifiers.{kind}")
        out.append(Related(person=person, attributes=attributes))
    return tuple(out)


def parse_v1_relationships(raw: Any) -> tuple[tuple[Related, ...], tuple[Related, ...]]:
    """Track v1 ``cio_relationships``: ``{"action": add_/delete_relationships,
    "relationships": […]}`` → (to add, to delete)."""
    if not isinstance(raw, dict):
        raise InvalidInput("cio_relationships must be an object", field="cio_relationships")
    action = raw.get("action", "add_relationships")
    if action not in ("add_relationships", "delete_relationships"):
        raise InvalidInput(
            "cio_relationships.action must be add_relationships or delete_relationships",
            field="cio_relationships.action",
        )
    related = related_objects(raw.get("relationships"), "cio_relationships.relationships")
    return (related, ()) if action == "add_relationships" else ((), related)
