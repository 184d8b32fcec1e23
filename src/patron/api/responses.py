"""Responses in Customer.io's exact shapes and headers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from patron import json_codec

JSON_TYPE = "application/json; charset=utf-8"
# As on real Track responses (customerio-node's recorded fixtures).
_HEADERS = {
    "cache-control": "no-cache, no-store, must-revalidate, max-age=0",
    "access-control-allow-origin": "*",
}


class JSONResponse(Response):
    """JSON with ``charset=utf-8`` (Starlette adds it only to text/* types), via orjson."""

    media_type = JSON_TYPE

    def __init__(self, content: Any, status_code: int = 200, headers: dict[str, str] | None = None):
        super().__init__(
            json_codec.dumps(content, non_str_keys=True),
            status_code=status_code,
            headers={**_HEADERS, **(headers or {})},
        )


_EMPTY = orjson.dumps({})


def ok() -> Response:
    """``200 {}``: every successful Track write."""
    return Response(_EMPTY, status_code=200, media_type=JSON_TYPE, headers=_HEADERS)


def no_content() -> Response:
    """``204`` with no body (forms submit)."""
    return Response(status_code=204, headers=_HEADERS)


def errors_v1(messages: list[str], status: int = 400) -> JSONResponse:
    """Track v1 400 shape: ``{"meta":{"errors":[…]}}``."""
    return JSONResponse({"meta": {"errors": messages}}, status_code=status)


def error_meta(message: str, status: int) -> JSONResponse:
    """App API / merge / 401 shape: ``{"meta":{"error":"…"}}``."""
    return JSONResponse({"meta": {"error": message}}, status_code=status)


def unauthorized() -> JSONResponse:
    """401 for missing or wrong credentials."""
    return error_meta("Unauthorized request", 401)
