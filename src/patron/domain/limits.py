"""Customer.io's published data limits (Track spec, wire spec §2.6) and their checks."""

from __future__ import annotations

from typing import Any

from patron import json_codec
from patron.domain.errors import InvalidInput

MAX_ID_BYTES = 150
MAX_ATTRIBUTE_NAME_BYTES = 150
MAX_ATTRIBUTE_VALUE_BYTES = 1000
MAX_ATTRIBUTES = 300
MAX_EVENT_NAME_BYTES = 100
MAX_EVENT_DATA_BYTES = 100_000
MAX_SEGMENT_IDS = 1000


def json_size(value: Any) -> int:
    """Bytes of ``value`` serialized as compact JSON (strings count without their quotes)."""
    if isinstance(value, str):
        return len(value.encode())
    return len(json_codec.dumps(value))


def check_attribute(name: str, value: Any) -> None:
    """Raise when an attribute's name or serialized value is over Customer.io's limits."""
    if not name:
        raise InvalidInput("attribute names cannot be blank", field="attributes")
    if len(name.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
        raise InvalidInput(
            f"attribute name '{name[:40]}…' cannot be longer than {MAX_ATTRIBUTE_NAME_BYTES} bytes",
            field=name,
        )
    if json_size(value) > MAX_ATTRIBUTE_VALUE_BYTES:
        raise InvalidInput(
            f"value for attribute '{name}' cannot be longer than {MAX_ATTRIBUTE_VALUE_BYTES} bytes",
            field=name,
        )


def check_attribute_count(count: int, where: str) -> None:
    """Raise when more than ``MAX_ATTRIBUTES`` attributes would be sent or kept."""
    if count > MAX_ATTRIBUTES:
        raise InvalidInput(
            f"too many attributes {where}: {count} (the limit is {MAX_ATTRIBUTES})",
            field="attributes",
        )


def check_event_name(name: Any) -> str:
    """A valid, trimmed event name."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("event name is required and must be a non-empty string", field="name")
    text: str = name.strip()
    if len(text.encode()) > MAX_EVENT_NAME_BYTES:
        raise InvalidInput(
            f"event name '{text[:40]}…' cannot be longer than {MAX_EVENT_NAME_BYTES} bytes",
            field="name",
        )
    return text


def check_event_data(data: Any) -> dict[str, Any]:
    """Event data: an object (absent means empty) no larger than ``MAX_EVENT_DATA_BYTES``."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("event data must be an object", field="data")
    size = json_size(data)
    if size > MAX_EVENT_DATA_BYTES:
        raise InvalidInput(
            f"event data is {size} bytes; it cannot be larger than {MAX_EVENT_DATA_BYTES} bytes",
            field="data",
        )
    return data
