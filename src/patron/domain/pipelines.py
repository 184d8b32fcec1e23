"""Data Pipelines (Segment-spec) calls translated into internal operations.

docs/pipelines.md is the user-facing version of this mapping; keep the two in step.
"""

from __future__ import annotations

from typing import Any

from patron.domain.attributes import parse_attribute_map, parse_identify
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier, check_value, optional_value
from patron.domain.limits import MAX_EVENT_NAME_BYTES, check_event_data, check_event_name, json_size
from patron.domain.objects import parse_object_attributes, parse_type_id
from patron.domain.operations import (
    AddDevice,
    DeleteDevice,
    DeleteObject,
    DeletePerson,
    DeliveryMetric,
    IdentifyAnonymous,
    IdentifyObject,
    Merge,
    ObjectRef,
    Operation,
    PersonRelationships,
    Related,
    Suppress,
    TrackEvent,
    Unsuppress,
)
from patron.domain.times import parse_time

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
DELIVERY_METRICS = frozenset({"delivered", "opened", "clicked", "converted"})
DEFAULT_OBJECT_TYPE = 1

# Trait keys that Track v1 reads as instructions; in Segment traits they are plain data, except
# ``id`` (the userId is the person's id) and ``email`` (the email identifier).
_TRAIT_DROPPED = frozenset({"id", "_timestamp", "_update", "anonymous_id", "cio_relationships"})
_OBJECT_TYPE_TRAITS = ("objectTypeId", "object_type_id")


def _fail(message: str, field: str, reason: str = "invalid_value") -> InvalidInput:
    return InvalidInput(message, field=field, reason=reason)


def _object(raw: dict[str, Any], field: str) -> dict[str, Any]:
    value = raw.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(f"{field} must be an object", field, "invalid_type")
    return value


def message_id(raw: Any) -> str | None:
    """A call's ``messageId``, when it is usable as a de-duplication key."""
    value = raw.get("messageId") if isinstance(raw, dict) else None
    if isinstance(value, str) and value.strip() and len(value.strip().encode()) <= 150:
        return value.strip()
    return None


class Call:
    """One Segment-spec call, with the batch's shared ``context`` folded in."""

    def __init__(self, raw: Any, call_type: str | None, shared_context: dict[str, Any]) -> None:
        if not isinstance(raw, dict):
            raise _fail("a call must be a JSON object", "", "invalid_type")
        size = json_size(raw)
        if size > MAX_CALL_BYTES:
            raise _fail(
                f"call is {size} bytes; the limit is {MAX_CALL_BYTES} bytes", "", "too_large"
            )
        kind = call_type or raw.get("type")
        if kind not in CALL_TYPES:
            raise _fail(f"type must be one of {', '.join(CALL_TYPES)}", "type", "invalid_type")
        self.raw = raw
        self.type: str = kind
        self.context = {**shared_context, **_object(raw, "context")}
        self.user_id = optional_value(raw.get("userId"), "userId")
        self.anonymous_id = optional_value(raw.get("anonymousId"), "anonymousId")
        self.timestamp = parse_time(
            raw.get("timestamp") or raw.get("originalTimestamp"), "timestamp"
        )
        self.message_id = message_id(raw)

    def person(self) -> Identifier | None:
        """The person the call names by ``userId``."""
        return None if self.user_id is None else Identifier("id", self.user_id)

    def require_person(self, what: str) -> Identifier:
        """The person the call names; ``what`` needs one."""
        who = self.person()
        if who is None:
            raise _fail(f"userId is required for {what}", "userId", "required")
        return who

    def require_someone(self) -> None:
        """Most calls name a person or an anonymous visitor."""
        if self.user_id is None and self.anonymous_id is None:
            raise _fail("userId or anonymousId is required", "userId", "required")


def parse_call(raw: Any, call_type: str | None = None, shared_context: Any = None) -> Operation:
    """One call (from an endpoint, or a batch item when ``call_type`` is None) as an operation;
    raises :class:`InvalidInput` with a ``reason`` when it cannot be applied."""
    context = shared_context if isinstance(shared_context, dict) else {}
    call = Call(raw, call_type, context)
    if call.type == "identify":
        return _identify(call)
    if call.type == "track":
        return _track(call)
    if call.type in ("page", "screen"):
        return _view(call)
    if call.type == "group":
        return _group(call)
    return _alias(call)


def _traits(call: Call) -> dict[str, Any]:
    traits = {k: v for k, v in _object(call.raw, "traits").items() if k not in _TRAIT_DROPPED}
    if "createdAt" in traits:
        created = traits.pop("createdAt")
        traits.setdefault("created_at", parse_time(created, "traits.createdAt"))
    return traits


def _identify(call: Call) -> Operation:
    call.require_someone()
    traits = _traits(call)
    who = call.person()
    if who is None:
        assert call.anonymous_id is not None
        return IdentifyAnonymous(
            anonymous_id=call.anonymous_id,
            attributes=parse_attribute_map(traits),
            timestamp=call.timestamp,
        )
    return parse_identify(
        who, {**traits, "_timestamp": call.timestamp, "anonymous_id": call.anonymous_id}
    )


def _device(call: Call) -> tuple[str, str | None]:
    device = call.context.get("device")
    token = device.get("token") if isinstance(device, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise _fail("context.device.token is required", "context.device.token", "required")
    platform = device.get("type") if isinstance(device, dict) else None
    if not isinstance(platform, str) or not platform.strip():
        os = call.context.get("os")
        name = os.get("name") if isinstance(os, dict) else None
        platform = name.lower() if isinstance(name, str) and name.strip() else None
    return token.strip(), None if platform is None else platform.strip()


def _object_ref(call: Call, properties: dict[str, Any]) -> ObjectRef:
    object_id = properties.get("objectId", call.raw.get("groupId"))
    if object_id in (None, ""):
        raise _fail("properties.objectId is required", "properties.objectId", "required")
    return ObjectRef(
        type_id=parse_type_id(
            properties.get("objectTypeId", DEFAULT_OBJECT_TYPE), "properties.objectTypeId"
        ),
        object_id=check_value(object_id, "properties.objectId"),
    )


def _track(call: Call) -> Operation:
    name = check_event_name(call.raw.get("event"))
    properties = check_event_data(_object(call.raw, "properties"))
    if name == "Device Created or Updated":
        token, platform = _device(call)
        if platform is None:
            raise _fail("context.device.type is required", "context.device.type", "required")
        return AddDevice(
            who=call.require_person(name),
            token=token,
            platform=platform,
            last_used=call.timestamp,
            attributes={k: v for k, v in properties.items() if v is not None},
        )
    if name == "Device Deleted":
        return DeleteDevice(who=call.require_person(name), token=_device(call)[0])
    if name == "User Deleted":
        return DeletePerson(call.require_person(name))
    if name == "User Suppressed":
        return Suppress(call.require_person(name))
    if name == "User Unsuppressed":
        return Unsuppress(call.require_person(name))
    if name == "Relationship Deleted":
        related = Related(object=_object_ref(call, properties))
        return PersonRelationships(who=call.require_person(name), objects=(related,), add=False)
    if name == "Object Deleted":
        return DeleteObject(_object_ref(call, properties))
    if name == "Report Delivery Event":
        return _delivery_event(call, properties)
    call.require_someone()
    return TrackEvent(
        name=name,
        who=call.person(),
        anonymous_id=None if call.user_id is not None else call.anonymous_id,
        data=properties,
        timestamp=call.timestamp,
        event_id=call.message_id,
    )


def _delivery_event(call: Call, properties: dict[str, Any]) -> Operation:
    delivery_id = properties.get("deliveryId")
    if not isinstance(delivery_id, str) or not delivery_id.strip():
        raise _fail("properties.deliveryId is required", "properties.deliveryId", "required")
    metric = properties.get("metric")
    if metric not in DELIVERY_METRICS:
        raise _fail(
            f"properties.metric must be one of {', '.join(sorted(DELIVERY_METRICS))}",
            "properties.metric",
        )
    extra = ("recipient", "reason", "actionValue", "href")
    return DeliveryMetric(
        delivery_id=delivery_id.strip(),
        metric=metric,
        source="pipelines",
        timestamp=call.timestamp,
        data={k: properties[k] for k in extra if properties.get(k) is not None},
    )


def _page_name(call: Call, properties: dict[str, Any]) -> str:
    name = call.raw.get("name")
    if isinstance(name, str) and name.strip():
        return name
    page = call.context.get("page")
    url = properties.get("url") or (page.get("url") if isinstance(page, dict) else None)
    if not isinstance(url, str) or not url.strip():
        raise _fail("a page call needs name or properties.url", "name", "required")
    # A URL names the page; query and fragment stay in the data's url, and names are capped.
    name = url.strip().split("#", 1)[0].split("?", 1)[0] or url.strip()
    return name.encode()[:MAX_EVENT_NAME_BYTES].decode(errors="ignore")


def _view(call: Call) -> Operation:
    call.require_someone()
    properties = dict(check_event_data(_object(call.raw, "properties")))
    if call.type == "page":
        name = _page_name(call, properties)
    else:
        screen = call.raw.get("name") or properties.get("name")
        if not isinstance(screen, str) or not screen.strip():
            raise _fail("a screen call needs name", "name", "required")
        name = screen
    category = call.raw.get("category")
    if isinstance(category, str) and category:
        properties.setdefault("category", category)
    return TrackEvent(
        name=check_event_name(name),
        kind=call.type,
        who=call.person(),
        anonymous_id=None if call.user_id is not None else call.anonymous_id,
        data=properties,
        timestamp=call.timestamp,
        event_id=call.message_id,
    )


def _group(call: Call) -> Operation:
    group_id = call.raw.get("groupId")
    if group_id in (None, ""):
        raise _fail("groupId is required", "groupId", "required")
    traits = dict(_object(call.raw, "traits"))
    type_id: Any = call.raw.get("objectTypeId", DEFAULT_OBJECT_TYPE)
    for key in _OBJECT_TYPE_TRAITS:
        if key in traits:
            type_id = traits.pop(key)
    relationship = parse_object_attributes(
        traits.pop("relationshipAttributes", None), "traits.relationshipAttributes"
    )
    related: tuple[Related, ...] = ()
    if call.user_id is not None:
        related = (Related(person=call.person(), attributes=relationship),)
    elif call.anonymous_id is not None:
        related = (Related(anonymous_id=call.anonymous_id, attributes=relationship),)
    return IdentifyObject(
        object=ObjectRef(
            type_id=parse_type_id(type_id, "traits.objectTypeId"),
            object_id=check_value(group_id, "groupId"),
        ),
        attributes=parse_object_attributes(traits, "traits"),
        relationships=related,
    )


def _alias(call: Call) -> Operation:
    previous = call.raw.get("previousId")
    if previous in (None, ""):
        raise _fail("previousId is required", "previousId", "required")
    return Merge(
        primary=call.require_person("alias"),
        secondary=Identifier("id", check_value(previous, "previousId")),
        secondary_may_be_anonymous=True,
    )
