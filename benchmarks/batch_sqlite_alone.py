"""What SQLite alone costs for Patron's batch writes: the ceiling no Python work can raise.

Usage: python benchmarks/batch_sqlite_alone.py [--batches 20] [--calls-per-batch 0]

1. Applies the bodies of benchmarks/batch.py (~480 KB each; or, with ``--calls-per-batch
   100``, those of benchmarks/pipelines.py) through Patron's write path on a fresh SQLite file,
   one committed transaction per batch, and records every statement it sends and its values.
2. Replays that record with plain ``sqlite3`` on a copy of the file as it was before step 1
   (same schema, same workspace; WAL, ``synchronous=FULL``, one transaction per batch), timing
   with the process clock, and prints microseconds per operation: statements and commit.
3. For scale, the executemany floor of benchmarks/batch.py on the same bodies, same run
   (wall clock, as there).

The database has one writer, so this is the most a single SQLite file takes of these writes
on this machine, whatever runs in front of it.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from batch import floor, make_batches
from patron.domain.track_v2 import parse_operation
from patron.store import migrate, prepared, workspaces
from patron.store.apply import apply_each
from patron.store.database import create_engine
from pipelines import make_bodies

NOW = 1_800_000_000
Statement = tuple[str, Any, bool]


def record(bodies: list[bytes], db: Path, before: Path) -> tuple[list[list[Statement]], int]:
    """Apply ``bodies``; returns the statements of each batch and the operation count."""
    url = f"sqlite:///{db}"
    migrate.prepare(url)
    engine = create_engine(url, for_writes=True)
    with engine.connect() as conn, conn.begin():
        ws = workspaces.create(conn, "alone").workspace_id
    engine.dispose()
    shutil.copy(db, before)
    engine = create_engine(url, for_writes=True)
    batches: list[list[Statement]] = []
    sent = prepared.Prepared._call

    def keep(conn: Any, sql: str, values: Any, *, many: bool) -> Any:
        batches[-1].append((sql, [dict(v) for v in values] if many else values, many))
        return sent(conn, sql, values, many=many)

    prepared.Prepared._call = staticmethod(keep)  # type: ignore[method-assign]
    ops = 0
    try:
        with engine.connect() as conn:
            for body in bodies:
                operations = [parse_operation(item) for item in orjson.loads(body)["batch"]]
                ops += len(operations)
                batches.append([])
                with conn.begin():
                    assert not apply_each(conn, ws, operations, NOW)
    finally:
        prepared.Prepared._call = sent  # type: ignore[method-assign]
        engine.dispose()
    return batches, ops


def replay(batches: list[list[Statement]], db: Path) -> tuple[float, float]:
    """Seconds of CPU for the statements and for the commits, replayed on ``db``."""
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    clock = time.process_time
    statements = commits = 0.0
    for batch in batches:
        started = clock()
        conn.execute("BEGIN IMMEDIATE")
        for sql, values, many in batch:
            if many:
                conn.executemany(sql, values)
            else:
                conn.execute(sql, values).fetchall()
        written = clock()
        conn.execute("COMMIT")
        statements += written - started
        commits += clock() - written
    conn.close()
    return statements, commits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument(
        "--calls-per-batch",
        type=int,
        choices=(0, 100),
        default=0,
        help="100: pipelines.py's batches of 100 operations instead of ~480 KB ones",
    )
    args = parser.parse_args()
    if args.calls_per_batch:
        bodies = make_bodies(args.batches, "alone")[1]
    else:
        bodies = make_batches(args.batches)
    with tempfile.TemporaryDirectory(prefix="patron-alone-") as tmp:
        work = Path(tmp)
        batches, ops = record(bodies, work / "patron.db", work / "before.db")
        statements, commits = replay(batches, work / "before.db")
        floor_rate = floor(bodies, work / "floor.db")
    per_op = 1e6 / ops
    total = (statements + commits) * per_op
    print(f"{len(bodies)} batches, {ops} operations, {ops // len(bodies)} a batch")
    print(f"  statements {statements * per_op:6.1f} µs/op")
    print(f"  commit     {commits * per_op:6.1f} µs/op")
    print(f"  total      {total:6.1f} µs/op: SQLite alone tops out at {1e6 / total:,.0f} ops/s")
    print(f"floor (batch.py's executemany of two narrow tables): {floor_rate:,.0f} ops/s")


if __name__ == "__main__":
    main()
