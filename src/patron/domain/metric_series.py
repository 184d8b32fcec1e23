"""Metric series of the App API's ``…/metrics`` reads: periods and counts per period.

v1 (``period`` + ``steps``): the last ``steps`` periods in UTC, the last one holding now.
v2 (``version=2&res=&start=&end=&tz=``): the periods from the one holding ``start`` to the one
holding the last second before ``end``, in ``tz``. Series are oldest first (index 0 is the
oldest period), as Customer.io documents. Days start at midnight, weeks on Monday, months on
the 1st.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patron.domain.errors import InvalidInput

# Customer.io's maximum and default number of v1 steps per period.
MAX_STEPS = {"hours": 24, "days": 45, "weeks": 12, "months": 120}
DEFAULT_STEPS = {"hours": 24, "days": 45, "weeks": 12, "months": 12}
RESOLUTIONS = {
    "hours": "hours",
    "hourly": "hours",
    "days": "days",
    "daily": "days",
    "weeks": "weeks",
    "weekly": "weeks",
    "months": "months",
    "monthly": "months",
}
MAX_PERIODS = 10_000  # a v2 range longer than this many periods is refused
MAX_RANGE = 10 * 366 * 86400  # Customer.io: end ≤ start + 10 years
LATEST = 253_402_300_799  # 9999-12-31T23:59:59Z


@dataclass(frozen=True)
class Window:
    """The periods of a series: ``bounds[i]`` to ``bounds[i + 1]`` is period ``i``."""

    res: str
    bounds: list[int]
    zone: tzinfo

    @property
    def start(self) -> int:
        return self.bounds[0]

    @property
    def end(self) -> int:
        return self.bounds[-1]

    def counts(self, timestamps: Iterable[int]) -> list[int]:
        """How many of ``timestamps`` fall in each period."""
        out = [0] * (len(self.bounds) - 1)
        for ts in timestamps:
            at = bisect.bisect_right(self.bounds, ts) - 1
            if 0 <= at < len(out):
                out[at] += 1
        return out

    def label(self, ts: int) -> str:
        """A time as Customer.io's v2 answer writes it: ``2025-01-01 00:00:00 +0000 UTC``."""
        return datetime.fromtimestamp(ts, self.zone).strftime("%Y-%m-%d %H:%M:%S %z %Z")


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _floor(ts: int, res: str, zone: tzinfo) -> datetime:
    local = datetime.fromtimestamp(ts, zone)
    if res == "hours":
        return local.replace(minute=0, second=0, microsecond=0)
    if res == "days":
        return _midnight(local.date(), zone)
    if res == "weeks":
        return _midnight(local.date() - timedelta(days=local.weekday()), zone)
    return _midnight(local.date().replace(day=1), zone)


def _shift(start: datetime, res: str, n: int, zone: tzinfo) -> datetime:
    """The start of the period ``n`` periods after the one starting at ``start``."""
    if res == "hours":
        return datetime.fromtimestamp(start.timestamp() + 3600 * n, zone)
    if res in ("days", "weeks"):
        return _midnight(start.date() + timedelta(days=n * (7 if res == "weeks" else 1)), zone)
    months = start.year * 12 + start.month - 1 + n
    return _midnight(date(months // 12, months % 12 + 1, 1), zone)


def _fits(ts: float) -> bool:
    return 0 <= ts <= LATEST


def v1(period: str | None, steps: str | None, now: int) -> Window:
    """The window of ``?period=&steps=`` (UTC)."""
    res = period or "days"
    if res not in MAX_STEPS:
        raise InvalidInput("period must be one of hours, days, weeks, months", field="period")
    most = MAX_STEPS[res]
    count = DEFAULT_STEPS[res]
    if steps not in (None, ""):
        assert steps is not None
        if not (steps.isascii() and steps.isdigit()) or not 1 <= int(steps) <= most:
            raise InvalidInput(
                f"steps must be an integer from 1 to {most} for {res}", field="steps"
            )
        count = int(steps)
    try:
        last = _floor(now, res, UTC)
        first = _shift(last, res, -(count - 1), UTC)
        bounds = [int(_shift(first, res, i, UTC).timestamp()) for i in range(count + 1)]
    except (ValueError, OverflowError, OSError):
        raise InvalidInput("the periods reach past the years 1 to 9999", field="steps") from None
    return Window(res, bounds, UTC)


def _unix(raw: str | None, name: str) -> int:
    if raw in (None, ""):
        raise InvalidInput(f"{name} is required with version=2", field=name)
    assert raw is not None
    if not (raw.isascii() and raw.isdigit()) or not _fits(int(raw)):
        raise InvalidInput(f"{name} must be a unix timestamp in seconds", field=name)
    return int(raw)


def zone_of(raw: str | None) -> tzinfo:
    """An IANA time zone (default UTC)."""
    if raw in (None, "", "UTC"):
        return UTC
    assert raw is not None
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"tz {raw[:60]!r} is not an IANA time zone", field="tz") from None


def v2(res_raw: str | None, start_raw: str | None, end_raw: str | None, tz: str | None) -> Window:
    """The window of ``?version=2&res=&start=&end=&tz=``."""
    if res_raw in (None, ""):
        raise InvalidInput("res is required with version=2", field="res")
    assert res_raw is not None
    res = RESOLUTIONS.get(res_raw)
    if res is None:
        raise InvalidInput(f"res must be one of {', '.join(RESOLUTIONS)}", field="res")
    start, end = _unix(start_raw, "start"), _unix(end_raw, "end")
    if end <= start:
        raise InvalidInput("end must be after start", field="end")
    if end - start > MAX_RANGE:
        raise InvalidInput("end must be at most 10 years after start", field="end")
    zone = zone_of(tz)
    try:
        first = _floor(start, res, zone)
        bounds = [int(first.timestamp())]
        while bounds[-1] < end:
            if len(bounds) > MAX_PERIODS:
                raise InvalidInput(
                    f"the range holds more than {MAX_PERIODS} periods of {res}; use a coarser res",
                    field="res",
                )
            bounds.append(int(_shift(first, res, len(bounds), zone).timestamp()))
    except (ValueError, OverflowError, OSError):
        raise InvalidInput("the periods reach past the years 1 to 9999", field="end") from None
    return Window(res, bounds, zone)
