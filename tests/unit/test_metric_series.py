"""The periods of metric series: v1 windows ending with the current period, v2 ranges in a
time zone, and counting into them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from patron.domain import metric_series
from patron.domain.errors import InvalidInput


def unix(*parts: int, tz: object = UTC) -> int:
    return int(datetime(*parts, tzinfo=tz).timestamp())  # type: ignore[arg-type, misc]


NOW = unix(2026, 3, 11, 15, 30)  # a Wednesday


def test_v1_days_end_with_today() -> None:
    window = metric_series.v1("days", "3", NOW)
    assert window.bounds == [
        unix(2026, 3, 9),
        unix(2026, 3, 10),
        unix(2026, 3, 11),
        unix(2026, 3, 12),
    ]
    assert window.counts([unix(2026, 3, 8, 23), unix(2026, 3, 9), NOW, NOW, unix(2026, 3, 12)]) == [
        1,
        0,
        2,
    ]


def test_v1_weeks_start_on_monday_and_months_on_the_first() -> None:
    weeks = metric_series.v1("weeks", "2", NOW)
    assert weeks.bounds == [unix(2026, 3, 2), unix(2026, 3, 9), unix(2026, 3, 16)]
    months = metric_series.v1("months", "3", NOW)
    assert months.bounds == [unix(2026, 1, 1), unix(2026, 2, 1), unix(2026, 3, 1), unix(2026, 4, 1)]
    year_end = metric_series.v1("months", "2", unix(2026, 1, 5))
    assert year_end.bounds == [unix(2025, 12, 1), unix(2026, 1, 1), unix(2026, 2, 1)]


def test_v1_defaults_and_limits() -> None:
    assert len(metric_series.v1(None, None, NOW).bounds) == 46  # 45 days
    assert len(metric_series.v1("hours", None, NOW).bounds) == 25
    assert len(metric_series.v1("months", None, NOW).bounds) == 13
    for period, steps in (("hours", "25"), ("days", "46"), ("weeks", "13"), ("months", "121")):
        with pytest.raises(InvalidInput):
            metric_series.v1(period, steps, NOW)
    assert metric_series.v1("months", "120", 0).start == unix(1960, 2, 1)
    with pytest.raises(InvalidInput):  # a clock at the end of time: no year 10000
        metric_series.v1("months", "12", metric_series.LATEST)


def test_v2_days_in_a_zone_across_daylight_saving() -> None:
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    window = metric_series.v2(
        "daily", str(unix(2026, 3, 7, 12, tz=ny)), str(unix(2026, 3, 9, tz=ny)), "America/New_York"
    )
    assert window.res == "days"
    assert window.bounds == [
        unix(2026, 3, 7, tz=ny),
        unix(2026, 3, 8, tz=ny),
        unix(2026, 3, 9, tz=ny),
    ]
    assert window.bounds[2] - window.bounds[1] == 23 * 3600  # the spring-forward day
    assert window.label(window.start) == "2026-03-07 00:00:00 -0500 EST"
    assert window.label(window.end) == "2026-03-09 00:00:00 -0400 EDT"


def test_v2_refuses_bad_ranges() -> None:
    with pytest.raises(InvalidInput):
        metric_series.v2("hours", "0", str(2 * 366 * 86400), None)  # too many periods
    with pytest.raises(InvalidInput):
        metric_series.v2("months", str(metric_series.LATEST - 10), str(metric_series.LATEST), None)
