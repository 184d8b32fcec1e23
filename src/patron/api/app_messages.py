"""Deliveries and transactional messages on the App API (spec §3.5, §3.6).

``GET /v1/messages`` (filters), ``/v1/messages/{id}``, ``…/archived_message``,
``/v1/customers/{id}/messages``, ``/v1/transactional`` and ``/v1/transactional/{id}`` with its
``/messages``. Lists are newest first, paged with ``start`` (the previous page's ``next``) and
``limit``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.app_customers import find_person, id_type, page_limit
from patron.api.endpoints import Runtime, app_endpoint
from patron.api.message_views import archived_view, message_view
from patron.api.requests import key_param, path_param, query_param
from patron.api.responses import JSONResponse
from patron.domain import cursors
from patron.domain.attributes import parse_bool_flag
from patron.domain.errors import InvalidInput, NotFound
from patron.store import deliveries
from patron.store.definitions import Stored, transactional, transactional_by_id

UNKNOWN_MESSAGE = "The message does not exist."
UNKNOWN_TRANSACTIONAL = "The transactional message does not exist."
METRICS = (
    "created", "attempted", "sent", "delivered", "opened", "clicked", "converted", "bounced",
    "spammed", "unsubscribed", "dropped", "failed", "undeliverable", "drafted",
)  # fmt: skip
CHANNELS = ("email", "webhook", "twilio", "push", "in_app", "slack", "whatsapp", "inbox")


def _int_query(request: Request, name: str) -> int | None:
    raw = query_param(request, name)
    if raw in (None, ""):
        return None
    if not (raw.isascii() and raw.lstrip("-").isdigit()) or not -(2**63) <= int(raw) < 2**63:
        raise InvalidInput(f"{name} must be a 64-bit integer", field=name)
    return int(raw)


def filters_of(request: Request, **fixed: Any) -> deliveries.Filters:
    """The listing filters a request's query names (``fixed`` ones win)."""
    metric = query_param(request, "metric") or None
    if metric is not None and metric not in METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(METRICS)}", field="metric")
    channel = query_param(request, "type") or None
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"type must be one of {', '.join(CHANNELS)}", field="type")
    values: dict[str, Any] = {
        "template_id": _int_query(request, "transactional_id"),
        "content_id": _int_query(request, "content_id"),
        "channel": channel,
        "drafts": parse_bool_flag(query_param(request, "drafts") or "false"),
        "metric": metric,
        "start_ts": _int_query(request, "start_ts"),
        "end_ts": _int_query(request, "end_ts"),
    }
    values.update(fixed)
    return deliveries.Filters(**values)


def page_of(
    conn: Connection, ws: int, request: Request, filters: deliveries.Filters
) -> dict[str, Any]:
    """One page of messages: ``{"messages": […], "next": token or ""}``."""
    limit = page_limit(request)
    token = query_param(request, "start")
    before = cursors.decode(token, 1)[0] if token else None
    found = deliveries.page(conn, ws, filters, before, limit + 1)
    more = len(found) > limit
    found = found[:limit]
    metrics = deliveries.metrics_of(conn, ws, [row.delivery_id for row, _ in found])
    return {
        "messages": [message_view(row, ids, metrics[row.delivery_id]) for row, ids in found],
        "next": cursors.encode(found[-1][0].pk) if more else "",
    }


def _one(conn: Connection, ws: int, delivery_id: str) -> tuple[deliveries.Row, Any]:
    row = deliveries.get(conn, ws, delivery_id)
    if row is None:
        raise NotFound(UNKNOWN_MESSAGE)
    found = deliveries.page(
        conn, ws, deliveries.Filters(drafts=row.state == deliveries.DRAFT), row.pk + 1, 1
    )
    return row, found[0][1] if found else None


@app_endpoint
async def list_messages(request: Request, rt: Runtime, ws: int) -> Response:
    filters = filters_of(request)
    return JSONResponse(await rt.db.read(lambda c: page_of(c, ws, request, filters)))


@app_endpoint
async def one_message(request: Request, rt: Runtime, ws: int) -> Response:
    delivery_id = path_param(request, "message_id")
    with_archive = parse_bool_flag(query_param(request, "archived_message") or "false")

    def load(conn: Connection) -> dict[str, Any]:
        row, ids = _one(conn, ws, delivery_id)
        metrics = deliveries.metrics_of(conn, ws, [delivery_id])[delivery_id]
        answer: dict[str, Any] = {"message": message_view(row, ids, metrics)}
        if with_archive:
            answer["archived_message"] = archived_view(row)
        return answer

    return JSONResponse(await rt.db.read(load))


@app_endpoint
async def archived_message(request: Request, rt: Runtime, ws: int) -> Response:
    delivery_id = path_param(request, "message_id")
    row = await rt.db.read(lambda c: _one(c, ws, delivery_id)[0])
    return JSONResponse({"archived_message": archived_view(row)})


@app_endpoint
async def customer_messages(request: Request, rt: Runtime, ws: int) -> Response:
    kind = id_type(request)
    value = path_param(request, "customer_id")

    def load(conn: Connection) -> dict[str, Any]:
        person = find_person(conn, ws, kind, value)
        return page_of(conn, ws, request, filters_of(request, person_pk=person.pk))

    return JSONResponse(await rt.db.read(load))


def transactional_view(stored: Stored) -> dict[str, Any]:
    """A transactional message as ``GET /v1/transactional/{id}`` shows it."""
    message = stored.message
    options = message.options
    return {
        "id": message.id,
        "name": message.name,
        "description": message.description,
        "type": message.channel,
        "send_to_unsubscribed": options["send_to_unsubscribed"],
        "link_tracking": options["link_tracking"],
        "open_tracking": options["open_tracking"],
        "hide_message_body": options["hide_message_body"],
        "queue_drafts": options["queue_drafts"],
        "subscription_topic_id": options.get("topic"),
        "created_at": stored.created_at,
        "updated_at": stored.updated_at,
    }


def _transactional_id(request: Request) -> int:
    return key_param(request, "transactional_id", UNKNOWN_TRANSACTIONAL)


async def load_transactional(rt: Runtime, ws: int, message_id: int) -> Stored:
    """One transactional message, or 404."""
    found = await rt.db.read(lambda c: transactional_by_id(c, ws, message_id))
    if found is None:
        raise NotFound(UNKNOWN_TRANSACTIONAL)
    return found


@app_endpoint
async def list_transactional(request: Request, rt: Runtime, ws: int) -> Response:
    found = await rt.db.read(lambda c: transactional(c, ws))
    return JSONResponse({"messages": [transactional_view(s) for s in found]})


@app_endpoint
async def one_transactional(request: Request, rt: Runtime, ws: int) -> Response:
    stored = await load_transactional(rt, ws, _transactional_id(request))
    return JSONResponse({"message": transactional_view(stored)})


@app_endpoint
async def transactional_messages(request: Request, rt: Runtime, ws: int) -> Response:
    stored = await load_transactional(rt, ws, _transactional_id(request))
    filters = filters_of(request, template_id=stored.message.id)
    return JSONResponse(await rt.db.read(lambda c: page_of(c, ws, request, filters)))


routes = [
    Route("/v1/messages", list_messages, methods=["GET"]),
    Route("/v1/messages/{message_id}", one_message, methods=["GET"]),
    Route("/v1/messages/{message_id}/archived_message", archived_message, methods=["GET"]),
    Route("/v1/customers/{customer_id}/messages", customer_messages, methods=["GET"]),
    Route("/v1/transactional", list_transactional, methods=["GET"]),
    Route("/v1/transactional/{transactional_id}", one_transactional, methods=["GET"]),
    Route("/v1/transactional/{transactional_id}/messages", transactional_messages, methods=["GET"]),
]
