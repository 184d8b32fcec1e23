"""Reading points in time sent as ISO-8601 text (the Segment spec's) or as unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from patron.domain.errors import InvalidInput


def parse_time(value: Any, field: str) -> int | None:
    """Unix seconds from ISO-8601 text (no zone means UTC) or a number of seconds.

    ``None`` and "" mean absent.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be an ISO-8601 date-time", field=field)
    if isinstance(value, int | float):
        if value != value or abs(value) > 1e13:
            raise InvalidInput(f"{field} is not a valid point in time", field=field)
        return int(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be an ISO-8601 date-time", field=field)
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            raise InvalidInput(
                f"{field} '{text[:40]}' is not an ISO-8601 date-time", field=field
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
