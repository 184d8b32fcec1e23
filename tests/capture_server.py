"""A stand-in for Customer.io's Track API that records what it is sent and answers as told:
207 partials for chosen rows, 429 with Retry-After, slow answers. Runs uvicorn on loopback."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from live import free_port


@dataclass
class Script:
    """How the server answers."""

    fail_when: str | None = None  # a 207 error for every operation whose JSON holds this text
    too_many: int = 0  # answer this many requests with 429 first
    retry_after: int = 1
    delay: float = 0.0  # seconds before every answer
    received: list[dict[str, Any]] = field(default_factory=list)  # every request, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str) -> list[Any]:
        """The JSON bodies of the requests to ``path`` that were answered 2xx."""
        return [r["body"] for r in self.received if r["path"] == path and r["status"] < 300]


class CaptureServer:
    """The server; ``base`` is its URL, ``script`` what it does."""

    def __init__(self) -> None:
        self.script = Script()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[
                Route("/api/v2/batch", self._batch, methods=["POST"]),
                Route("/api/v1/segments/{sid}/{verb}", self._segment, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    async def _answer(self, request: Request, make: Any) -> Response:
        script = self.script
        raw = await request.body()
        body = json.loads(raw)
        if script.delay:
            import asyncio

            await asyncio.sleep(script.delay)
        with script.lock:
            if script.too_many > 0:
                script.too_many -= 1
                response: Response = JSONResponse(
                    {"meta": {"error": "rate limited"}},
                    status_code=429,
                    headers={"Retry-After": str(script.retry_after)},
                )
            else:
                response = make(body)
            script.received.append(
                {"path": request.url.path, "body": body, "status": response.status_code,
                 "at": time.monotonic(), "size": len(raw)}
            )  # fmt: skip
        return response

    async def _batch(self, request: Request) -> Response:
        def make(body: Any) -> Response:
            marker = self.script.fail_when
            errors = [
                {"batch_index": i, "reason": "invalid_value", "field": "attributes",
                 "message": "refused by the capture server"}
                for i, op in enumerate(body["batch"])
                if marker is not None and marker in json.dumps(op)
            ]  # fmt: skip
            if errors:
                return JSONResponse({"errors": errors}, status_code=207)
            return JSONResponse({})

        return await self._answer(request, make)

    async def _segment(self, request: Request) -> Response:
        return await self._answer(request, lambda body: JSONResponse({}))
