"""Dev-mode building blocks: durations, rate-limit buckets, fault rules, the request log,
and per-workspace clocks and seeds."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.domain import clock, ids
from patron.domain.durations import parse_duration
from patron.domain.errors import InvalidInput
from patron.domain.faults import Faults, parse_rules
from patron.domain.rate_limits import CUSTOMERIO, RateLimiter
from patron.domain.request_log import Entry, Identity, RequestLog


@pytest.fixture(autouse=True)
def _restore_globals() -> Iterator[None]:
    yield
    clock.reset()
    ids.clear_seeds()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90),
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("3d", 259200),
        ("1h30m", 5400),
        ("2w", 1209600),
        (" 1H 5S ", 3605),
        ("-1d", -86400),
        (1.9, 1),
    ],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "3x", "d3", "1.5h", True, None, [], "1h-30m"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(bad, "advance")


@given(st.lists(st.tuples(st.integers(0, 999), st.sampled_from("smhdw")), min_size=1, max_size=5))
def test_duration_parts_add_up(parts: list[tuple[int, str]]) -> None:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = "".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == sum(n * units[u] for n, u in parts)


def test_app_bucket_allows_ten_per_second_per_workspace() -> None:
    limiter = RateLimiter(CUSTOMERIO)
    results = [limiter.check(1, "app", "GET", "/v1/customers") for _ in range(11)]
    assert all(r is None for r in results[:10])
    over = results[10]
    assert over is not None and over.limit.name == "app" and over.retry_after == 1
    assert over.limit.message == "Your request is over the 10-per-second limit."
    # Another workspace, and another credential of the same one, have buckets of their own.
    assert limiter.check(2, "app", "GET", "/v1/customers") is None
    assert limiter.check(1, "track", "PUT", "/api/v1/customers/x") is None
    time.sleep(0.12)  # refills at 10/s: one more is allowed
    assert limiter.check(1, "app", "GET", "/v1/customers") is None


def test_broadcast_trigger_is_one_per_ten_seconds() -> None:
    limiter = RateLimiter(CUSTOMERIO)
    assert limiter.check(1, "app", "POST", "/v1/campaigns/7/triggers") is None
    over = limiter.check(1, "app", "POST", "/v1/campaigns/7/triggers")
    assert over is not None and over.limit.name == "broadcast_trigger"
    assert 9 <= over.retry_after <= 10


def test_fault_rules_match_by_workspace_path_method_and_times() -> None:
    faults = Faults()
    faults.add(1, parse_rules({"path": "/api/v1/*", "method": "put", "status": 503, "times": 1}))
    assert faults.pick(2, "PUT", "/api/v1/customers/a") is None
    assert faults.pick(1, "GET", "/api/v1/customers/a") is None
    hit = faults.pick(1, "PUT", "/api/v1/customers/a")
    assert hit is not None and hit.status == 503 and hit.headers == {"Retry-After": "1"}
    assert faults.pick(1, "PUT", "/api/v1/customers/a") is None  # times used up


def test_fault_probability_follows_the_workspace_seed() -> None:
    def rolls() -> list[bool]:
        faults = Faults()
        faults.seed(1, 99)
        faults.add(1, parse_rules({"status": 500, "probability": 0.3}))
        return [faults.pick(1, "GET", "/x") is not None for _ in range(200)]

    first = rolls()
    assert first == rolls()
    assert 30 <= sum(first) <= 90


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {},
        "x",
        {"status": 600},
        {"probability": -0.1},
        {"status": None},
        {"latency_ms": 70_000},
        {"id": 3, "status": 500},
        {"colour": "red"},
    ],
)
def test_bad_fault_rules(payload: object) -> None:
    with pytest.raises(InvalidInput):
        parse_rules(payload)


def _entry(log: RequestLog, ws: int | None, path: str, status: int) -> Entry:
    who = None if ws is None else Identity(ws, "track")
    return Entry(log.next_id(), 0, "GET", path, "", who, None, 0, status, None, 1.0)


def test_request_log_is_bounded_and_scoped() -> None:
    log = RequestLog(3)
    for n in range(5):
        log.add(_entry(log, 1, f"/a/{n}", 200))
    assert [e.path for e in log.query(1)] == ["/a/4", "/a/3", "/a/2"]
    log.add(_entry(log, 2, "/b", 404))
    log.add(_entry(log, None, "/anon", 401))
    assert [e.path for e in log.query(2)] == ["/anon", "/b"]
    assert [e.path for e in log.query(1, status="4xx")] == ["/anon"]
    assert [e.path for e in log.query(2, path="/b*")] == ["/b"]
    assert log.clear(2) == 2
    assert [e.path for e in log.query(1)] == ["/a/4"]


def test_clocks_are_per_workspace() -> None:
    clock.set_time(1, 1_000_000, frozen=True)
    clock.advance(1, 60)
    assert clock.now(1) == 1_000_060
    assert abs(clock.now(2) - time.time()) < 2
    assert abs(clock.now() - time.time()) < 2
    clock.freeze(1, False)
    assert clock.state(1)["frozen"] is False
    clock.reset(1)
    assert abs(clock.now(1) - time.time()) < 2


def test_seeds_are_per_workspace_and_never_touch_keys() -> None:
    ids.seed(1, 5)
    a = [ids.new_cio_id(1), ids.new_cio_object_id(1)]
    ids.seed(1, 5)
    assert [ids.new_cio_id(1), ids.new_cio_object_id(1)] == a
    assert ids.new_cio_id(2) != a[0]
    assert ids.current_seed(1) == 5 and ids.current_seed(2) is None
    assert ids.new_key() != ids.new_key()
