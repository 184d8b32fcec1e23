"""Sync value conversion, row keys and config checks (no network)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from patron.sync.config import ConfigError, load
from patron.sync.plan import Counts, Planner, diff
from patron.sync.send import MAX_BATCH, batches
from patron.sync.values import attribute, identifier, parse_time_text, row_key

UTC = datetime.UTC


@given(
    st.datetimes(
        min_value=datetime.datetime(1971, 1, 1),
        max_value=datetime.datetime(2200, 1, 1),
        timezones=st.just(UTC),
    )
)
def test_times_in_every_form_agree(moment: datetime.datetime) -> None:
    seconds = int(moment.timestamp())
    assert attribute(moment) == seconds
    assert attribute(moment.replace(tzinfo=None)) == seconds  # no zone: UTC
    assert parse_time_text(moment.isoformat()) == seconds
    assert parse_time_text(moment.strftime("%Y-%m-%d %H:%M:%S")) == seconds
    assert parse_time_text(moment.strftime("%Y-%m-%dT%H:%M:%SZ")) == seconds


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (Decimal("12.00"), 12),
        (Decimal("1.25"), 1.25),
        (Decimal("NaN"), None),
        (float("inf"), None),
        (True, True),
        ("plain text", "plain text"),
        ("2024-01-02", 1704153600),
        ("2024-01-02T03:04:05+02:00", 1704157445),
        ("2024-13-45", "2024-13-45"),  # not a date: stays text
        (datetime.date(2024, 1, 2), 1704153600),
        (b"\x01\xff", "01ff"),
    ],
)
def test_attribute_values(value: Any, expected: Any) -> None:
    assert attribute(value) == expected


def test_identifiers_and_keys() -> None:
    assert identifier(42) == "42" and identifier(42.0) == "42" and identifier(Decimal("7")) == "7"
    assert identifier("  ") is None and identifier(None) is None
    assert row_key({"a": 1}, ["a"]) == "1"
    assert row_key({"a": 1, "b": "x"}, ["a", "b"]) == '["1","x"]'


def config(tmp_path: Path, **sync: Any) -> Path:
    base = {
        "name": "s",
        "type": "customers",
        "source": {"file": "x.csv", "primary_key": "id"},
        "destination": {"track_url": "http://x", "site_id": "a", "track_api_key": "b"},
        "match": {"column": "id"},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"syncs": [{**base, **sync}]}))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "events"}, "event:"),
        ({"mode": "insert"}, "mode for customers"),
        ({"mode": "update", "on_delete": "delete"}, "needs mode upsert"),
        ({"match": None}, "match"),
        ({"source": {"primary_key": "id"}}, "exactly one of url"),
        ({"destination": {"site_id": "a", "track_api_key": "b"}}, "track_url"),
        ({"typo": 1}, "typo"),
        ({"type": "segments"}, "app_api_key"),
        ({"rate_limit": 0}, "positive"),
    ],
)
def test_bad_configs_say_what_is_wrong(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(config(tmp_path, **change))


def test_regions_and_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY", "secret")
    path = config(
        tmp_path,
        destination={"region": "eu", "site_id": "a", "track_api_key": "${KEY}"},
    )
    [sync] = load(path).syncs
    assert sync.destination.track_api_key == "secret"
    assert sync.destination.urls() == ("https://track-eu.customer.io", "https://api-eu.customer.io")


def test_keys_yaml_reads_as_booleans_are_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``on:`` is YAML 1.1's ``true``; written by hand, as in the README, it is the key."""
    monkeypatch.setenv("TRACK_KEY", "k")
    path = tmp_path / "c.yaml"
    path.write_text(
        "syncs:\n"
        "  - name: s\n"
        "    type: customers\n"
        "    source: {file: x.csv, primary_key: user_id}\n"
        "    destination: {track_url: http://x, site_id: a, track_api_key: '${TRACK_KEY}'}\n"
        "    match: {column: user_id, on: email}\n"
    )
    [sync] = load(path).syncs
    assert sync.match is not None and sync.match.on == "email"
    assert sync.destination.track_api_key == "k"
    monkeypatch.delenv("TRACK_KEY")
    unset = r"destination\.track_api_key: environment variable TRACK_KEY is not set"
    with pytest.raises(ConfigError, match=unset):
        load(path)


def test_diff_finds_added_changed_removed_and_batches_keep_limits(tmp_path: Path) -> None:
    [sync] = load(config(tmp_path, mapping={"plan": "plan"}, on_delete="clear_fields")).syncs
    rows = [{"id": str(i), "plan": "x" * 10_000} for i in range(120)]
    counts, seen = Counts(), set()
    first = list(diff(sync, rows, {}, set(), lambda keys: {}, counts, seen))
    assert counts.added == 120 and len(seen) == 120
    acked = {c.key: c.hash for c in first}
    rows[0]["plan"] = "changed"
    counts = Counts()
    idents = {"119": "119"}
    second = list(diff(sync, rows[:-1], dict(acked), set(), lambda keys: idents, counts, set()))
    assert (counts.changed, counts.removed, counts.unchanged) == (1, 1, 118)
    removal = next(c for c in second if c.kind == "removed")
    assert removal.op == Planner(sync).removal("119", "119")
    assert removal.op is not None and removal.op["attributes"] == {"plan": None, "_update": True}
    rejected: list[Any] = []
    packed = list(batches(first, rejected))
    assert all(len(r.body) <= MAX_BATCH for r in packed) and len(packed) >= 3
    assert sum(len(r.changes) for r in packed) == 120 and rejected == []
