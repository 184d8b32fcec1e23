"""Track API v2 operations (wire spec §3) translated into internal operations."""

from __future__ import annotations

from typing import Any

import msgspec

from patron.domain.attributes import parse_identify, parse_unix
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import ALL_KINDS, Identifier, check_value, from_object, identifier
from patron.domain.limits import json_size
from patron.domain.objects import (
    parse_object_attributes,
    parse_object_ref,
    related_objects,
    related_people,
)
from patron.domain.operations import (
    DeleteDevice,
    DeleteObject,
    DeletePerson,
    DeliveryMetric,
    IdentifyObject,
    Merge,
    ObjectRelationships,
    Operation,
    PersonRelationships,
    Related,
    Suppress,
    Unsuppress,
)
from patron.domain.track import PUSH_EVENTS, parse_device, parse_event

MAX_OPERATION_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024

PERSON_ACTIONS = frozenset(
    {
        "identify", "delete", "event", "page", "screen", "add_device", "delete_device",
        "merge", "suppress", "unsuppress", "add_relationships", "delete_relationships",
    }
)  # fmt: skip
OBJECT_ACTIONS = frozenset(
    {"identify", "identify_anonymous", "delete", "add_relationships", "delete_relationships"}
)


def _fail(message: str, field: str, reason: str) -> InvalidInput:
    return InvalidInput(message, field=field, reason=reason)


def _person(raw: dict[str, Any], *, allow_anonymous: bool) -> Identifier | str:
    """The person an operation names, or an anonymous id (events only)."""
    identifiers = raw.get("identifiers")
    if not isinstance(identifiers, dict) or not identifiers:
        raise _fail("identifiers is required and must be an object", "identifiers", "required")
    present = [k for k, v in identifiers.items() if v not in (None, "")]
    if present == ["anonymous_id"] and allow_anonymous:
        return check_value(identifiers["anonymous_id"], "identifiers.anonymous_id")
    if len(present) != 1 or present[0] not in ALL_KINDS:
        raise _fail(
            "You cannot pass multiple identifiers: identifiers needs exactly one of "
            "id, email or cio_id",
            "identifiers",
            "invalid_identifiers",
        )
    kind = present[0]
    # A phone is checked against the workspace's settings when the operation is applied.
    return identifier(kind, identifiers[kind], f"identifiers.{kind}")


def _who(raw: dict[str, Any]) -> Identifier:
    who = _person(raw, allow_anonymous=False)
    assert isinstance(who, Identifier)
    return who


def _object(raw: dict[str, Any], field: str) -> dict[str, Any]:
    value = raw.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(f"{field} must be an object", field, "invalid_type")
    return value


def _person_operation(raw: dict[str, Any], action: str) -> Operation:
    if action in ("add_relationships", "delete_relationships"):
        if raw.get("cio_relationships") is None:
            raise _fail("cio_relationships is required", "cio_relationships", "required")
        return PersonRelationships(
            who=_who(raw),
            objects=related_objects(raw["cio_relationships"]),
            add=action == "add_relationships",
        )
    if action == "merge":
        return Merge(
            primary=from_object(raw.get("primary"), "primary"),
            secondary=from_object(raw.get("secondary"), "secondary"),
        )
    if action in ("event", "page", "screen"):
        who = _person(raw, allow_anonymous=True)
        body = {
            "name": raw.get("name"),
            "type": action,
            "data": _object(raw, "attributes"),
            "timestamp": raw.get("timestamp"),
            "id": raw.get("id"),
        }
        if isinstance(who, str):
            return parse_event({**body, "anonymous_id": who}, None)
        return parse_event(body, who)
    who = _who(raw)
    if action == "identify":
        attributes = _object(raw, "attributes")
        op = parse_identify(who, {**attributes, "_timestamp": raw.get("timestamp")})
        if raw.get("cio_relationships") is not None:
            op = msgspec.structs.replace(
                op, add_relationships=related_objects(raw["cio_relationships"])
            )
        return op
    if action == "add_device":
        return parse_device({"device": raw.get("device")}, who)
    if action == "delete_device":
        device = _object(raw, "device")
        token = device.get("token")
        if not isinstance(token, str) or not token.strip():
            raise _fail("device.token is required", "device.token", "required")
        return DeleteDevice(who, token.strip())
    if action == "delete":
        return DeletePerson(who)
    return Suppress(who) if action == "suppress" else Unsuppress(who)


def _object_operation(raw: dict[str, Any], action: str) -> Operation:
    ref = parse_object_ref(raw.get("identifiers"))
    if action == "delete":
        return DeleteObject(ref)
    if action in ("identify", "identify_anonymous"):
        anonymous = action == "identify_anonymous"
        related = related_people(raw.get("cio_relationships") or [], anonymous=anonymous)
        if anonymous and raw.get("anonymous_id") not in (None, ""):
            # The spec's example also puts the anonymous id at the top level.
            anonymous_id = check_value(raw["anonymous_id"], "anonymous_id")
            related = (*related, Related(anonymous_id=anonymous_id))
        if ref.cio_object_id is None and ref.object_id is None:
            raise _fail("identifiers are required", "identifiers", "required")
        return IdentifyObject(
            object=ref,
            attributes=parse_object_attributes(raw.get("attributes")),
            relationships=related,
        )
    if raw.get("cio_relationships") is None:
        raise _fail("cio_relationships is required", "cio_relationships", "required")
    return ObjectRelationships(
        object=ref,
        people=related_people(raw["cio_relationships"]),
        add=action == "add_relationships",
    )


def _delivery_operation(raw: dict[str, Any]) -> Operation:
    identifiers = _object(raw, "identifiers")
    delivery_id = identifiers.get("id")
    if not isinstance(delivery_id, str) or not delivery_id.strip():
        raise _fail("identifiers.id (the delivery id) is required", "identifiers.id", "required")
    name = raw.get("name")
    if not isinstance(name, str) or name not in PUSH_EVENTS:
        raise _fail(
            f"name must be one of {', '.join(sorted(PUSH_EVENTS))}", "name", "invalid_value"
        )
    attributes = _object(raw, "attributes")
    token = attributes.get("device_token")
    if not isinstance(token, str) or not token.strip():
        raise _fail("attributes.device_token is required", "attributes.device_token", "required")
    return DeliveryMetric(
        delivery_id=delivery_id.strip(),
        metric=name,
        source="track_v2",
        timestamp=parse_unix(raw.get("timestamp"), "timestamp"),
        data={"device_token": token},
    )


def parse_operation(raw: Any) -> Operation:
    """One v2 operation; raises :class:`InvalidInput` with a ``reason`` when it is invalid."""
    if not isinstance(raw, dict):
        raise _fail("an operation must be a JSON object", "", "invalid_type")
    size = json_size(raw)
    if size > MAX_OPERATION_BYTES:
        raise _fail(
            f"operation is {size} bytes; the limit is {MAX_OPERATION_BYTES} bytes", "", "too_large"
        )
    kind = raw.get("type")
    action = raw.get("action")
    if kind not in ("person", "object", "delivery"):
        raise _fail("type must be one of person, object, delivery", "type", "invalid_type")
    if not isinstance(action, str):
        raise _fail("action is required", "action", "required")
    if kind == "delivery":
        if action != "event":
            raise _fail("delivery operations support the action event", "action", "invalid_action")
        return _delivery_operation(raw)
    if kind == "object":
        if action not in OBJECT_ACTIONS:
            raise _fail(f"unknown object action {action!r}", "action", "invalid_action")
        return _object_operation(raw, action)
    if action not in PERSON_ACTIONS:
        raise _fail(f"unknown person action {action!r}", "action", "invalid_action")
    return _person_operation(raw, action)
