"""How attribute values appear on the App API: always as strings."""

from __future__ import annotations

from typing import Any

from patron import json_codec


def to_wire(value: Any) -> str | None:
    """A stored JSON value as the App API shows it.

    Strings stay as they are, numbers keep their JSON text, booleans become "true"/"false",
    objects and arrays become compact JSON text; ``None`` stays ``None``.
    """
    if value is None or isinstance(value, str):
        return value
    return json_codec.dumps_text(value)
