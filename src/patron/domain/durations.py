"""Durations written as ``90``, ``"90s"``, ``"15m"``, ``"3d"`` or ``"1h30m"``."""

from __future__ import annotations

import math
import re

from patron.domain.errors import InvalidInput

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
LONGEST = 100 * 366 * 86400  # a century: longer is a typo, and would overflow timestamps
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"-?(?:\d+[smhdw])+")


def parse_duration(value: object, field: str = "duration") -> int:
    """Seconds in ``value``: a number of seconds or a string of number+unit parts (s m h d w),
    at most a century either way."""
    seconds = _seconds(value, field)
    if abs(seconds) > LONGEST:
        raise InvalidInput(f"{field} must be at most a century ({LONGEST} seconds)", field=field)
    return seconds


def _seconds(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(
            f"{field} must be a number of seconds or a string like '3d'", field=field
        )
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if _WHOLE.fullmatch(text):
            seconds = sum(int(n) * UNITS[unit] for n, unit in _PART.findall(text))
            return -seconds if text.startswith("-") else seconds
    raise InvalidInput(
        f"{field} must be a number of seconds or a string like '90s', '15m', '3d' or '1h30m'",
        field=field,
    )
