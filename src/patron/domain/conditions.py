"""Segment conditions and search filters: Customer.io's ``audienceFilter``, extended.

One language serves data-driven segments (``POST /v1/segments`` with ``conditions``,
``patron segment apply``), people search (``POST /v1/customers``) and exports. Customer.io's
own filter is a subset: ``and``, ``or``, ``not``, ``segment {id}`` and
``attribute {field, operator: eq|exists, value}``. Patron adds more attribute operators and
conditions on events, devices and relationships (docs/segments.md).

This module parses and checks a condition tree and says what kinds of change can affect it;
``store/segment_sql.py`` compiles it to SQL.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import msgspec

from patron.domain.durations import parse_duration
from patron.domain.errors import InvalidInput
from patron.domain.values import to_wire

MAX_DEPTH = 10
MAX_NODES = 200
MAX_IN_VALUES = 1000

TEXT_OPERATORS = frozenset({"eq", "neq", "contains", "starts_with"})
NUMBER_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
TIME_OPERATORS = frozenset({"within_last", "more_than_ago"})
OPERATORS = TEXT_OPERATORS | NUMBER_OPERATORS | TIME_OPERATORS | {"exists", "not_exists", "in"}
EVENT_TYPES = ("event", "page", "screen")
NUMBER_TEXT = re.compile(r"^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$")

# What can change a condition's outcome for a person: the facets of a person a condition reads.
Facet = Literal["attributes", "events", "devices", "relationships", "segments"]


class Attr(msgspec.Struct, frozen=True):
    """A test of one attribute (of a person, an event's data, an object or a relationship).

    ``text`` holds the wire form compared by text operators (and by ``eq`` with a string or
    boolean value); ``number`` the value of numeric comparisons (and of ``eq`` with a number);
    ``texts`` the values of ``in``; ``seconds`` the duration of time operators.
    """

    field: str
    operator: str
    text: str | None = None
    number: float | None = None
    texts: tuple[str, ...] = ()
    seconds: int | None = None


class Event(msgspec.Struct, frozen=True):
    """Performed an event (or page/screen view) between ``at_least`` and ``at_most`` times,
    optionally within the last ``within`` seconds and with conditions on its data."""

    name: str
    type: str = "event"
    at_least: int = 1
    at_most: int | None = None
    within: int | None = None
    data: tuple[Attr, ...] = ()


class Device(msgspec.Struct, frozen=True):
    """Has a device (on ``platform``, when given)."""

    platform: str | None = None


class Related(msgspec.Struct, frozen=True):
    """Related to an object of a type, with conditions on the object's attributes and on the
    relationship's own attributes."""

    object_type_id: int
    attributes: tuple[Attr, ...] = ()
    relationship_attributes: tuple[Attr, ...] = ()


class InSegment(msgspec.Struct, frozen=True):
    """A member of another segment."""

    id: int


class Group(msgspec.Struct, frozen=True):
    """All (``and``) or any (``or``) of the children."""

    op: str
    children: tuple[Condition, ...]


class Not(msgspec.Struct, frozen=True):
    """The child does not hold."""

    child: Condition


Condition = Group | Not | Attr | Event | Device | Related | InSegment


def parse(raw: Any, field: str = "conditions") -> Condition:
    """Validate a condition tree; raises :class:`InvalidInput` naming what is wrong."""
    if _has_nul(raw, 0):
        raise _bad(f"{field} may not contain NUL characters", field)
    counter = [0]
    return _parse(raw, field, 0, counter)


def _has_nul(raw: Any, depth: int) -> bool:
    if isinstance(raw, str):
        return "\x00" in raw
    if depth > MAX_DEPTH * 3:
        return False  # too deep to be valid anyway: parsing rejects it
    if isinstance(raw, dict):
        return any(_has_nul(k, depth) or _has_nul(v, depth + 1) for k, v in raw.items())
    if isinstance(raw, list):
        return any(_has_nul(v, depth + 1) for v in raw)
    return False


def _bad(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, field=field)


def _parse(raw: Any, field: str, depth: int, counter: list[int]) -> Condition:
    counter[0] += 1
    if depth > MAX_DEPTH:
        raise _bad(f"{field} is nested more than {MAX_DEPTH} levels", field)
    if counter[0] > MAX_NODES:
        raise _bad(f"{field} has more than {MAX_NODES} conditions", field)
    if not isinstance(raw, dict) or len(raw) != 1:
        raise _bad(
            f"each condition in {field} needs exactly one of and, or, not, segment, "
            "attribute, event, device, relationship",
            field,
        )
    ((key, value),) = raw.items()
    if key in ("and", "or"):
        if not isinstance(value, list) or not value:
            raise _bad(f"{key} needs a non-empty list of conditions", field)
        return Group(key, tuple(_parse(v, field, depth + 1, counter) for v in value))
    if key == "not":
        return Not(_parse(value, field, depth + 1, counter))
    if key == "segment":
        segment_id = value.get("id") if isinstance(value, dict) else None
        if isinstance(segment_id, str) and segment_id.isdigit():
            segment_id = int(segment_id)
        if isinstance(segment_id, bool) or not isinstance(segment_id, int):
            raise _bad("segment needs an integer id", field)
        # Any integer: a segment that does not exist (0, say) has no members, as on
        # Customer.io. Segment definitions check that the segments they name exist.
        return InSegment(segment_id)
    if key == "attribute":
        return parse_attribute(value, field)
    if key == "event":
        return _parse_event(value, field)
    if key == "device":
        return _parse_device(value, field)
    if key == "relationship":
        return _parse_related(value, field)
    raise _bad(f"unknown condition {key!r} in {field}", field)


def _scalar_text(value: Any, field: str) -> str:
    if isinstance(value, dict | list) or value is None:
        raise _bad(f"{field} value must be a string, number or boolean", field)
    text = to_wire(value)
    assert text is not None
    return text


def _number(value: Any, field: str) -> float:
    if isinstance(value, str) and NUMBER_TEXT.match(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"{field} value must be a number", field)
    return float(value)


def parse_attribute(raw: Any, field: str) -> Attr:
    """One ``{field, operator, value}`` test."""
    if not isinstance(raw, dict):
        raise _bad(f"{field}: an attribute condition is an object with field and operator", field)
    name = raw.get("field")
    operator = raw.get("operator")
    if not isinstance(name, str) or not name or len(name) > 200 or '"' in name:
        raise _bad(
            f"{field}: field must be an attribute name (1 to 200 characters, no double quotes)",
            field,
        )
    if operator not in OPERATORS:
        raise _bad(f"{field}: operator must be one of {', '.join(sorted(OPERATORS))}", field)
    value = raw.get("value")
    where = f"{field} ({name} {operator})"
    if operator in ("exists", "not_exists"):
        return Attr(name, operator)
    if operator == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise _bad(f"{where}: value must be a list of 1 to {MAX_IN_VALUES} values", field)
        return Attr(name, operator, texts=tuple(_scalar_text(v, where) for v in value))
    if operator in TIME_OPERATORS:
        seconds = parse_duration(value, f"{where} value")
        if seconds < 0:
            raise _bad(f"{where}: value must be a positive duration such as '7d'", field)
        return Attr(name, operator, seconds=seconds)
    if operator in NUMBER_OPERATORS:
        return Attr(name, operator, number=_number(value, where))
    if operator == "eq" and isinstance(value, int | float) and not isinstance(value, bool):
        return Attr(name, operator, number=_number(value, where))
    return Attr(name, operator, text=_scalar_text(value, where))


def _attributes(raw: Any, field: str) -> tuple[Attr, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad(f"{field} must be a list of attribute conditions", field)
    # Each item is {field, operator, value}, or the same wrapped as {"attribute": {…}}.
    return tuple(
        parse_attribute(item["attribute"] if _wrapped(item) else item, field) for item in raw
    )


def _wrapped(item: Any) -> bool:
    return isinstance(item, dict) and len(item) == 1 and isinstance(item.get("attribute"), dict)


def _count(raw: dict[str, Any], key: str, field: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise _bad(f"{field}: {key} must be a whole number from 0 to 1000000", field)
    return value


def _parse_event(raw: Any, field: str) -> Condition:
    if not isinstance(raw, dict):
        raise _bad(f"{field}: an event condition is an object with a name", field)
    name = raw.get("name")
    if not isinstance(name, str) or not name or len(name) > 200:
        raise _bad(f"{field}: event name must be 1 to 200 characters", field)
    kind = raw.get("type", "event")
    if kind not in EVENT_TYPES:
        raise _bad(f"{field}: event type must be one of {', '.join(EVENT_TYPES)}", field)
    operator = raw.get("operator", "performed")
    if operator not in ("performed", "not_performed"):
        raise _bad(f"{field}: event operator must be performed or not_performed", field)
    at_least = _count(raw, "at_least", field)
    at_most = _count(raw, "at_most", field)
    if at_least is not None and at_most is not None and at_least > at_most:
        raise _bad(f"{field}: at_least must not be more than at_most", field)
    within = raw.get("within")
    seconds = None if within is None else parse_duration(within, f"{field} within")
    if seconds is not None and seconds <= 0:
        raise _bad(f"{field}: within must be a positive duration such as '30d'", field)
    event = Event(
        name=name,
        type=kind,
        at_least=(0 if at_most is not None else 1) if at_least is None else at_least,
        at_most=at_most,
        within=seconds,
        data=_attributes(raw.get("data"), f"{field} data"),
    )
    return Not(event) if operator == "not_performed" else event


def _parse_device(raw: Any, field: str) -> Device:
    if raw is None or raw == {}:
        return Device()
    platform = raw.get("platform") if isinstance(raw, dict) else None
    if not isinstance(platform, str) or not platform:
        raise _bad(f"{field}: device takes an optional platform (ios, android, …)", field)
    return Device(platform.lower())


def _parse_related(raw: Any, field: str) -> Related:
    if not isinstance(raw, dict):
        raise _bad(f"{field}: a relationship condition needs object_type_id", field)
    type_id = raw.get("object_type_id")
    if isinstance(type_id, str) and type_id.isdigit():
        type_id = int(type_id)
    if isinstance(type_id, bool) or not isinstance(type_id, int) or not 1 <= type_id < 2**31:
        raise _bad(f"{field}: object_type_id must be a positive integer", field)
    return Related(
        object_type_id=type_id,
        attributes=_attributes(raw.get("attributes"), f"{field} attributes"),
        relationship_attributes=_attributes(
            raw.get("relationship_attributes"), f"{field} relationship_attributes"
        ),
    )


# -- what a condition depends on --------------------------------------------------------------


def walk(condition: Condition) -> list[Condition]:
    """Every node of the tree, the root first."""
    nodes: list[Condition] = [condition]
    if isinstance(condition, Group):
        for child in condition.children:
            nodes += walk(child)
    elif isinstance(condition, Not):
        nodes += walk(condition.child)
    return nodes


def facets(condition: Condition) -> frozenset[Facet]:
    """The facets of a person that the condition reads."""
    found: set[Facet] = set()
    for node in walk(condition):
        if isinstance(node, Attr):
            found.add("attributes")
        elif isinstance(node, Event):
            found.add("events")
        elif isinstance(node, Device):
            found.add("devices")
        elif isinstance(node, Related):
            found.add("relationships")
        elif isinstance(node, InSegment):
            found.add("segments")
    return frozenset(found)


def segment_refs(condition: Condition) -> frozenset[int]:
    """The ids of the segments the condition refers to."""
    return frozenset(node.id for node in walk(condition) if isinstance(node, InSegment))


def timed(condition: Condition) -> list[Attr | Event]:
    """The parts whose outcome changes as time passes: relative-time attribute tests and
    event counts within a window."""
    return [
        node
        for node in walk(condition)
        if (isinstance(node, Attr) and node.seconds is not None)
        or (isinstance(node, Event) and node.within is not None)
    ]


# Which facets each change-log kind touches (store/apply/ writes these kinds). A kind not
# listed touches everything, so a new kind can never leave a segment stale.
CHANGE_FACETS: dict[str, frozenset[Facet]] = {
    "identify": frozenset({"attributes"}),
    "event": frozenset({"events"}),
    "page": frozenset({"events"}),
    "screen": frozenset({"events"}),
    "device": frozenset({"devices"}),
    "relationships": frozenset({"relationships"}),
    "object": frozenset({"relationships"}),
    "segment_entered": frozenset({"segments"}),
    "segment_exited": frozenset({"segments"}),
}
EVERYTHING: frozenset[Facet] = frozenset(
    {"attributes", "events", "devices", "relationships", "segments"}
)
_SEGMENTS_ONLY: frozenset[Facet] = frozenset({"segments"})


def affected(
    kind: str, segment_id: int | None, reads: frozenset[Facet], refs: frozenset[int]
) -> bool:
    """Whether a change of ``kind`` (naming ``segment_id`` for entries and exits) can change
    the outcome, for the person it happened to, of a condition that reads ``reads`` (its
    :func:`facets`) and refers to the segments ``refs`` (its :func:`segment_refs`)."""
    touched = CHANGE_FACETS.get(kind, EVERYTHING)
    if touched == _SEGMENTS_ONLY:
        return segment_id in refs
    return bool(touched & reads)


def attribute_holds(test: Attr, data: dict[str, Any], now: int) -> bool:
    """One attribute test against a JSON object held in memory (an event's data), with the
    meaning ``store/segment_sql.py`` gives it in SQL."""
    present = test.field in data and data[test.field] is not None
    value = data.get(test.field)
    op = test.operator
    if op == "exists":
        return present
    if op == "not_exists":
        return not present
    if op == "neq":
        return not attribute_holds(Attr(test.field, "eq", test.text, test.number), data, now)
    if not present:
        return False
    if op in NUMBER_OPERATORS or op in TIME_OPERATORS or (op == "eq" and test.number is not None):
        number = _as_number(value)
        if number is None:
            return False
        if op in TIME_OPERATORS:
            assert test.seconds is not None
            bound = now - test.seconds
            return number >= bound if op == "within_last" else number < bound
        assert test.number is not None
        return {
            "gt": number > test.number,
            "gte": number >= test.number,
            "lt": number < test.number,
            "lte": number <= test.number,
            "eq": number == test.number,
        }[op]
    text = to_wire(value) or ""
    if op == "in":
        return text in test.texts
    assert test.text is not None
    if op == "eq":
        return text == test.text
    if op == "contains":
        return test.text in text
    return text.startswith(test.text)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and NUMBER_TEXT.match(value):
        return float(value)
    return None
