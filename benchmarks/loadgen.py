"""A small load generator for the benchmarks and the reliability suite: raw HTTP/1.1 over
keep-alive loopback connections (cheap enough to drive 1,000 requests/s from one core),
recording the status and latency of every request it sent under the caller's key."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """One request to send; ``key`` names it in the results."""

    method: str
    path: str
    body: Any
    authorization: str
    key: Any = None


@dataclass
class Results:
    """What happened: ``(key, status)`` per answered request, latencies in ms, and transport
    errors."""

    answered: list[tuple[Any, int]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def acknowledged(self) -> list[Any]:
        """Keys of the requests that got a 2xx."""
        return [key for key, status in self.answered if 200 <= status < 300]


def basic(user: str, password: str) -> str:
    """An ``Authorization`` header value for Basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bearer(token: str) -> str:
    """An ``Authorization`` header value for a Bearer token."""
    return f"Bearer {token}"


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, call: Call
) -> int:
    body = b"" if call.body is None else json.dumps(call.body).encode()
    head = (
        f"{call.method} {call.path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {call.authorization}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("server closed the connection")
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _connection(
    host: str,
    port: int,
    next_call: Callable[[], Call],
    deadline: float,
    interval: float | None,
    results: Results,
    offset: float,
) -> None:
    # Connections start staggered over one interval, so that arrivals are spread evenly
    # rather than in synchronized bursts.
    next_at = time.perf_counter() + offset
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while time.perf_counter() < deadline:
        if interval is not None:
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            call = next_call()
            started = time.perf_counter()
            status = await _exchange(reader, writer, host, call)
            results.latencies_ms.append((time.perf_counter() - started) * 1000)
            results.answered.append((call.key, status))
        except (OSError, asyncio.IncompleteReadError) as exc:
            # The request's fate is unknown: never counted as acknowledged.
            results.errors.append(f"{type(exc).__name__}: {exc}")
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.02)
    if writer is not None:
        writer.close()


def run(
    base_url: str,
    next_call: Callable[[], Call],
    *,
    seconds: float,
    connections: int = 8,
    rate: float | None = None,
) -> Results:
    """Send calls from ``next_call`` for ``seconds`` over ``connections`` connections, as fast
    as answers come or at ``rate`` requests/s in total."""
    host, port = base_url.removeprefix("http://").split(":")
    results = Results()
    interval = None if rate is None else connections / rate

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                _connection(
                    host,
                    int(port),
                    next_call,
                    deadline,
                    interval,
                    results,
                    0.0 if interval is None else random.uniform(0, interval),
                )
                for n in range(connections)
            )
        )

    asyncio.run(main())
    return results


def in_background(target: Callable[[], Results]) -> Callable[[], Results]:
    """Start ``target`` in a thread; the returned function waits for and returns its result."""
    box: list[Results] = []
    thread = threading.Thread(target=lambda: box.append(target()), daemon=True)
    thread.start()

    def wait() -> Results:
        thread.join()
        return box[0]

    return wait
