"""Customer.io's published rate limits, enforced per workspace when asked to
(``patron serve --enforce-limits customerio``) so that clients' retry code can be tested.

Token buckets: a bucket holds ``limit`` requests and refills at ``limit / period`` per second.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from collections.abc import Callable

import msgspec


class Limit(msgspec.Struct, frozen=True):
    """One published limit: which requests it covers, how many per how long, and its 429."""

    name: str
    credential: str  # track | app | pipelines
    limit: int
    period: float
    message: str
    paths: tuple[str, ...] = ("*",)
    methods: tuple[str, ...] = ("*",)


# Sources: docs/compatibility.md ("Rate limits"). The first matching limit applies.
CUSTOMERIO: tuple[Limit, ...] = (
    Limit(
        "broadcast_trigger",
        "app",
        1,
        10.0,
        "Your request is over the 1-per-10-seconds limit.",
        paths=("/v1/campaigns/*/triggers", "/v1/api/campaigns/*/triggers"),
        methods=("POST",),
    ),
    Limit(
        "transactional",
        "app",
        3000,
        3.0,
        "Your request is over the 3000-per-3-seconds limit.",
        paths=("/v1/send/*",),
    ),
    Limit("app", "app", 10, 1.0, "Your request is over the 10-per-second limit."),
    Limit("track", "track", 1000, 1.0, "Your request is over the 1000-per-second limit."),
    Limit(
        "pipelines", "pipelines", 3000, 3.0, "Your request is over the 3000-per-3-seconds limit."
    ),
)
PROFILES = {"customerio": CUSTOMERIO}


class Exceeded(msgspec.Struct, frozen=True):
    """A request over its limit: the message and how long until one more is allowed."""

    limit: Limit
    retry_after: int


class RateLimiter:
    """Buckets per (workspace, limit), refilled on use."""

    def __init__(
        self, limits: tuple[Limit, ...], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = limits
        self.clock = clock  # seconds, monotonic; tests may drive their own
        self._buckets: dict[tuple[int, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _limit_for(self, credential: str, method: str, path: str) -> Limit | None:
        for limit in self._limits:
            if limit.credential != credential:
                continue
            if "*" not in limit.methods and method not in limit.methods:
                continue
            if any(fnmatch.fnmatchcase(path, p) for p in limit.paths):
                return limit
        return None

    def check(self, workspace_id: int, credential: str, method: str, path: str) -> Exceeded | None:
        """Take one request from its bucket; None when allowed."""
        limit = self._limit_for(credential, method, path)
        if limit is None:
            return None
        rate = limit.limit / limit.period
        now = self.clock()
        key = (workspace_id, limit.name)
        with self._lock:
            tokens, last = self._buckets.get(key, (float(limit.limit), now))
            tokens = min(float(limit.limit), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
        return Exceeded(limit, max(1, math.ceil((1.0 - tokens) / rate)))
