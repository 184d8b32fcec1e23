"""Track API v2 (wire spec §3): ``/api/v2/entity`` and ``/api/v2/batch``.

Errors use v2's shape, ``{"errors":[{"reason","field","message"}]}``, with ``batch_index`` on
a 207 partial success. Every valid operation of a batch is applied (in order, in one
transaction group) and durable before the answer, whatever happened to its neighbours.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.auth import Unauthorized
from patron.api.endpoints import Runtime, runtime
from patron.api.requests import read_json
from patron.api.responses import JSONResponse, ok, unauthorized
from patron.domain.errors import InvalidInput
from patron.domain.operations import Operation
from patron.domain.track_v2 import MAX_BATCH_BYTES, MAX_OPERATION_BYTES, parse_operation
from patron.store.apply import apply_each


def _error(exc: InvalidInput, index: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "reason": exc.reason,
        "field": exc.field,
        "message": "; ".join(exc.messages),
    }
    if index is not None:
        error = {"batch_index": index, **error}
    return error


def _rejected(exc: InvalidInput) -> Response:
    return JSONResponse({"errors": [_error(exc)]}, status_code=400)


async def _apply(rt: Runtime, ws: int, ops: list[Operation]) -> dict[int, InvalidInput]:
    return await rt.db.write(lambda conn: apply_each(conn, ws, ops))


async def entity(request: Request) -> Response:
    rt = runtime(request)
    try:
        ws = await rt.auth.track(request)
        op = parse_operation(await read_json(request, MAX_OPERATION_BYTES))
        failures = await _apply(rt, ws, [op])
    except Unauthorized:
        return unauthorized()
    except InvalidInput as exc:
        return _rejected(exc)
    if failures:
        return _rejected(failures[0])
    return ok()


async def batch(request: Request) -> Response:
    rt = runtime(request)
    try:
        ws = await rt.auth.track(request)
        body = await read_json(request, MAX_BATCH_BYTES)
        items = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise InvalidInput(
                'the body must be {"batch": [operation, …]} with at least one operation',
                field="batch",
                reason="malformed",
            )
        errors: dict[int, InvalidInput] = {}
        ops: list[Operation] = []
        positions: list[int] = []
        for index, raw in enumerate(items):
            try:
                ops.append(parse_operation(raw))
                positions.append(index)
            except InvalidInput as exc:
                errors[index] = exc
        if ops:
            failures = await _apply(rt, ws, ops)
            errors.update({positions[i]: exc for i, exc in failures.items()})
    except Unauthorized:
        return unauthorized()
    except InvalidInput as exc:
        return _rejected(exc)
    if not errors:
        return ok()
    return JSONResponse({"errors": [_error(errors[i], i) for i in sorted(errors)]}, status_code=207)


routes = [
    Route("/api/v2/entity", entity, methods=["POST"]),
    Route("/api/v2/batch", batch, methods=["POST"]),
]
