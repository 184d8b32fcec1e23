"""Nothing acknowledged is ever lost: a load generator records every identify and event that
got a 200; the server is killed with SIGKILL mid-load and restarted on the same database;
every acknowledged write is there. On SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from live import LiveServer
from loadgen import Call, basic, in_background, run
from support import scratch_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'patron.db'}"
        return
    with scratch_postgres("patron_kill") as url:
        yield url


def test_every_acknowledged_write_survives_sigkill(database_url: str, tmp_path: Path) -> None:
    server = LiveServer(database_url, tmp_path, args=("--dev",))
    auth = basic(server.creds["site_id"], server.creds["track_api_key"])
    counter = itertools.count()

    def next_call() -> Call:
        n = next(counter)
        person = f"d{n // 2}"
        if n % 2 == 0:
            return Call("PUT", f"/api/v1/customers/{person}", {"n": n}, auth, ("person", person))
        event_id = f"ev{n}"
        body = {"name": "tick", "id": event_id, "data": {"n": n}}
        return Call("POST", f"/api/v1/customers/{person}/events", body, auth, ("event", event_id))

    wait = in_background(lambda: run(server.base, next_call, seconds=3.0, connections=8))
    time.sleep(1.5)
    server.kill()
    results = wait()
    acknowledged = results.acknowledged()
    assert len(acknowledged) > 100, "the load did not get going before the kill"
    assert results.errors, "the kill happened after the load ended"
    assert all(status == 200 for _, status in results.answered)

    restarted = LiveServer(database_url, tmp_path, args=("--dev",))
    try:
        people = {p["id"] for p in restarted.app_pages("/__patron/people", "people")}
        events = {
            a.get("event_id")
            for a in restarted.app_pages("/v1/activities", "activities", type="event")
        }
    finally:
        restarted.stop()
    missing = [
        key for key in acknowledged if key[1] not in (people if key[0] == "person" else events)
    ]
    assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
