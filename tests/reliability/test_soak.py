"""Soak: mixed traffic at 1,000 requests/s (loopback only) for two minutes (``--soak-seconds``
for longer), with the server's RSS sampled every second: no errors, and no memory growth
beyond 10% once warmed up. In ``make test-slow``."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from live import LiveServer
from loadgen import Call, basic, bearer, run

RATE = 1000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(f"sqlite:///{tmp_path / 'patron.db'}", tmp_path, args=("--dev",))
    yield live
    live.stop()


def mixed_traffic(server: LiveServer) -> Iterator[Call]:
    creds = server.creds
    track = basic(creds["site_id"], creds["track_api_key"])
    app = bearer(creds["app_api_key"])
    pipelines = basic(creds["pipelines_write_key"], "")
    rng = random.Random(7)
    for n in itertools.count():
        person = f"s{rng.randrange(20_000)}"
        roll = rng.random()
        if roll < 0.5:
            body = {"email": f"{person}@example.com", "visits": n, "plan": rng.choice("abc")}
            yield Call("PUT", f"/api/v1/customers/{person}", body, track, "identify")
        elif roll < 0.7:
            body = {"name": "viewed", "data": {"n": n}}
            yield Call("POST", f"/api/v1/customers/{person}/events", body, track, "event")
        elif roll < 0.8:
            yield Call("GET", f"/v1/customers/s{n % 100}/attributes", None, app, "read")
        elif roll < 0.9:
            ops = [
                {"type": "person", "action": "event", "identifiers": {"id": person}, "name": "b"}
                for _ in range(5)
            ]
            yield Call("POST", "/api/v2/batch", {"batch": ops}, track, "batch")
        else:
            body = {"userId": person, "event": "Clicked", "properties": {"n": n}}
            yield Call("POST", "/v1/track", body, pipelines, "pipelines")


@pytest.mark.slow
def test_mixed_traffic_at_1000_per_second(
    server: LiveServer, request: pytest.FixtureRequest
) -> None:
    seconds = float(request.config.getoption("soak_seconds"))
    # The people App API reads ask for exist from the start.
    creds = server.creds
    with httpx.Client(auth=(creds["site_id"], creds["track_api_key"])) as http:
        for n in range(100):
            http.put(f"{server.base}/api/v1/customers/s{n}", json={"n": n}).raise_for_status()

    calls = mixed_traffic(server)
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not done.wait(1.0):
            samples.append((time.monotonic() - started, server.rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results = run(server.base, lambda: next(calls), seconds=seconds, connections=16, rate=RATE)
    done.set()
    sampler.join()

    assert results.errors == []
    failed = [(key, status) for key, status in results.answered if not 200 <= status < 300]
    assert failed[:5] == []
    # Only a check that the load was really applied, so that the memory check below means
    # something. How fast Patron is belongs in benchmarks/, not in a test: on this 2-core
    # machine the same code answered 60% to 100% of 1,000/s from one run to the next
    # (docs/benchmarks.md).
    rate = len(results.answered) / seconds
    assert rate >= 0.25 * RATE, f"the load was not applied: {rate:.0f} of {RATE} requests/s"
    warmed = [rss for at, rss in samples if at >= seconds * 0.25]
    baseline = warmed[0]
    answered = len(results.answered)
    print(f"\nsoak: {answered} requests ({rate:.0f}/s), RSS {baseline:.1f} -> {warmed[-1]:.1f} MB")
    assert max(warmed) <= baseline * 1.10, f"RSS grew from {baseline:.1f} to {max(warmed):.1f} MB"
