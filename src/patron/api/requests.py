"""Reading requests safely: raw-path routing, percent-decoding, bounded JSON bodies."""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from patron import json_codec
from patron.domain.errors import InvalidInput, NotFound


class RawPathRouting:
    """Route on the raw (still percent-encoded) path.

    Servers decode ``%2F`` to ``/`` before routing, which would split the identifier
    ``u 1/x`` (sent as ``u%201%2Fx``) into two path segments. Routing on the raw path keeps
    each segment whole; handlers decode segments one by one with :func:`path_param`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path")
            if raw:
                scope = dict(scope)
                scope["path"] = raw.decode("latin-1").split("?", 1)[0]
        await self.app(scope, receive, send)


def path_param(request: Request, name: str) -> str:
    """A path segment, percent-decoded on its own; invalid UTF-8 is a 400."""
    raw: str = request.path_params[name]
    try:
        # The raw path was decoded as latin-1, byte for byte; undo that, then percent-decode.
        value = unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"{name} is not valid UTF-8 after percent-decoding", field=name) from exc
    return _no_nul(value, name)


def key_param(request: Request, name: str, unknown: str) -> int:
    """A path segment naming a stored thing by its numeric id (1 to 2**31-1); anything else
    names nothing: ``NotFound(unknown)``."""
    raw = path_param(request, name)
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**31:
        raise NotFound(unknown)
    return int(raw)


def query_param(request: Request, name: str) -> str | None:
    """A query parameter (None when absent)."""
    value = request.query_params.get(name)
    return None if value is None else _no_nul(value, name)


def _no_nul(value: str, name: str) -> str:
    # PostgreSQL cannot store NUL in text; refuse it everywhere so both databases agree.
    if "\x00" in value:
        raise InvalidInput(f"{name} cannot contain NUL characters", field=name)
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    too_large = InvalidInput(
        f"request body is larger than the {limit} byte limit", field="body", reason="too_large"
    )
    if declared is not None and declared.isascii() and declared.isdigit():
        if int(declared) > limit:
            raise too_large
        return await request.body()  # the server enforces Content-Length
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, empty: Any = None) -> Any:
    """The body as JSON; an empty body gives ``empty`` (or a 400 when that is None)."""
    return decode_json(await read_body(request, limit), empty=empty)


def decode_json(body: bytes, *, empty: Any = None) -> Any:
    """``body`` as JSON, refusing NUL in strings; empty gives ``empty`` (or InvalidInput)."""
    if not body.strip():
        if empty is None:
            raise InvalidInput(
                "request body is empty; a JSON object is required", field="body", reason="malformed"
            )
        return empty
    try:
        value = json_codec.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"request body is not valid JSON: {exc.msg}", field="body", reason="malformed"
        ) from exc
    # NUL can only arrive escaped; look for it only when the escape is present.
    if b"u0000" in body and _has_nul(value):
        raise InvalidInput("strings in the request body cannot contain NUL (\\u0000)", field="body")
    return value


async def read_decoded_body(request: Request, limit: int) -> bytes:
    """The body, gunzipped when ``Content-Encoding: gzip``; ``limit`` bounds the decoded size."""
    body = await read_body(request, limit)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise InvalidInput(
            f"Content-Encoding {encoding!r} is not supported (use gzip)",
            field="Content-Encoding",
            reason="malformed",
        )
    inflater = zlib.decompressobj(wbits=31)
    try:
        decoded = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(
            f"request body is not valid gzip: {exc}", field="body", reason="malformed"
        ) from exc
    if len(decoded) > limit or inflater.unconsumed_tail:
        raise InvalidInput(
            f"request body is larger than the {limit} byte limit once decompressed",
            field="body",
            reason="too_large",
        )
    if not inflater.eof:
        raise InvalidInput("request body is truncated gzip", field="body", reason="malformed")
    return decoded


async def read_object(request: Request, limit: int, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for an empty body when ``allow_empty``)."""
    value = await read_json(request, limit, empty={} if allow_empty else None)
    if not isinstance(value, dict):
        raise InvalidInput("request body must be a JSON object", field="body")
    return value
