"""Person attributes: parsing identify bodies and merging changes in timestamp order."""

from __future__ import annotations

import copy
from typing import Any, cast

from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier, check_value, looks_like_email, optional_value
from patron.domain.limits import check_attribute, check_attribute_count
from patron.domain.operations import Identify, Related

SUBSCRIPTION_PREFERENCES = "cio_subscription_preferences"
_DOTTED_PREFERENCES = SUBSCRIPTION_PREFERENCES + "."
# Keys of an identify body that are instructions or identifiers, never plain attributes.
_IDENTIFY_CONTROL_KEYS = frozenset(
    {"_timestamp", "_update", "id", "email", "anonymous_id", "cio_relationships"}
)

Attributes = dict[str, Any]
Timestamps = dict[str, int]
Diff = dict[str, list[Any]]


def parse_bool_flag(value: Any) -> bool:
    """Customer.io's reading of ``unsubscribed``: any-case "true", 1 or "1" is true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return False


def parse_unix(value: Any, field: str) -> int | None:
    """Unix seconds from an int, a float or a numeric string; ``None``/"" mean absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a unix timestamp in seconds", field=field)
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value == value and abs(value) < _LARGEST_UNIX:
        number = int(value)
    elif isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            parsed = float("nan")
        if parsed == parsed and abs(parsed) < _LARGEST_UNIX:
            number = int(parsed)
    # Integers past 64 bits now arrive whole (json_codec): a timestamp column cannot hold them.
    if number is None or abs(number) >= _LARGEST_UNIX:
        raise InvalidInput(f"{field} must be a unix timestamp in seconds", field=field)
    return number


_LARGEST_UNIX = 10**15


def parse_identify(who: Identifier, body: dict[str, Any]) -> Identify:
    """Turn a Track v1 identify body into an :class:`Identify` operation, enforcing limits."""
    update_only = body.get("_update", False)
    if not isinstance(update_only, bool):
        if isinstance(update_only, str) and update_only.lower() in ("true", "false"):
            update_only = update_only.lower() == "true"
        else:
            raise InvalidInput("_update must be a boolean", field="_update")
    assign = _body_identifiers(body)
    anonymous_id = optional_value(body.get("anonymous_id"), "anonymous_id")
    add: tuple[Related, ...] = ()
    remove: tuple[Related, ...] = ()
    if body.get("cio_relationships") is not None:
        from patron.domain.objects import parse_v1_relationships  # objects imports this module

        add, remove = parse_v1_relationships(body["cio_relationships"])
    attributes = parse_attribute_map(
        {k: v for k, v in body.items() if k not in _IDENTIFY_CONTROL_KEYS}
    )
    return Identify(
        who=who,
        attributes=attributes,
        assign=assign,
        timestamp=parse_unix(body.get("_timestamp"), "_timestamp"),
        update_only=update_only,
        anonymous_id=anonymous_id,
        add_relationships=add,
        delete_relationships=remove,
    )


def _body_identifiers(body: dict[str, Any]) -> dict[str, str]:
    assign: dict[str, str] = {}
    if body.get("id") not in (None, ""):
        assign["id"] = check_value(body["id"], "id")
    if body.get("email") not in (None, ""):
        email = check_value(body["email"], "email")
        if not looks_like_email(email):
            raise InvalidInput(f"email '{email[:60]}' is not a valid email address", field="email")
        assign["email"] = email
    return assign


def parse_attribute_map(raw: dict[str, Any]) -> Attributes:
    """Validated attribute changes: ``None`` (from null or "") means remove.

    Normalizes ``created_at`` to unix seconds and ``unsubscribed`` to a boolean.
    """
    check_attribute_count(len(raw), "in one call")
    out: Attributes = {}
    for name, value in raw.items():
        check_attribute(name, value)
        if value is None or value == "":
            out[name] = None
        elif name == "created_at":
            out[name] = parse_unix(value, "created_at")
        elif name == "unsubscribed":
            out[name] = parse_bool_flag(value)
        elif name == SUBSCRIPTION_PREFERENCES and not isinstance(value, dict):
            raise InvalidInput(f"{SUBSCRIPTION_PREFERENCES} must be an object", field=name)
        else:
            out[name] = value
    return out


def apply_changes(
    current: Attributes, stamps: Timestamps, changes: Attributes, at: int, *, owner: str = "person"
) -> tuple[Attributes, Timestamps, Diff]:
    """Apply attribute ``changes`` made at unix time ``at``.

    An attribute last set after ``at`` keeps its value (an older update never overwrites a
    newer one). ``None`` removes. ``cio_subscription_preferences`` merges objects, and
    ``cio_subscription_preferences.a.b`` keys set one nested value. Returns the new
    attributes, the new per-attribute timestamps, and ``{name: [old, new]}`` for what changed.
    """
    attrs = dict(current)
    new_stamps = dict(stamps)
    diff: Diff = {}
    for name, value in changes.items():
        target, path = name, cast(tuple[str, ...], ())
        if name.startswith(_DOTTED_PREFERENCES):
            target = SUBSCRIPTION_PREFERENCES
            path = tuple(name[len(_DOTTED_PREFERENCES) :].split("."))
        if new_stamps.get(target, at) > at:
            continue
        old = attrs.get(target)
        new = _merged_value(target, old, path, value)
        new_stamps[target] = at
        if new is None:
            attrs.pop(target, None)
        else:
            attrs[target] = new
        if new != old:
            diff[target] = [old, new]
    check_attribute_count(len(attrs), f"on one {owner}")
    return attrs, new_stamps, diff


def _merged_value(name: str, old: Any, path: tuple[str, ...], value: Any) -> Any:
    if name != SUBSCRIPTION_PREFERENCES:
        return value
    merged: dict[str, Any] = copy.deepcopy(old) if isinstance(old, dict) else {}
    if path:
        node = merged
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
        return merged or None
    if value is None:
        return None
    _deep_update(merged, value)
    return merged


def _deep_update(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_update(into[key], value)
        else:
            into[key] = value


def fill_gaps(
    primary: Attributes,
    primary_stamps: Timestamps,
    secondary: Attributes,
    secondary_stamps: Timestamps,
) -> tuple[Attributes, Timestamps]:
    """Merge rule: the secondary's attributes fill gaps in the primary's; the primary wins."""
    attrs = dict(primary)
    stamps = dict(primary_stamps)
    for name, value in secondary.items():
        if name not in attrs:
            attrs[name] = value
            if name in secondary_stamps:
                stamps[name] = secondary_stamps[name]
    return attrs, stamps


def newer_wins(
    current: Attributes, stamps: Timestamps, incoming: Attributes, incoming_stamps: Timestamps
) -> tuple[Attributes, Timestamps, Diff]:
    """Fold in attributes set elsewhere (an anonymous profile): each one replaces the current
    value only when it was set strictly later; ties keep the current value."""
    attrs = dict(current)
    new_stamps = dict(stamps)
    diff: Diff = {}
    for name, value in incoming.items():
        at = incoming_stamps.get(name, 0)
        if new_stamps.get(name, -1) >= at:  # set (or removed) on the person since
            continue
        old = attrs.get(name)
        attrs[name] = value
        new_stamps[name] = at
        if value != old:
            diff[name] = [old, value]
    check_attribute_count(len(attrs), "on one person")
    return attrs, new_stamps, diff
