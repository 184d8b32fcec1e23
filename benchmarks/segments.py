"""Segment benchmarks: full build, identify throughput with segments, entry latency.

Usage: python benchmarks/segments.py [--people 1000000] [--events 10000000] [--json PATH]

1. **Build.** A SQLite file with N people (20% on plan "pro"), M events over the last 180
   days (purchases 30%, nine other names) and an iOS device for 30% of people, loaded directly
   (setup, not measured). Then a segment with three conditions (attribute + event count
   within 30 days + device) is built by Patron's segment worker, and timed; the floor is one
   hand-written SQL statement that computes the same members into a table, on the same file
   in the same run.
2. **Identify with segments.** Three fresh `patron serve`s: without segments, with 20
   "stable" segments (read what every identify writes, so all are re-evaluated each time, but
   no one enters or leaves) and with 20 "churning" ones (each new person enters about six);
   the same identify load against each, in alternating rounds.
3. **Entry latency.** With a segment `plan = "vip"`, identify new people as vip one at a time
   and poll `GET /v1/customers/{id}/segments` until the segment shows: time from the 200 to
   the membership being visible.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx

from identify import PATRON, free_port, load, start
from report import emit, row

DAY = 86_400
NAMES = [f"event_{i}" for i in range(9)]
CONDITION: dict[str, Any] = {
    "and": [
        {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        {"event": {"name": "purchase", "at_least": 2, "within": "30d"}},
        {"device": {"platform": "ios"}},
    ]
}
# The floor: the same question, asked by hand in one statement, with the best index named.
FLOOR_SQL = """
CREATE TABLE floor_members AS
SELECT p.pk FROM people p
WHERE p.workspace_id = :ws
  AND json_extract(p.attributes, '$.plan') = 'pro'
  AND p.pk IN (SELECT person_pk
               FROM activities INDEXED BY ix_activities_workspace_id_name_type_timestamp_person_pk
               WHERE workspace_id = :ws AND person_pk IS NOT NULL
                 AND type = 'event' AND name = 'purchase'
                 AND timestamp >= :since
               GROUP BY person_pk HAVING count(*) >= 2)
  AND p.pk IN (SELECT person_pk FROM devices WHERE workspace_id = :ws AND platform = 'ios')
"""


def _workspace(path: Path) -> int:
    from patron.store import workspaces
    from patron.store.database import Database
    from patron.store.migrate import prepare

    url = f"sqlite:///{path}"
    prepare(url)
    db = Database(url, read_pool_size=1)
    try:
        return db.write_sync(lambda c: workspaces.create(c, "bench")).workspace_id
    finally:
        db.close()


def populate(path: Path, ws: int, people: int, events: int, now: int) -> None:
    """Load people, events and devices straight into the file (indexes rebuilt after)."""
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        "AND tbl_name IN ('people', 'activities', 'devices')"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')

    def person_rows() -> Iterator[tuple[Any, ...]]:
        for pk in range(1, people + 1):
            plan = "pro" if rng.random() < 0.2 else "free"
            attrs = json.dumps({"plan": plan, "score": rng.randint(0, 100)})
            ts = json.dumps({"plan": now, "score": now})
            yield (pk, ws, f"c{pk:09x}", f"u{pk}", attrs, ts, now, now)

    conn.executemany(
        "INSERT INTO people (pk, workspace_id, cio_id, external_id, attributes, attribute_ts,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
        person_rows(),
    )

    def event_rows() -> Iterator[tuple[Any, ...]]:
        for _ in range(events):
            yield (
                ws,
                rng.randint(1, people),
                "event",
                "purchase" if rng.random() < 0.3 else rng.choice(NAMES),
                now - rng.randint(0, 180 * DAY),
                "{}",
                now,
            )

    conn.executemany(
        "INSERT INTO activities (workspace_id, person_pk, type, name, timestamp, data,"
        " created_at) VALUES (?,?,?,?,?,?,?)",
        event_rows(),
    )
    conn.executemany(
        "INSERT INTO devices (workspace_id, person_pk, token, platform, attributes, updated_at)"
        " VALUES (?,?,?,?,?,?)",
        (
            (ws, pk, f"tok{pk}", "ios", "{}", now)
            for pk in range(1, people + 1)
            if rng.random() < 0.3
        ),
    )
    conn.commit()
    for _, sql in indexes:
        conn.execute(sql)
    conn.commit()  # no ANALYZE: Patron's files have no planner statistics either
    conn.close()


def floor_build(path: Path, ws: int, now: int) -> tuple[float, int]:
    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        conn.execute(FLOOR_SQL, {"ws": ws, "since": now - 30 * DAY})
        conn.commit()
        elapsed = time.perf_counter() - started
        count = int(conn.execute("SELECT count(*) FROM floor_members").fetchone()[0])
        conn.execute("DROP TABLE floor_members")
        conn.commit()
        return elapsed, count
    finally:
        conn.close()


def patron_build(path: Path, ws: int, now: int, step: int) -> tuple[float, int]:
    from patron.domain import clock
    from patron.store import segments
    from patron.store.database import Database
    from patron.worker.segments import SegmentWorker

    clock.set_time(ws, now, frozen=True)  # the floor's "now", so both ask the same question
    db = Database(f"sqlite:///{path}", read_pool_size=2)
    try:
        segment = db.write_sync(
            lambda c: segments.create(
                c, ws, name="three", description="", tags=None, condition=CONDITION, now=now
            )
        )
        worker = SegmentWorker(db, build_step=step)

        async def build() -> float:
            started = time.perf_counter()
            await worker.build(segment)
            return time.perf_counter() - started

        elapsed = asyncio.run(build())
        count = db.read_sync(lambda c: segments.count(c, segment.id))
        state = db.read_sync(lambda c: segments.get(c, ws, segment.id))
        assert state is not None and state.state == segments.FINISHED, state
        return elapsed, count
    finally:
        db.close()


def bench_build(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    path = work / "build.db"
    ws = _workspace(path)
    now = int(time.time())
    started = time.perf_counter()
    populate(path, ws, args.people, args.events, now)
    print(f"loaded {args.people:,} people and {args.events:,} events in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    floor_s, floor_n = floor_build(path, ws, now)
    patron_s, patron_n = patron_build(path, ws, now, args.build_step)
    print(f"build: floor {floor_s:.2f} s ({floor_n} members), Patron {patron_s:.2f} s "
          f"({patron_n} members)")  # fmt: skip
    if floor_n != patron_n:
        raise SystemExit(f"membership differs: floor {floor_n}, Patron {patron_n}")
    label = f"{args.people:,} people, {args.events:,} events"
    return [
        row("segment build", f"floor: one SQL statement ({label})", floor_s, "s"),
        row("segment build", f"Patron worker build ({label})", patron_s, "s", floor_s,
            "< 2 s"),
    ]  # fmt: skip


# -- identify throughput with 20 segments -------------------------------------------------------


def _serve(work: Path, name: str) -> tuple[Any, str, dict[str, Any]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    creds_file = work / f"{name}.json"
    proc = start(
        [PATRON, "serve", "--port", str(port), "--database", f"sqlite:///{work / name}.db",
         "--credentials-file", str(creds_file), "--log-level", "warning"],
        base + "/healthz",
    )  # fmt: skip
    return proc, base, json.loads(creds_file.read_text())


def stable_segments() -> list[dict[str, Any]]:
    """Twenty segments on what every identify writes (plan, visits, email), so each identify
    re-evaluates all of them, but whose outcome the load never changes: the cost of keeping
    segments exact, without the cost of recording entries."""
    out: list[dict[str, Any]] = []
    for i in range(20):
        cond = {"and": [
            {"attribute": {"field": "plan", "operator": "in", "value": [f"plan{i}", "gold"]}},
            {"attribute": {"field": "visits", "operator": "gt", "value": i * 100}},
            {"attribute": {"field": "email", "operator": "contains", "value": f"{i}@"}},
        ]}  # fmt: skip
        out.append({"segment": {"name": f"stable{i}", "conditions": cond}})
    return out


def churning_segments() -> list[dict[str, Any]]:
    """Twenty segments on what the identify load writes; about six take in each new person
    and the growing ``visits`` moves people across thresholds (many entries and exits)."""
    out: list[dict[str, Any]] = []
    for i in range(20):
        kind = i % 4
        if kind == 0:
            cond = {"attribute": {"field": "visits", "operator": "gt", "value": i * 1000}}
        elif kind == 1:
            cond = {"attribute": {"field": "plan", "operator": "eq", "value": f"plan{i}"}}
        elif kind == 2:
            cond = {"and": [
                {"attribute": {"field": "email", "operator": "contains", "value": f"{i}@"}},
                {"attribute": {"field": "visits", "operator": "lt", "value": 10_000 * i}},
            ]}  # fmt: skip
        else:
            cond = {"or": [
                {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
                {"event": {"name": f"signup{i}", "at_least": 1}},
            ]}  # fmt: skip
        out.append({"segment": {"name": f"s{i}", "conditions": cond}})
    return out


def bench_identify(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    kinds = {"none": [], "stable": stable_segments(), "churning": churning_segments()}
    servers = {name: _serve(work, name) for name in kinds}
    runs: dict[str, list[float]] = {name: [] for name in kinds}
    members: dict[str, list[int]] = {}
    try:
        for name, definitions in kinds.items():
            _, base, creds = servers[name]
            bearer = {"Authorization": f"Bearer {creds['app_api_key']}"}
            for body in definitions:
                httpx.post(base + "/v1/segments", json=body, headers=bearer).raise_for_status()

        def auth(creds: dict[str, Any]) -> str:
            token = f"{creds['site_id']}:{creds['track_api_key']}".encode()
            return base64.b64encode(token).decode()

        for _, base, creds in servers.values():
            load(base, auth(creds), 2, 32)
        for _ in range(args.rounds):  # alternating, so that drift hits every server alike
            for name, (_, base, creds) in servers.items():
                runs[name].append(load(base, auth(creds), args.duration, 32)["rps"])
        for name, (_, base, creds) in servers.items():
            bearer = {"Authorization": f"Bearer {creds['app_api_key']}"}
            listed = httpx.get(base + "/v1/segments", headers=bearer).json()["segments"]
            members[name] = [
                httpx.get(f"{base}/v1/segments/{s['id']}/customer_count", headers=bearer).json()[
                    "count"
                ]
                for s in listed
            ]
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait()
    plain = statistics.median(runs["none"])
    out = [row("identify with segments", "no segments", plain, "req/s")]
    for name in ("stable", "churning"):
        ratios = [s / p for p, s in zip(runs["none"], runs[name], strict=True)]
        print(f"identify, 20 {name} segments: {runs[name]} vs {runs['none']} without; ratios "
              f"{', '.join(f'{r:.2f}' for r in ratios)}; members {members[name]}")  # fmt: skip
        out.append(
            row("identify with segments", f"20 {name} segments", statistics.median(runs[name]),
                "req/s", plain, ">= 0.8" if name == "stable" else "")
        )  # fmt: skip
    return out


# -- entry latency ------------------------------------------------------------------------------


def bench_latency(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    proc, base, creds = _serve(work, "latency")
    try:
        bearer = {"Authorization": f"Bearer {creds['app_api_key']}"}
        vip = {"attribute": {"field": "plan", "operator": "eq", "value": "vip"}}
        segment = httpx.post(
            base + "/v1/segments", json={"segment": {"name": "vip", "conditions": vip}},
            headers=bearer,
        ).json()["segment"]  # fmt: skip
        latencies: list[float] = []
        with httpx.Client(base_url=base) as http:
            basic = httpx.BasicAuth(creds["site_id"], creds["track_api_key"])
            for i in range(args.samples):
                answer = http.put(f"/api/v1/customers/v{i}", json={"plan": "vip"}, auth=basic)
                answer.raise_for_status()
                acked = time.perf_counter()
                while True:
                    found = http.get(f"/v1/customers/v{i}/segments", headers=bearer).json()
                    if any(s["id"] == segment["id"] for s in found["segments"]):
                        break
                latencies.append((time.perf_counter() - acked) * 1000)
    finally:
        proc.terminate()
        proc.wait()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(f"entry latency over {len(latencies)} identifies: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return [
        row("segment entry latency", "p50 (200 → membership visible)", p50, "ms"),
        row("segment entry latency", "p99 (200 → membership visible)", p99, "ms",
            target="< 50 ms"),
    ]  # fmt: skip


PARTS = {"build": bench_build, "identify": bench_identify, "latency": bench_latency}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--build-step", type=int, default=250_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per identify round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=300, help="entry-latency samples")
    parser.add_argument("--part", choices=sorted(PARTS), action="append")
    parser.add_argument("--json", help="also write the figures here (benchmarks/report.py)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="patron-bench-segments-"))
    rows: list[dict[str, Any]] = []
    try:
        for name in args.part or list(PARTS):
            rows += PARTS[name](args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(args.json, rows)


if __name__ == "__main__":
    sys.exit(main())
