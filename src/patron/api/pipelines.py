"""Data Pipelines API (wire spec §5): Segment-spec calls on ``/v1/{identify,…,batch}``.

These share the ``/v1`` prefix with the App API. Their paths never clash with App API paths,
so routing is by path; the credential differs (a Pipelines write key, sent as Basic
``key:``, Bearer, or Segment's body ``writeKey``, where the App API takes a Bearer App key).

Permissive by default, as Customer.io is: every call gets ``200 {}``, and what cannot be
applied is recorded as a ``rejected_call`` activity of the workspace (docs/pipelines.md).
With ``X-Strict-Mode: 1`` problems are real 400/401s, and a request with any invalid call
applies nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.auth import Unauthorized, basic_user, bearer_token
from patron.api.endpoints import Runtime, runtime
from patron.api.requests import decode_json, read_decoded_body
from patron.api.responses import JSONResponse, ok
from patron.domain.errors import InvalidInput
from patron.domain.operations import Operation, RejectedCall
from patron.domain.pipelines import (
    CALL_TYPES,
    MAX_BATCH_BYTES,
    MAX_CALL_BYTES,
    message_id,
    parse_call,
)
from patron.store.apply import apply, apply_each

log = logging.getLogger("patron.pipelines")


class _StrictRejection(InvalidInput):
    """Strict mode: some calls could not be applied, so the whole request is rolled back."""

    def __init__(self, errors: dict[int, InvalidInput]) -> None:
        super().__init__(_summary(errors), reason="invalid_request")
        self.errors = errors


def _summary(errors: dict[int, InvalidInput]) -> str:
    first = min(errors)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"call {first}: {errors[first]}{more}"


def strict(request: Request) -> bool:
    """True when the caller asked for real errors (``X-Strict-Mode: 1``)."""
    return request.headers.get("x-strict-mode", "").strip().lower() in ("1", "true")


def error(
    status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None
) -> Response:
    """A strict-mode error: ``code`` and ``message`` (read by the Python clients) and
    ``meta.error`` (read by customerio-node)."""
    body: dict[str, Any] = {"code": code, "message": message, "meta": {"error": message}}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status)


def _error_item(index: int | None, exc: InvalidInput) -> dict[str, Any]:
    item: dict[str, Any] = {"reason": exc.reason, "field": exc.field, "message": str(exc)}
    return item if index is None else {"batch_index": index, **item}


async def _workspace(rt: Runtime, request: Request, body: Any) -> int | None:
    key = basic_user(request) or bearer_token(request)
    if key is None and isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        key = body["writeKey"].strip() or None
    if key is None:
        return None
    try:
        return await rt.auth.key("pipelines", key)
    except Unauthorized:
        return None


def _rejected(
    exc: InvalidInput, call_type: str | None, raw: Any, index: int | None
) -> RejectedCall:
    kind = call_type or (raw.get("type") if isinstance(raw, dict) else None)
    return RejectedCall(
        source="pipelines",
        reason=exc.reason,
        field=exc.field,
        message=str(exc),
        call_type=kind if isinstance(kind, str) and kind in CALL_TYPES else None,
        batch_index=index,
        message_id=message_id(raw),
    )


async def _handle(request: Request, call_type: str | None) -> Response:
    rt = runtime(request)
    is_strict = strict(request)
    limit = MAX_CALL_BYTES if call_type else MAX_BATCH_BYTES
    body: Any = None
    problem: InvalidInput | None = None
    try:
        body = decode_json(await read_decoded_body(request, limit))
        if not isinstance(body, dict):
            raise InvalidInput(
                "request body must be a JSON object", field="body", reason="malformed"
            )
        if call_type is None and not isinstance(body.get("batch"), list):
            raise InvalidInput(
                'the body must be {"batch": [call, …]}', field="batch", reason="malformed"
            )
    except InvalidInput as exc:
        problem = exc
    ws = await _workspace(rt, request, body)
    if ws is None:
        if is_strict:
            return error(401, "unauthorized", "Unauthorized: missing or unknown write key")
        log.warning(
            "dropped a Pipelines %s request with a missing or unknown write key",
            call_type or "batch",
        )
        return ok()
    if problem is not None:
        if is_strict:
            return error(400, problem.reason, str(problem))
        rejection = _rejected(problem, call_type, body, None)
        await rt.db.write(lambda conn: apply(conn, ws, [rejection]))
        return ok()
    assert isinstance(body, dict)
    items: list[Any] = [body] if call_type else body["batch"]
    shared = None if call_type else body.get("context")
    ops: list[Operation] = []
    positions: list[int] = []
    invalid: dict[int, InvalidInput] = {}
    for index, raw in enumerate(items):
        try:
            ops.append(parse_call(raw, call_type, shared))
            positions.append(index)
        except InvalidInput as exc:
            invalid[index] = exc

    def index_of(i: int) -> int | None:
        return None if call_type else i

    if is_strict and invalid:
        errors = [_error_item(index_of(i), invalid[i]) for i in sorted(invalid)]
        return error(400, "invalid_request", _summary(invalid), errors)

    def write(conn: Connection) -> None:
        failures = {positions[i]: exc for i, exc in apply_each(conn, ws, ops).items()}
        if is_strict and failures:
            raise _StrictRejection(failures)
        problems = {**invalid, **failures}
        apply(
            conn,
            ws,
            [_rejected(problems[i], call_type, items[i], index_of(i)) for i in sorted(problems)],
        )

    try:
        await rt.db.write(write)
    except _StrictRejection as exc:
        errors = [_error_item(index_of(i), exc.errors[i]) for i in sorted(exc.errors)]
        return error(400, "invalid_request", str(exc), errors)
    return ok()


def _endpoint(call_type: str | None) -> Any:
    async def endpoint(request: Request) -> Response:
        return await _handle(request, call_type)

    endpoint.__name__ = f"pipelines_{call_type or 'batch'}"
    return endpoint


routes = [Route(f"/v1/{name}", _endpoint(name), methods=["POST"]) for name in CALL_TYPES] + [
    Route("/v1/batch", _endpoint(None), methods=["POST"])
]
