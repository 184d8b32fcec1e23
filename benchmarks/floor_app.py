"""The floor: a minimal Starlette + uvicorn app doing one SQLite upsert per PUT.

Same durability as Patron (WAL, synchronous=FULL, answer after commit), same JSON parsing
(orjson), no validation, no identity rules, no activity log.
"""

from __future__ import annotations

import sqlite3
import sys

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def build(path: str, synchronous: str) -> Starlette:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS people (id TEXT PRIMARY KEY, attributes TEXT NOT NULL)"
    )

    async def identify(request: Request) -> Response:
        body = orjson.loads(await request.body())
        conn.execute(
            "INSERT INTO people (id, attributes) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET attributes = excluded.attributes",
            (request.path_params["identifier"], orjson.dumps(body)),
        )
        return Response(b"{}", media_type="application/json; charset=utf-8")

    return Starlette(routes=[Route("/api/v1/customers/{identifier}", identify, methods=["PUT"])])


if __name__ == "__main__":
    port, db, synchronous = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    uvicorn.run(
        build(db, synchronous), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
