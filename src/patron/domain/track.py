"""Track API request bodies translated into operations (validation included)."""

from __future__ import annotations

from typing import Any

from patron.domain.attributes import parse_bool_flag, parse_unix
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier, check_value, from_object, optional_value
from patron.domain.limits import check_event_data, check_event_name
from patron.domain.operations import (
    AddDevice,
    DeliveryMetric,
    Merge,
    SubmitForm,
    TrackEvent,
    Unsubscribe,
)

EVENT_KINDS = frozenset({"event", "page", "screen"})
DELIVERY_METRICS = frozenset(
    {"bounced", "clicked", "converted", "deferred", "delivered", "dropped", "opened", "spammed"}
)
PUSH_EVENTS = frozenset({"opened", "converted", "delivered"})


def parse_event(body: dict[str, Any], who: Identifier | None) -> TrackEvent:
    """An event body (``name``, ``type``, ``data``, ``timestamp``, ``id``, ``anonymous_id``).

    ``who`` is the person for ``/customers/{id}/events``; None for ``/events`` (anonymous,
    invite, or unattached).
    """
    kind = body.get("type")
    return TrackEvent(
        name=check_event_name(body.get("name")),
        kind=kind if isinstance(kind, str) and kind in EVENT_KINDS else "event",
        who=who,
        anonymous_id=None
        if who is not None
        else optional_value(body.get("anonymous_id"), "anonymous_id"),
        data=check_event_data(body.get("data")),
        timestamp=parse_unix(body.get("timestamp"), "timestamp"),
        event_id=optional_value(body.get("id"), "id"),
    )


def parse_device(body: dict[str, Any], who: Identifier) -> AddDevice:
    """``{"device":{"id","platform","last_used"?,"attributes"?,…}}``.

    Extra keys directly inside ``device`` (the Python client's shape) and keys under
    ``device.attributes`` (the Node client's) both become device attributes.
    """
    device = body.get("device")
    if not isinstance(device, dict):
        raise InvalidInput("device is required and must be an object", field="device")
    token = device.get("id", device.get("token"))
    if not isinstance(token, str) or not token.strip():
        raise InvalidInput(
            "device.id is required and must be a non-empty string", field="device.id"
        )
    platform = device.get("platform")
    if not isinstance(platform, str) or not platform.strip():
        raise InvalidInput(
            "device.platform is required and must be a non-empty string", field="device.platform"
        )
    attributes: dict[str, Any] = {
        k: v
        for k, v in device.items()
        if k not in ("id", "token", "platform", "last_used", "attributes")
    }
    nested = device.get("attributes")
    if nested is not None:
        if not isinstance(nested, dict):
            raise InvalidInput("device.attributes must be an object", field="device.attributes")
        attributes.update(nested)
    return AddDevice(
        who=who,
        token=token.strip(),
        platform=platform.strip(),
        last_used=parse_unix(device.get("last_used"), "device.last_used"),
        attributes={k: v for k, v in attributes.items() if v is not None},
    )


def parse_merge(body: dict[str, Any]) -> Merge:
    """``{"primary":{one identifier},"secondary":{one identifier}}``."""
    return Merge(
        primary=from_object(body.get("primary"), "primary"),
        secondary=from_object(body.get("secondary"), "secondary"),
    )


def parse_form(form_id: str, body: dict[str, Any]) -> tuple[SubmitForm, str | None]:
    """A form submission, and the error to report when its data names no ``email`` or ``id``
    (the form connection is recorded either way, as Customer.io does)."""
    data = body.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("data is required and must be an object", field="data")
    fields: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise InvalidInput(f"value for form field '{key}' must be a string", field=key)
        fields[key] = value
    who: Identifier | None = None
    if fields.get("email", "").strip():
        who = Identifier("email", check_value(fields["email"], "email"))
    elif fields.get("id", "").strip():
        who = Identifier("id", check_value(fields["id"], "id"))
    form = SubmitForm(form_id=form_id, fields=fields, who=who)
    if who is None:
        return form, "form data needs an 'email' or 'id' field to identify the person"
    return form, None


def _delivery_id(body: dict[str, Any]) -> str:
    value = body.get("delivery_id")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("delivery_id is required and must be a string", field="delivery_id")
    return value.strip()


def parse_metric(body: dict[str, Any]) -> DeliveryMetric:
    """``POST /api/v1/metrics``: a delivery metric with optional recipient, reason, href."""
    metric = body.get("metric")
    if not isinstance(metric, str) or metric not in DELIVERY_METRICS:
        raise InvalidInput(
            f"metric must be one of {', '.join(sorted(DELIVERY_METRICS))}", field="metric"
        )
    extra = {k: body[k] for k in ("recipient", "reason", "href") if body.get(k) is not None}
    return DeliveryMetric(
        delivery_id=_delivery_id(body),
        metric=str(metric),
        source="metrics",
        timestamp=parse_unix(body.get("timestamp"), "timestamp"),
        data=extra,
    )


def parse_push_event(body: dict[str, Any]) -> DeliveryMetric:
    """``POST /api/v1/push/events`` (legacy push metrics)."""
    event = body.get("event")
    if not isinstance(event, str) or event not in PUSH_EVENTS:
        raise InvalidInput(f"event must be one of {', '.join(sorted(PUSH_EVENTS))}", field="event")
    device_id = body.get("device_id")
    if device_id is not None and not isinstance(device_id, str):
        raise InvalidInput("device_id must be a string", field="device_id")
    return DeliveryMetric(
        delivery_id=_delivery_id(body),
        metric=str(event),
        source="push",
        timestamp=parse_unix(body.get("timestamp"), "timestamp"),
        data={"device_id": device_id} if device_id else {},
    )


def parse_unsubscribe(delivery_id: str, body: dict[str, Any]) -> Unsubscribe:
    """``POST /unsubscribe/{delivery_id}`` with ``{"unsubscribe": bool}`` (default true)."""
    flag = body.get("unsubscribe", True)
    if not isinstance(flag, bool):
        if isinstance(flag, str | int):
            flag = parse_bool_flag(flag)
        else:
            raise InvalidInput("unsubscribe must be a boolean", field="unsubscribe")
    if not delivery_id.strip():
        raise InvalidInput("delivery_id is required", field="delivery_id")
    return Unsubscribe(delivery_id=delivery_id.strip(), unsubscribe=flag)
