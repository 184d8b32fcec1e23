"""Track API v1 (wire spec §2): each handler only translates HTTP into operations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.endpoints import Runtime, track_endpoint
from patron.api.requests import path_param, read_object
from patron.api.responses import JSONResponse, errors_v1, no_content, ok
from patron.api.tracking import one_click_body, unsubscribe_form
from patron.domain import identifiers
from patron.domain.attributes import parse_identify
from patron.domain.errors import InvalidInput
from patron.domain.operations import DeleteDevice, DeletePerson, Operation, Suppress, Unsuppress
from patron.domain.track import (
    parse_device,
    parse_event,
    parse_form,
    parse_merge,
    parse_metric,
    parse_push_event,
    parse_unsubscribe,
)
from patron.store.deliveries import workspace_of_delivery


def _who(request: Request) -> identifiers.Identifier:
    return identifiers.from_path(path_param(request, "identifier"))


async def _body(request: Request, rt: Runtime, *, allow_empty: bool = False) -> dict[str, object]:
    return await read_object(request, rt.settings.max_body_bytes, allow_empty=allow_empty)


async def _apply(rt: Runtime, ws: int, *ops: Operation) -> Response:
    await rt.apply(ws, ops)
    return ok()


@track_endpoint()
async def region(request: Request, rt: Runtime, ws: int) -> Response:
    return JSONResponse({"url": rt.base_url(request), "region": "us", "environment_id": ws})


@track_endpoint()
async def identify(request: Request, rt: Runtime, ws: int) -> Response:
    who = _who(request)
    return await _apply(rt, ws, parse_identify(who, await _body(request, rt)))


def _person_action(
    make: Callable[[identifiers.Identifier], Operation],
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that applies one operation to the person in the path; any body (Python
    sends ``{}``, Node nothing) must still be valid JSON, and is otherwise ignored."""

    @track_endpoint()
    async def endpoint(request: Request, rt: Runtime, ws: int) -> Response:
        who = _who(request)
        await _body(request, rt, allow_empty=True)
        return await _apply(rt, ws, make(who))

    return endpoint


delete = _person_action(DeletePerson)
suppress = _person_action(Suppress)
unsuppress = _person_action(Unsuppress)


@track_endpoint()
async def add_device(request: Request, rt: Runtime, ws: int) -> Response:
    who = _who(request)
    return await _apply(rt, ws, parse_device(await _body(request, rt), who))


@track_endpoint()
async def delete_device(request: Request, rt: Runtime, ws: int) -> Response:
    who = _who(request)
    token = path_param(request, "device_id")
    await _body(request, rt, allow_empty=True)
    return await _apply(rt, ws, DeleteDevice(who, token))


@track_endpoint()
async def track(request: Request, rt: Runtime, ws: int) -> Response:
    who = _who(request)
    return await _apply(rt, ws, parse_event(await _body(request, rt), who))


@track_endpoint()
async def track_anonymous(request: Request, rt: Runtime, ws: int) -> Response:
    return await _apply(rt, ws, parse_event(await _body(request, rt), None))


@track_endpoint("error")
async def merge(request: Request, rt: Runtime, ws: int) -> Response:
    return await _apply(rt, ws, parse_merge(await _body(request, rt)))


@track_endpoint()
async def submit_form(request: Request, rt: Runtime, ws: int) -> Response:
    form_id = path_param(request, "form_id")
    form, problem = parse_form(form_id, await _body(request, rt))
    await rt.apply(ws, [form])
    if problem is not None:
        return errors_v1([problem])
    return no_content()


async def _delivery_workspace(rt: Runtime, ws: int, delivery_id: str) -> int:
    """Without credentials, the workspace is the one the delivery belongs to."""
    if ws:
        return ws
    found = await rt.db.read(lambda c: workspace_of_delivery(c, delivery_id))
    if found is None:
        raise InvalidInput(f"delivery_id {delivery_id} does not exist", field="delivery_id")
    return found


@track_endpoint(auth_required=False)
async def metrics(request: Request, rt: Runtime, ws: int) -> Response:
    op = parse_metric(await _body(request, rt))
    return await _apply(rt, await _delivery_workspace(rt, ws, op.delivery_id), op)


@track_endpoint(auth_required=False)
async def push_events(request: Request, rt: Runtime, ws: int) -> Response:
    op = parse_push_event(await _body(request, rt))
    return await _apply(rt, await _delivery_workspace(rt, ws, op.delivery_id), op)


@track_endpoint(auth_required=False)
async def unsubscribe(request: Request, rt: Runtime, ws: int) -> Response:
    content_type = request.headers.get("content-type", "").lower()
    if one_click_body(content_type):
        return await unsubscribe_form(request, rt, path_param(request, "delivery_id").strip())
    if "json" not in content_type:
        raise InvalidInput("Content-Type must be application/json", field="content-type")
    op = parse_unsubscribe(path_param(request, "delivery_id"), await _body(request, rt))
    found = await rt.db.read(lambda c: workspace_of_delivery(c, op.delivery_id, ws or None))
    if found is None:
        raise InvalidInput(f"delivery_id {op.delivery_id} does not exist", field="delivery_id")
    return await _apply(rt, found, op)


routes = [
    Route("/api/v1/accounts/region", region, methods=["GET"]),
    Route("/api/v1/customers/{identifier}", identify, methods=["PUT"]),
    Route("/api/v1/customers/{identifier}", delete, methods=["DELETE"]),
    Route("/api/v1/customers/{identifier}/devices", add_device, methods=["PUT"]),
    Route("/api/v1/customers/{identifier}/devices/{device_id}", delete_device, methods=["DELETE"]),
    Route("/api/v1/customers/{identifier}/suppress", suppress, methods=["POST"]),
    Route("/api/v1/customers/{identifier}/unsuppress", unsuppress, methods=["POST"]),
    Route("/api/v1/customers/{identifier}/events", track, methods=["POST"]),
    Route("/api/v1/events", track_anonymous, methods=["POST"]),
    Route("/api/v1/merge_customers", merge, methods=["POST"]),
    Route("/api/v1/forms/{form_id}/submit", submit_form, methods=["POST"]),
    Route("/api/v1/metrics", metrics, methods=["POST"]),
    Route("/api/v1/push/events", push_events, methods=["POST"]),
    Route("/unsubscribe/{delivery_id}", unsubscribe, methods=["POST"]),
]
