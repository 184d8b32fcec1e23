"""Track v1 identify throughput and latency: Patron against the floor app, same run.

Usage: python benchmarks/identify.py [--duration 10] [--connections 32]

1. Starts the floor (benchmarks/floor_app.py: Starlette + uvicorn, one SQLite upsert per PUT,
   same durability as Patron) and Patron (`patron serve` on a fresh SQLite file).
2. Drives each with the same load: wrk with identify.lua (or a built-in asyncio generator when
   wrk is missing), closed loop, for requests/s and p50/p99.
3. Drives Patron at a fixed 1,000 requests/s for the p99 target, reads its peak RSS, and
   counts stored people to confirm every acknowledged write is there.
4. Samples the size of Patron's SQLite write-ahead log (``patron.db-wal``) every 50 ms
   throughout, and reports its peak (bounded by PATRON_SQLITE_WAL_LIMIT, 64 MB by default) and
   its size after shutdown (none: it is checkpointed and removed).
Prints a table and the ratio Patron/floor.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2 as httpx

import loadgen
from report import emit, row

HERE = Path(__file__).parent
PATRON = str(Path(sys.executable).with_name("patron"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({url})")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"server at {url} never answered")


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_now_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _ms(text: str) -> float:
    """A wrk duration ("812.00us", "1.23ms", "1.02s") in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return (
        float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[match.group(2)]
    )


def _field(pattern: str, output: str) -> str:
    match = re.search(pattern, output)
    if match is None:
        raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
    return match.group(1)


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) and error counts from ``wrk --latency`` output."""
    rps = float(_field(r"Requests/sec:\s+([\d.]+)", output))
    p50 = _ms(_field(r"\n\s*50%[ \t]+(\S+)", output))
    p99 = _ms(_field(r"\n\s*99%[ \t]+(\S+)", output))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def run_wrk(base: str, auth: str, duration: int, connections: int) -> dict[str, float]:
    env = {**os.environ, "BENCH_AUTH": auth}
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(HERE / "identify.lua"),
        base,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return parse_wrk(out)


# -- built-in load generator (for machines without wrk, and for the fixed-rate run) ----------


def _load(
    base: str, auth: str, duration: float, connections: int, rate: float | None
) -> dict[str, float]:
    header = f"Basic {auth}"
    counter = itertools.count(1)

    def next_call() -> loadgen.Call:
        ident = random.randint(1, 100_000)
        body = {"email": f"user{ident}@example.com", "plan": "pro", "visits": next(counter)}
        return loadgen.Call("PUT", f"/api/v1/customers/user{ident}", body, header)

    results = loadgen.run(base, next_call, seconds=duration, connections=connections, rate=rate)
    latencies = sorted(results.latencies_ms)
    return {
        "rps": len(latencies) / duration,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99) - 1],
        "non2xx": float(sum(1 for _, s in results.answered if s >= 300)),
        "socket_errors": float(len(results.errors)),
    }


def load(
    base: str, auth: str, duration: float, connections: int, rate: float | None = None
) -> dict[str, float]:
    if rate is None and shutil.which("wrk"):
        return run_wrk(base, auth, int(duration), connections)
    return _load(base, auth, duration, connections, rate)


def count_rows(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def start(cmd: list[str], ready_url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(ready_url, proc)
    return proc


class FileSizePeak:
    """Samples a file's size every ``interval`` seconds on a thread; ``peak`` in bytes."""

    def __init__(self, path: Path, interval: float = 0.05) -> None:
        self.path = path
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.peak = max(self.peak, self.path.stat().st_size)
            except FileNotFoundError:
                pass

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating floor/Patron rounds")
    parser.add_argument("--json", help="also write the figures here (benchmarks/report.py)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="patron-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        floor_port, patron_port = free_port(), free_port()
        floor_base = f"http://127.0.0.1:{floor_port}"
        patron_base = f"http://127.0.0.1:{patron_port}"
        floor_cmd = [sys.executable, str(HERE / "floor_app.py"), str(floor_port)]
        floor = start([*floor_cmd, str(work / "floor.db"), "FULL"], floor_base + "/")
        procs.append(floor)
        creds_file = work / "creds.json"
        patron = start(
            [PATRON, "serve", "--port", str(patron_port), "--database",
             f"sqlite:///{work / 'patron.db'}", "--credentials-file", str(creds_file),
             "--log-level", "warning"],
            patron_base + "/healthz",
        )  # fmt: skip
        procs.append(patron)
        wal = FileSizePeak(work / "patron.db-wal")
        creds = json.loads(creds_file.read_text())
        auth = base64.b64encode(f"{creds['site_id']}:{creds['track_api_key']}".encode()).decode()
        idle_rss = rss_now_mb(patron.pid)
        load(floor_base, "", 2, args.connections)  # warm-up
        load(patron_base, auth, 2, args.connections)
        floor_runs, patron_runs = [], []
        for _ in range(args.rounds):
            floor_runs.append(load(floor_base, "", args.duration, args.connections))
            patron_runs.append(load(patron_base, auth, args.duration, args.connections))
        results = {"floor": median_of(floor_runs), "patron": median_of(patron_runs)}
        results["floor"]["rss_mb"] = rss_peak_mb(floor.pid)
        results["patron"]["rss_mb"] = rss_peak_mb(patron.pid)
        results["patron@1k/s"] = load(patron_base, auth, args.duration, 20, rate=1000)
        results["patron@1k/s"]["rss_mb"] = rss_peak_mb(patron.pid)
        ratios = [p["rps"] / f["rps"] for f, p in zip(floor_runs, patron_runs, strict=True)]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    wal_peak_mb = wal.stop() / 1024 / 1024
    wal_path = work / "patron.db-wal"
    wal_after_mb = wal_path.stat().st_size / 1024 / 1024 if wal_path.exists() else 0.0
    people = count_rows(work / "patron.db", "SELECT count(*) FROM people")
    db_mb = (work / "patron.db").stat().st_size / 1024 / 1024
    shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'run':14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'RSS MB':>8}")
    for name, r in results.items():
        print(
            f"{name:14} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} "
            f"{r['non2xx']:8.0f} {r['rss_mb']:8.1f}"
        )
    print(
        f"\nPatron / floor throughput per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f} (target >= 0.70)"
    )
    print(f"Patron p99 at 1,000 req/s: {results['patron@1k/s']['p99']:.2f} ms (target < 10 ms)")
    print(
        f"Patron RSS: idle {idle_rss:.1f} MB, peak under load "
        f"{results['patron@1k/s']['rss_mb']:.1f} MB (target < 150 MB)"
    )
    print(f"People stored: {people} (ids drawn from a pool of 100,000)")
    print(
        f"SQLite WAL: peak {wal_peak_mb:.1f} MB under load (limit 64 MB), "
        f"{wal_after_mb:.1f} MB after shutdown, beside a {db_mb:.1f} MB database"
    )
    floor_rps, at_1k = results["floor"]["rps"], results["patron@1k/s"]
    emit(
        args.json,
        [
            row("identify", "floor", floor_rps, "req/s"),
            row("identify", "Patron (median of rounds)", results["patron"]["rps"], "req/s",
                floor_rps, "ratio >= 0.70"),
            row("identify", "Patron / floor, median per round", statistics.median(ratios), "",
                target=">= 0.70"),
            row("identify", "Patron p99 at 1,000 req/s", at_1k["p99"], "ms", target="< 10 ms"),
            row("identify", "Patron RSS idle", idle_rss, "MB", target="< 80 MB"),
            row("identify", "Patron RSS peak under load", at_1k["rss_mb"], "MB",
                target="< 150 MB"),
            row("identify", "SQLite WAL peak under load", wal_peak_mb, "MB",
                target="about 64 MB (PATRON_SQLITE_WAL_LIMIT)"),
            row("identify", "SQLite WAL after shutdown", wal_after_mb, "MB", target="0 MB"),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
