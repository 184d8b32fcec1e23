"""Track v2 batch ingestion: operations/s against an executemany floor, same run.

Usage: python benchmarks/batch.py [--batches 40] [--clients 4] [--postgres URL]

- Floor: the same rows (one person upsert and one event insert per pair of operations)
  written with plain sqlite3 ``executemany``, one transaction per batch, synchronous=FULL.
- Patron: ``patron serve`` on a fresh SQLite file (or, with ``--postgres URL``, a fresh
  database on that server, dropped afterwards); ``--clients`` concurrent clients POST ~500 KB
  ``/api/v2/batch`` bodies of person identify + event operations; every batch must be
  answered 200 (durable acks).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import sqlalchemy as sa

from identify import PATRON, free_port, rss_peak_mb, wait_ready
from report import emit, row

MAX_BATCH = 480_000


def make_batches(count: int) -> list[bytes]:
    """``count`` batch bodies just under 500 KB, alternating identify and event operations."""
    batches = []
    n = 0
    for b in range(count):
        ops: list[str] = []
        size = 12
        while True:
            n += 1
            person = f"user{n % 200_000}"
            identify = json.dumps(
                {
                    "type": "person",
                    "action": "identify",
                    "identifiers": {"id": person},
                    "attributes": {"plan": "pro", "batch": b, "email": f"{person}@x.co"},
                }
            )
            event = json.dumps({"type": "person", "action": "event",
                                "identifiers": {"id": person}, "name": "Order Completed",
                                "attributes": {"total": n % 97}})  # fmt: skip
            if size + len(identify) + len(event) + 2 > MAX_BATCH:
                break
            ops += [identify, event]
            size += len(identify) + len(event) + 2
        batches.append(('{"batch":[' + ",".join(ops) + "]}").encode())
    return batches


def floor(batches: list[bytes], path: Path) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE people (id TEXT PRIMARY KEY, attributes TEXT)")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, person TEXT, name TEXT, data TEXT)")
    ops = 0
    started = time.perf_counter()
    for body in batches:
        items = json.loads(body)["batch"]
        people = [
            (o["identifiers"]["id"], json.dumps(o["attributes"]))
            for o in items
            if o["action"] == "identify"
        ]
        events = [
            (o["identifiers"]["id"], o["name"], json.dumps(o["attributes"]))
            for o in items
            if o["action"] == "event"
        ]
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO people VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes",
            people,
        )
        conn.executemany("INSERT INTO events (person, name, data) VALUES (?, ?, ?)", events)
        conn.execute("COMMIT")
        ops += len(items)
    elapsed = time.perf_counter() - started
    conn.close()
    return ops / elapsed


@contextlib.contextmanager
def fresh_database(workdir: Path, postgres: str | None) -> Iterator[str]:
    """A SQLite file in ``workdir``, or a new database on the ``postgres`` server (dropped
    afterwards)."""
    if postgres is None:
        yield f"sqlite:///{workdir / 'patron.db'}"
        return
    url = sa.engine.make_url(postgres.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"patron_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def serve(
    workdir: Path, postgres: str | None = None
) -> Iterator[tuple[str, dict[str, Any], subprocess.Popen[bytes]]]:
    """``patron serve`` on a fresh database: (base URL, default workspace keys, process)."""
    with fresh_database(workdir, postgres) as url, _serve(workdir, url) as served:
        yield served


@contextlib.contextmanager
def _serve(
    workdir: Path, url: str
) -> Iterator[tuple[str, dict[str, Any], subprocess.Popen[bytes]]]:
    port = free_port()
    creds_file = workdir / "creds.json"
    proc = subprocess.Popen(
        [PATRON, "serve", "--port", str(port), "--database", url,
         "--credentials-file", str(creds_file), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/healthz", proc)
        yield base, json.loads(creds_file.read_text()), proc
    finally:
        proc.terminate()
        proc.wait()


def basic(user: str, password: str) -> dict[str, str]:
    """JSON request headers with HTTP Basic credentials."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def post_all(
    base: str, path: str, headers: dict[str, str], bodies: list[bytes], clients: int
) -> float:
    """POST every body with ``clients`` concurrent clients; returns seconds. Each must be 200."""
    failures: list[str] = []
    queue = list(bodies)
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                response = http.post(path, content=body)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests to {path} failed, first: {failures[0]}")
    return elapsed


def patron(
    batches: list[bytes], workdir: Path, clients: int, postgres: str | None = None
) -> tuple[float, float]:
    with serve(workdir, postgres) as (base, creds, proc):
        headers = basic(creds["site_id"], creds["track_api_key"])
        total_ops = sum(body.count(b'"type": "person"') for body in batches)
        elapsed = post_all(base, "/api/v2/batch", headers, batches, clients)
        return total_ops / elapsed, rss_peak_mb(proc.pid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres", help="serve from a fresh database on this PostgreSQL URL")
    parser.add_argument("--json", help="also write the figures here (benchmarks/report.py)")
    args = parser.parse_args()
    batches = make_batches(args.batches)
    ops = sum(body.count(b'"type": "person"') for body in batches)
    with tempfile.TemporaryDirectory(prefix="patron-batch-") as tmp:
        work = Path(tmp)
        floor_rate = floor(batches, work / "floor.db")
        patron_rate, rss = patron(batches, work, args.clients, args.postgres)
    print(f"{len(batches)} batches of ~{len(batches[0]) // 1000} KB, {ops} operations")
    print(f"floor (executemany)  {floor_rate:10.0f} ops/s")
    on = "PostgreSQL" if args.postgres else "SQLite"
    print(f"Patron /api/v2/batch {patron_rate:10.0f} ops/s   peak RSS {rss:.0f} MB   ({on})")
    print(f"Patron / floor: {patron_rate / floor_rate:.2f}   (target: >= 100,000 ops/s)")
    emit(
        args.json,
        [
            row("Track v2 batch", "floor (sqlite3 executemany)", floor_rate, "ops/s"),
            row("Track v2 batch", f"Patron /api/v2/batch ({on})", patron_rate, "ops/s", floor_rate,
                ">= 100,000 ops/s"),
            row("Track v2 batch", "Patron peak RSS", rss, "MB"),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
