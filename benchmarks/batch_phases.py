"""Where a Track v2 batch's CPU goes: microseconds per operation, by phase (not a target).

Usage: python benchmarks/batch_phases.py [--batches 6]

Parses the same ~480 KB batches as benchmarks/batch.py, then applies each through the write
path on a fresh SQLite file inside a transaction that is rolled back, timing with the process
clock (other tenants' load does not count): parse (JSON and validation), preload (the
identity map's queries), rules (identity resolution, attribute merge, rows held back), flush
(the ``executemany`` writes). Prints the best of the batches, with flush split into Python and
SQLite by running it a second time with the statements not sent.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import orjson
from sqlalchemy.engine import Connection

from batch import make_batches
from patron.domain.track_v2 import parse_operation
from patron.store import migrate, prepared, workspaces
from patron.store.apply import _Writer
from patron.store.database import create_engine

NOW = 1_800_000_000


def _phases(conn: Connection, ws: int, body: bytes) -> dict[str, float]:
    clock = time.process_time
    started = clock()
    ops = [parse_operation(item) for item in orjson.loads(body)["batch"]]
    parsed = clock()
    with conn.begin() as tx:
        writer = _Writer(conn, ws, NOW)
        writer.preload(ops)
        preloaded = clock()
        for op in ops:
            writer.apply_alone(op)
        ruled = clock()
        writer.finish()
        flushed = clock()
        tx.rollback()
    per_op = 1e6 / len(ops)
    return {
        "parse": (parsed - started) * per_op,
        "preload": (preloaded - parsed) * per_op,
        "rules": (ruled - preloaded) * per_op,
        "flush": (flushed - ruled) * per_op,
    }


def measure(bodies: list[bytes]) -> dict[str, float]:
    """Best microseconds per operation of each phase over ``bodies``."""
    with tempfile.TemporaryDirectory(prefix="patron-phases-") as tmp:
        url = f"sqlite:///{tmp}/phases.db"
        migrate.prepare(url)
        engine = create_engine(url, for_writes=True)
        with engine.connect() as conn, conn.begin():
            workspaces.create(conn, "phases")
            ws = workspaces.list_all(conn)[0].id
        best: dict[str, float] = {}
        with engine.connect() as conn:
            for body in bodies:
                for name, value in _phases(conn, ws, body).items():
                    best[name] = min(best.get(name, float("inf")), value)
        engine.dispose()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=6)
    args = parser.parse_args()
    bodies = make_batches(args.batches)
    phases = measure(bodies)
    sent = prepared.Prepared._call
    prepared.Prepared._call = staticmethod(  # type: ignore[method-assign]
        lambda conn, sql, values, *, many: None if many else sent(conn, sql, values, many=many)
    )
    unsent = measure(bodies)
    prepared.Prepared._call = sent  # type: ignore[method-assign]
    print("microseconds of CPU per operation (best batch)")
    for name, value in phases.items():
        print(f"  {name:8} {value:6.1f}")
    print(
        f"  flush = {unsent['flush']:.1f} Python + {phases['flush'] - unsent['flush']:.1f} SQLite"
    )
    total = sum(phases.values())
    print(f"  total {total:.1f}: one core's ceiling {1e6 / total:,.0f} ops/s")


if __name__ == "__main__":
    main()
