"""Sending: requests packed within Customer.io's limits, a token bucket, retries with
exponential backoff on 429 and 5xx that honour ``Retry-After``."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx2 as httpx
import msgspec
import orjson

from patron.sync.plan import Change
from patron.sync.state import chunks

MAX_OPERATION = 32 * 1024
MAX_BATCH = 500 * 1024
MAX_SEGMENT_IDS = 1000
MAX_BACKOFF = 30.0


class Abort(Exception):
    """The destination refuses the credentials (or the URL is wrong): stop the run."""


class TokenBucket:
    """At most ``rate`` requests a second on average, bursts up to ``rate``; thread-safe."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> None:
        """Wait for a token."""
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
                self.at = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


class Request(msgspec.Struct):
    """One request and the changes it carries (``position`` in the body's list)."""

    method: str
    path: str
    body: bytes
    changes: list[Change]
    segment_ids: bool = False  # a v1 add/remove_customers body (no per-row answers)


def batches(changes: Iterable[Change], rejected: list[tuple[Change, str]]) -> Iterator[Request]:
    """Track v2 batches of at most 500 KB; an operation over 32 KB is ``rejected``."""
    head, tail = b'{"batch":[', b"]}"
    parts: list[bytes] = []
    carried: list[Change] = []
    size = len(head) + len(tail)
    for change in changes:
        assert change.op is not None
        encoded = orjson.dumps(change.op)
        if len(encoded) > MAX_OPERATION:
            rejected.append((change, f"operation is {len(encoded)} bytes; the limit is 32 KB"))
            continue
        if parts and size + len(encoded) + 1 > MAX_BATCH:
            yield Request("POST", "/api/v2/batch", head + b",".join(parts) + tail, carried)
            parts, carried, size = [], [], len(head) + len(tail)
        parts.append(encoded)
        carried.append(change)
        size += len(encoded) + 1
    if parts:
        yield Request("POST", "/api/v2/batch", head + b",".join(parts) + tail, carried)


def membership(
    changes: Iterable[Change], segment_id: int, id_type: str, add: bool
) -> Iterator[Request]:
    """Track v1 ``add_customers``/``remove_customers`` requests of at most 1000 ids."""
    verb = "add_customers" if add else "remove_customers"
    path = f"/api/v1/segments/{segment_id}/{verb}?id_type={id_type}"
    for part in chunks(changes, MAX_SEGMENT_IDS):
        body = orjson.dumps({"ids": [c.ident for c in part]})
        yield Request("POST", path, body, part, segment_ids=True)


class Attempt(msgspec.Struct):
    """One try of a request, as the run log keeps it."""

    at: int
    method: str
    url: str
    body: str
    attempt: int
    status: int | None
    response: str
    duration_ms: float


def _retry_after(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        raw = response.headers.get("retry-after", "")
        if raw.strip().isdigit():
            return min(MAX_BACKOFF, float(raw))
    backoff: float = min(MAX_BACKOFF, 0.25 * 2**attempt)
    return backoff * (0.5 + random.random() / 2)


class Client:
    """HTTP to one destination, with the sync's rate limit and retry policy."""

    def __init__(
        self, track_url: str, site_id: str, api_key: str, rate: float, attempts: int
    ) -> None:
        self.track_url = track_url
        self.http = httpx.Client(
            auth=httpx.BasicAuth(site_id, api_key),
            timeout=30.0,
            headers={"Content-Type": "application/json", "User-Agent": "patron-sync"},
        )
        self.bucket = TokenBucket(rate)
        self.attempts = attempts

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def send(self, request: Request) -> tuple[list[Attempt], httpx.Response | None]:
        """Send with retries; every try is returned for the log, with the last response."""
        tries: list[Attempt] = []
        url = self.track_url + request.path
        response: httpx.Response | None = None
        for attempt in range(1, self.attempts + 1):
            self.bucket.take()
            started = time.monotonic()
            try:
                response = self.http.request(request.method, url, content=request.body)
                status: int | None = response.status_code
                text = response.text[:4000]
            except httpx.TransportError as exc:
                response, status, text = None, None, f"{type(exc).__name__}: {exc}"
            tries.append(
                Attempt(int(time.time()), request.method, url, request.body.decode()[:64_000],
                        attempt, status, text, (time.monotonic() - started) * 1000)
            )  # fmt: skip
            if status is not None and status in (401, 403):
                raise Abort(f"{url} answered {status}: check site_id and track_api_key")
            if status is not None and status != 429 and status < 500:
                return tries, response
            if attempt < self.attempts:
                time.sleep(_retry_after(response, attempt))
        return tries, response


def outcomes(request: Request, response: httpx.Response | None) -> dict[int, str | None]:
    """Per position in the request: None when acknowledged, else why it failed."""
    count = len(request.changes)
    if response is None:
        return dict.fromkeys(range(count), "no answer from the destination (gave up retrying)")
    status = response.status_code
    if status == 200 or (status == 204 and request.segment_ids):
        return dict.fromkeys(range(count))
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if status == 207 and isinstance(body, dict) and isinstance(body.get("errors"), list):
        result: dict[int, str | None] = dict.fromkeys(range(count))
        for error in body["errors"]:
            index = error.get("batch_index") if isinstance(error, dict) else None
            if isinstance(index, int) and 0 <= index < count:
                reason = error.get("reason") or "invalid"
                result[index] = f"{reason}: {error.get('message') or error.get('field') or ''}"
        return result
    return dict.fromkeys(range(count), f"HTTP {status}: {response.text[:500]}")
