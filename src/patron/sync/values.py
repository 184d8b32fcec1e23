"""Warehouse values as Customer.io attributes, and the row keys and hashes the diff uses."""

from __future__ import annotations

import datetime
import hashlib
import math
import re
import uuid
from decimal import Decimal
from typing import Any

import orjson

_DATE_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


def unix(value: datetime.datetime | datetime.date) -> int:
    """Unix seconds; a datetime without a zone is read as UTC, a date as its UTC midnight."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return int(value.timestamp())


def parse_time_text(text: str) -> int | None:
    """Unix seconds for ISO-8601 or ``YYYY-MM-DD HH:MM:SS`` text, else None."""
    stripped = text.strip()
    if not _DATE_TEXT.fullmatch(stripped):
        return None
    try:
        return unix(datetime.datetime.fromisoformat(stripped.replace("Z", "+00:00")))
    except ValueError:
        return None


def attribute(value: Any) -> Any:
    """A column value as an attribute value: times become unix seconds, decimals numbers,
    other unusual types text; ``None`` stays ``None`` (which removes the attribute)."""
    kind = type(value)
    if kind is str:
        # Most text is not a date; tell so without a regex (this runs for every cell).
        if (len(value) >= 10 and value[4] == "-" and value[:4].isdigit()) or value[:1].isspace():
            seconds = parse_time_text(value)
            return value if seconds is None else seconds
        return value
    if value is None or kind is int or kind is bool:
        return value
    if isinstance(value, str):
        return attribute(str(value))  # a str subclass
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return unix(value)
    if isinstance(value, datetime.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [attribute(v) for v in value]
    if isinstance(value, dict):
        return {str(k): attribute(v) for k, v in value.items()}
    return str(value)


def identifier(value: Any) -> str | None:
    """A column value as an identifier (numbers as their decimal text); None when empty."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    text = str(value).strip()
    return text or None


def row_key(row: dict[str, Any], columns: list[str]) -> str:
    """The text that names a row: its primary key (a JSON array for several columns)."""
    values = [identifier(row.get(c)) for c in columns]
    if len(values) == 1:
        return values[0] or ""
    return orjson.dumps(values).decode()


def digest(payload: Any) -> int:
    """A 63-bit hash of what a row sends, to tell changed rows from unchanged ones."""
    data = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> 1
