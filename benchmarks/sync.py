"""Warehouse sync benchmarks: the diff of a large model, and rows/s into Patron.

Usage: python benchmarks/sync.py [--rows 1000000] [--send-rows 100000] [--json PATH]

1. **Diff.** A SQLite model of N rows with 10 mapped columns; a state holding what a previous
   run acknowledged; 1% of the rows then change. Timed: `patron sync run --dry-run` (read the
   model, hash every row, compare with the state, spool the changes), in a process of its own
   so that its peak RSS is its own. Floor: the same process reading the same query through
   SQLAlchemy and doing nothing with the rows.
2. **Into Patron.** M new rows (3 mapped columns) synced into a fresh `patron serve` as
   customers: rows/s. Beside it, in the same run, Patron's own batch ingestion of the same
   identify operations posted directly to `/api/v2/batch` (4 clients) on another fresh server.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from batch import basic, post_all, serve
from identify import PATRON
from report import emit, row

COLUMNS = [f"c{i}" for i in range(10)]


def make_model(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    columns = ", ".join(f"{c} TEXT" for c in COLUMNS)
    conn.execute(f"CREATE TABLE users (id TEXT PRIMARY KEY, {columns})")
    conn.executemany(
        f"INSERT INTO users VALUES (?, {', '.join('?' for _ in COLUMNS)})",
        ((f"u{i}", *(f"{c}-value-{i % 977}" for c in COLUMNS)) for i in range(rows)),
    )
    conn.commit()
    conn.close()


def config(folder: Path, model: Path, destination: dict[str, Any], columns: list[str]) -> Path:
    path = folder / "syncs.yaml"
    path.write_text(yaml.safe_dump({"syncs": [{
        "name": "users", "type": "customers",
        "source": {"url": f"sqlite:///{model}", "query": "SELECT * FROM users",
                   "primary_key": "id"},
        "destination": destination, "match": {"column": "id"},
        "mapping": {c: c for c in columns}, "concurrency": 4, "rate_limit": 10_000,
    }]}))  # fmt: skip
    return path


CHILD = """
import resource, sys, time
import sqlalchemy as sa
started = time.perf_counter()
if sys.argv[1] == "read":
    engine = sa.create_engine(sys.argv[2])
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(
            sa.text("SELECT * FROM users"))
        columns = list(result.keys())
        n = sum(1 for values in result if dict(zip(columns, values)))
else:
    from click.testing import CliRunner
    from patron.cli import main
    outcome = CliRunner().invoke(main, ["sync", "run", sys.argv[2], "--dry-run"])
    assert outcome.exit_code == 0, outcome.output
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def child(*args: str) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                         check=True).stdout.split()  # fmt: skip
    return float(out[-2]), float(out[-1])


def bench_diff(rows: int, work: Path) -> list[dict[str, Any]]:
    model = work / "model.db"
    make_model(model, rows)
    destination = {"track_url": "http://127.0.0.1:9", "site_id": "s", "track_api_key": "k"}
    path = config(work, model, destination, COLUMNS)
    # The state a previous run would have left: every row acknowledged.
    from patron.sync.config import load
    from patron.sync.plan import Counts, diff
    from patron.sync.sources import rows as read_rows
    from patron.sync.state import State

    [sync] = load(path).syncs
    state = State(work / ".patron-sync")
    changes = diff(sync, read_rows(sync.source, work), {}, set(), lambda k: {}, Counts(), set())
    batch: list[tuple[str, int, str | None]] = []
    for change in changes:
        batch.append((change.key, change.hash, change.ident))
        if len(batch) == 50_000:
            state.record("users", batch, [], [], 0)
            batch = []
    state.record("users", batch, [], [], 0)
    state.close()
    conn = sqlite3.connect(model)
    conn.execute("UPDATE users SET c3 = 'changed' WHERE CAST(substr(id, 2) AS INTEGER) % 100 = 7")
    conn.commit()
    conn.close()
    floor_s, floor_mb = child("read", f"sqlite:///{model}")
    diff_s, diff_mb = child("diff", str(path))
    print(f"diff of {rows:,} rows (1% changed): {diff_s:.1f} s, peak {diff_mb:.0f} MB; "
          f"reading alone {floor_s:.1f} s, {floor_mb:.0f} MB")  # fmt: skip
    label = f"{rows:,} rows, 10 columns, 1% changed"
    return [
        row("sync diff", f"floor: read the model ({label})", floor_s, "s"),
        row("sync diff", f"patron sync run --dry-run ({label})", diff_s, "s", floor_s, "< 10 s"),
        row("sync diff", "peak RSS of the diff", diff_mb, "MB", floor_mb, "< 500 MB"),
    ]


def bench_send(rows: int, work: Path) -> list[dict[str, Any]]:
    model = work / "send.db"
    make_model(model, rows)
    columns = COLUMNS[:3]
    ops = [
        orjson.dumps({"type": "person", "action": "identify", "identifiers": {"id": f"u{i}"},
                      "attributes": {c: f"{c}-value-{i % 977}" for c in columns}})
        for i in range(rows)
    ]  # fmt: skip
    bodies, part, size = [], [], 0
    for op in ops:
        if size + len(op) > 480_000:
            bodies.append(b'{"batch":[' + b",".join(part) + b"]}")
            part, size = [], 0
        part.append(op)
        size += len(op) + 1
    bodies.append(b'{"batch":[' + b",".join(part) + b"]}")
    direct_dir, sync_dir = work / "direct", work / "sync"
    direct_dir.mkdir()
    sync_dir.mkdir()
    with serve(direct_dir) as (base, creds, _):
        elapsed = post_all(base, "/api/v2/batch", basic(creds["site_id"], creds["track_api_key"]),
                           bodies, 4)  # fmt: skip
        direct = rows / elapsed
    with serve(sync_dir) as (base, creds, _):
        destination = {"track_url": base, "site_id": creds["site_id"],
                       "track_api_key": creds["track_api_key"]}  # fmt: skip
        path = config(sync_dir, model, destination, columns)
        started = time.perf_counter()
        subprocess.run([PATRON, "sync", "run", str(path)], check=True, capture_output=True)
        synced = rows / (time.perf_counter() - started)
    print(f"into Patron: sync {synced:,.0f} rows/s; direct /api/v2/batch {direct:,.0f} ops/s")
    return [
        row("sync into Patron", "Patron /api/v2/batch, posted directly", direct, "ops/s"),
        row("sync into Patron", f"patron sync run, {rows:,} new rows", synced, "rows/s", direct),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--send-rows", type=int, default=100_000)
    parser.add_argument("--json", help="also write the figures here (benchmarks/report.py)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="patron-bench-sync-"))
    try:
        rows = bench_diff(args.rows, work) + bench_send(args.send_rows, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    emit(args.json, rows)


if __name__ == "__main__":
    main()
