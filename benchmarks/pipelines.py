"""Pipelines ``/v1/batch`` ingestion: events/s, as a ratio to Track v2 batch in the same run.

Usage: python benchmarks/pipelines.py [--batches 200] [--clients 4] [--postgres URL]

Both run against one ``patron serve`` on a fresh SQLite file, with the same content: batches of
100 calls, alternating identify (with traits) and track, for distinct people. Pipelines bodies
are Segment-spec (as customerio-cdp-analytics sends them, with messageId, timestamp and
context); Track v2 bodies are the equivalent person identify / event operations. Every request
must be answered 200, and the server acknowledges only after the commit (durable acks).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import uuid
from pathlib import Path

from batch import basic, post_all, serve
from report import emit, row

CALLS_PER_BATCH = 100


def make_bodies(batches: int, prefix: str) -> tuple[list[bytes], list[bytes]]:
    """(Pipelines bodies, Track v2 bodies) with the same people, traits and events."""
    pipelines, track = [], []
    n = 0
    for _ in range(batches):
        calls, ops = [], []
        for _ in range(CALLS_PER_BATCH // 2):
            n += 1
            user = f"{prefix}{n}"
            traits = {"email": f"{user}@x.co", "plan": "pro", "seats": n % 50}
            properties = {"total": n % 97, "currency": "EUR"}
            common = {
                "userId": user,
                "timestamp": "2026-11-24T10:00:00.000+00:00",
                "context": {"library": {"name": "analytics-python", "version": "1.1.0"}},
                "integrations": {},
            }
            calls.append({"type": "identify", "traits": traits,
                          "messageId": str(uuid.uuid4()), **common})  # fmt: skip
            calls.append({"type": "track", "event": "Order Completed", "properties": properties,
                          "messageId": str(uuid.uuid4()), **common})  # fmt: skip
            who = {"id": user}
            ops.append({"type": "person", "action": "identify", "identifiers": who,
                        "attributes": traits, "timestamp": 1795514400})  # fmt: skip
            ops.append({"type": "person", "action": "event", "identifiers": who,
                        "name": "Order Completed", "attributes": properties,
                        "id": str(uuid.uuid4()), "timestamp": 1795514400})  # fmt: skip
        pipelines.append(json.dumps({"batch": calls, "sentAt": "2026-11-24T10:00:01Z"}).encode())
        track.append(json.dumps({"batch": ops}).encode())
    return pipelines, track


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--postgres", help="serve from a fresh database on this PostgreSQL URL")
    parser.add_argument("--json", help="also write the figures here (benchmarks/report.py)")
    args = parser.parse_args()
    cdp_bodies, _ = make_bodies(args.batches, "cdp")
    _, v2_bodies = make_bodies(args.batches, "v2")
    calls = args.batches * CALLS_PER_BATCH
    with (
        tempfile.TemporaryDirectory(prefix="patron-pipelines-") as tmp,
        serve(Path(tmp), args.postgres) as (
            base,
            creds,
            _,
        ),
    ):
        v2_seconds = post_all(
            base, "/api/v2/batch", basic(creds["site_id"], creds["track_api_key"]), v2_bodies,
            args.clients,
        )  # fmt: skip
        cdp_seconds = post_all(
            base, "/v1/batch", basic(creds["pipelines_write_key"], ""), cdp_bodies, args.clients
        )
    v2_rate, cdp_rate = calls / v2_seconds, calls / cdp_seconds
    print(
        f"{args.batches} batches of {CALLS_PER_BATCH} calls (identify + track), {calls} calls each"
    )
    print(f"Track v2 /api/v2/batch  {v2_rate:10.0f} ops/s")
    print(f"Pipelines /v1/batch     {cdp_rate:10.0f} events/s")
    print(f"Pipelines / Track v2: {cdp_rate / v2_rate:.2f}   (target: >= 100,000 events/s)")
    emit(
        args.json,
        [
            row("Pipelines batch", "Track v2 /api/v2/batch (baseline)", v2_rate, "ops/s"),
            row("Pipelines batch", "Pipelines /v1/batch", cdp_rate, "events/s", v2_rate,
                ">= 100,000 events/s"),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
