"""The App API's object filter (``objectFilter``): and / or / not / object_attribute."""

from __future__ import annotations

from typing import Any

import msgspec

from patron.domain.errors import InvalidInput
from patron.domain.values import to_wire

MAX_DEPTH = 10


class Filter(msgspec.Struct, frozen=True):
    """A parsed filter node."""

    op: str  # "and", "or", "not", "eq", "exists"
    children: tuple[Filter, ...] = ()
    field: str = ""
    value: str = ""


def parse_filter(raw: Any, depth: int = 0) -> Filter:
    """Validate a filter; raises :class:`InvalidInput` naming what is wrong."""
    if depth > MAX_DEPTH:
        raise InvalidInput(f"filter is nested more than {MAX_DEPTH} levels", field="filter")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise InvalidInput(
            "each filter needs exactly one of and, or, not, object_attribute", field="filter"
        )
    ((key, value),) = raw.items()
    if key in ("and", "or"):
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"filter {key} needs a non-empty list", field="filter")
        return Filter(key, tuple(parse_filter(v, depth + 1) for v in value))
    if key == "not":
        return Filter("not", (parse_filter(value, depth + 1),))
    if key == "object_attribute":
        if not isinstance(value, dict) or not isinstance(value.get("field"), str):
            raise InvalidInput("object_attribute needs a field", field="filter")
        operator = value.get("operator")
        if operator not in ("eq", "exists"):
            raise InvalidInput("object_attribute operator must be eq or exists", field="filter")
        wanted = value.get("value")
        if operator == "eq" and wanted is None:
            raise InvalidInput("object_attribute eq needs a value", field="filter")
        text = "" if wanted is None else to_wire(wanted)
        return Filter(str(operator), field=value["field"], value=text or "")
    raise InvalidInput(f"unknown filter {key!r}", field="filter")


def matches(condition: Filter, attributes: dict[str, Any]) -> bool:
    """Whether an object's attributes satisfy ``condition`` (values compared as strings)."""
    if condition.op == "and":
        return all(matches(c, attributes) for c in condition.children)
    if condition.op == "or":
        return any(matches(c, attributes) for c in condition.children)
    if condition.op == "not":
        return not matches(condition.children[0], attributes)
    if condition.op == "exists":
        return condition.field in attributes
    return to_wire(attributes.get(condition.field)) == condition.value
