"""Dev mode's view of every request: injected faults, enforced rate limits, the request log.

Pure ASGI, outermost, so that it sees exactly what the client sent and got. Control-plane
(``/__patron``) and health requests pass straight through and are not logged.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron import json_codec
from patron.api.auth import CredentialCache
from patron.api.responses import JSONResponse, error_meta
from patron.domain import clock
from patron.domain.faults import Faults
from patron.domain.rate_limits import RateLimiter
from patron.domain.request_log import Entry, Identity, RequestLog

BODY_CAP = 65_536
_QUIET = ("/__patron", "/healthz")


@dataclass
class DevState:
    """What the control plane changes and the middleware reads."""

    log: RequestLog | None
    faults: Faults = field(default_factory=Faults)
    limits: RateLimiter | None = None


class _Tee:
    """Keeps the first ``BODY_CAP`` bytes of a stream and counts the rest."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0

    def take(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.kept < BODY_CAP and chunk:
            piece = chunk[: BODY_CAP - self.kept]
            self.chunks.append(piece)
            self.kept += len(piece)

    def display(self, gzipped: bool = False) -> Any:
        raw = b"".join(self.chunks)
        if not raw:
            return None
        truncated = self.total > self.kept
        if gzipped:
            try:
                raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, BODY_CAP)
            except zlib.error:
                return f"<gzip, {self.total} bytes>"
        if not truncated:
            try:
                return json_codec.loads(raw)
            except orjson.JSONDecodeError:
                pass
        text = raw.decode("utf-8", errors="replace")
        return text + "…" if truncated else text


class DevMiddleware:
    """Applies faults and limits before the app runs, and logs every exchange."""

    def __init__(self, app: ASGIApp, state: DevState, auth: CredentialCache) -> None:
        self.app = app
        self.state = state
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_QUIET):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope)
        identity = await self.auth.identity(request)
        received_at = clock.now(None if identity is None else identity.workspace_id)
        method, path = scope["method"], scope["path"]
        request_body, response_body = _Tee(), _Tee()
        status = 0

        async def tee_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.take(message.get("body", b""))
            return message

        async def tee_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                response_body.take(message.get("body", b""))
            await send(message)

        try:
            early = await self._intercept(identity, method, path)
            if early is not None:
                await _drain(tee_receive)
                await early(scope, tee_receive, tee_send)
            else:
                await self.app(scope, tee_receive, tee_send)
        finally:
            if self.state.log is not None:
                self._record(
                    request, identity, received_at, started, status, request_body, response_body
                )

    def _record(
        self,
        request: Request,
        identity: Identity | None,
        received_at: int,
        started: float,
        status: int,
        request_body: _Tee,
        response_body: _Tee,
    ) -> None:
        assert self.state.log is not None
        scope = request.scope
        gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
        self.state.log.add(
            Entry(
                id=self.state.log.next_id(),
                received_at=received_at,
                method=scope["method"],
                path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                identity=identity,
                body=request_body.display(gzipped),
                body_bytes=request_body.total,
                status=status,
                response_body=response_body.display(),
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )
        )

    async def _intercept(self, who: Identity | None, method: str, path: str) -> Response | None:
        """A response that replaces the app's (fault or 429), after any injected latency."""
        if who is None:
            return None
        fault = self.state.faults.pick(who.workspace_id, method, path)
        if fault is not None:
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.status is not None:
                if isinstance(fault.body, str):
                    return Response(fault.body, fault.status, headers=fault.headers)
                return JSONResponse(fault.body, fault.status, headers=fault.headers)
        limits = self.state.limits
        if limits is not None:
            over = limits.check(who.workspace_id, who.credential, method, path)
            if over is not None:
                response = error_meta(over.limit.message, 429)
                response.headers["Retry-After"] = str(over.retry_after)
                return response
        return None


async def _drain(receive: Receive) -> None:
    """Read the request body the app will not read, so that it is logged."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
