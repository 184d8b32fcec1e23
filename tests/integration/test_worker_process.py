"""``patron worker``: segments and exports kept by a process of their own, beside a
``patron serve`` that runs no workers (a PostgreSQL deployment of several processes)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from live import PATRON, LiveServer
from support import scratch_postgres

NO_WORKERS = {"PATRON_SEGMENT_WORKER": "0", "PATRON_EXPORT_WORKER": "0"}


@pytest.fixture
def pg_url() -> Iterator[str]:
    with scratch_postgres("patron_worker") as url:
        yield url


def wait_for(check: Any, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_worker_process_keeps_segments_and_builds_exports(pg_url: str, tmp_path: Path) -> None:
    server = LiveServer(pg_url, tmp_path, env=NO_WORKERS)
    log = (tmp_path / "worker.log").open("wb")
    worker = None
    try:
        creds = server.creds
        basic = httpx.BasicAuth(creds["site_id"], creds["track_api_key"])
        bearer = {"Authorization": f"Bearer {creds['app_api_key']}"}
        http = httpx.Client(base_url=server.base, headers=bearer)
        http.put("/api/v1/customers/w1", json={"plan": "pro"}, auth=basic).raise_for_status()
        rule = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
        segment = http.post("/v1/segments", json={"segment": {"name": "pro", "conditions": rule}})
        sid = segment.json()["segment"]["id"]
        export = http.post("/v1/exports/customers", json={"filters": rule}).json()["export"]
        time.sleep(0.5)  # nothing in the serving process builds them
        assert http.get(f"/v1/segments/{sid}").json()["segment"]["state"] == "build_queued"
        assert http.get(f"/v1/exports/{export['id']}").json()["export"]["status"] == "pending"

        worker = subprocess.Popen(
            [PATRON, "worker", "--database", pg_url, "--log-level", "warning"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**server.client_env(), "PATRON_SEGMENT_TICK": "100"},
        )
        wait_for(lambda: http.get(f"/v1/segments/{sid}/customer_count").json()["count"] == 1)
        done = wait_for(
            lambda: (
                (e := http.get(f"/v1/exports/{export['id']}").json()["export"])["status"] == "done"
                and e
            )
        )
        assert done["total"] == 1
        # Writes through the server reach the worker's segments on its next tick.
        http.put("/api/v1/customers/w2", json={"plan": "pro"}, auth=basic).raise_for_status()
        wait_for(lambda: http.get(f"/v1/segments/{sid}/customer_count").json()["count"] == 2)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        server.stop()
        log.close()
