"""What the links in messages reach (no credentials: the links are the credentials).

- ``GET /e/o/{token}/{sig}``: the open pixel; records ``opened`` (every time) and answers a
  1x1 GIF.
- ``GET /e/c/{token}/{sig}``: a tracked link; records ``clicked`` with the link and redirects
  (302) to the URL the message held. A token that does not verify redirects nowhere (400).
- ``GET /unsubscribe/{delivery_id}``: a page asking to confirm; its button, and mail clients'
  RFC 8058 one-click (``List-Unsubscribe=One-Click``), POST to the same URL. The JSON form of
  that POST is Track's unsubscribe call (api/track_v1.py).
- ``GET``/``POST /preferences/{delivery_id}``: the subscription preferences page behind
  ``{% manage_subscription_preferences_url %}``.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from patron.api.endpoints import Runtime, runtime
from patron.api.pages import NO_STORE, not_valid, page, preference_center
from patron.api.requests import path_param
from patron.domain import tracking
from patron.domain.definitions import Topic
from patron.domain.errors import InvalidInput
from patron.domain.operations import DeliveryMetric, Unsubscribe
from patron.store import definitions, deliveries, people, workspaces

# The smallest transparent GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _token_delivery(token: str) -> str | None:
    """The delivery a tracking token names, before it is verified (to find its workspace)."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        return None
    value = data.get("email_id") if isinstance(data, dict) else None
    # Never look up what no delivery id can be (PostgreSQL refuses NUL in text).
    if not isinstance(value, str) or "\x00" in value or len(value) > 200:
        return None
    return value


async def _delivery_and_secret(rt: Runtime, delivery_id: str | None) -> tuple[int, bytes] | None:
    if not delivery_id:
        return None

    def load(conn: Connection) -> tuple[int, bytes] | None:
        ws = deliveries.workspace_of_delivery(conn, delivery_id)
        return None if ws is None else (ws, workspaces.secret_of(conn, ws))

    return await rt.db.read(load)


def _metric_data(request: Request, **extra: Any) -> dict[str, Any]:
    data = {"user_agent": request.headers.get("user-agent", "")[:400], **extra}
    return {k: v for k, v in data.items() if v not in ("", None)}


async def open_pixel(request: Request) -> Response:
    rt = runtime(request)
    token, sig = request.path_params["token"], request.path_params["sig"]
    found = await _delivery_and_secret(rt, _token_delivery(token))
    delivery_id = None if found is None else tracking.read_open(found[1], token, sig)
    if found is not None and delivery_id is not None:
        op = DeliveryMetric(delivery_id, "opened", "tracking", data=_metric_data(request))
        await rt.apply(found[0], [op])
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


async def click(request: Request) -> Response:
    rt = runtime(request)
    token, sig = request.path_params["token"], request.path_params["sig"]
    found = await _delivery_and_secret(rt, _token_delivery(token))
    link = None if found is None else tracking.read_click(found[1], token, sig)
    if found is None or link is None:
        return not_valid("tracking", 400)
    data = _metric_data(request, href=link.href, link_id=link.link_id)
    await rt.apply(found[0], [DeliveryMetric(link.delivery_id, "clicked", "tracking", data=data)])
    return RedirectResponse(link.href, status_code=302, headers=NO_STORE)


async def unsubscribe_page(request: Request) -> Response:
    rt = runtime(request)
    try:
        delivery_id = path_param(request, "delivery_id")
    except InvalidInput:
        return not_valid("unsubscribe", 400)
    found = await rt.db.read(lambda c: deliveries.get(c, None, delivery_id))
    if found is None:
        return not_valid("unsubscribe")
    action = html.escape(request.url.path)
    return page(
        "Unsubscribe",
        "<p>Stop receiving these emails?</p>"
        f"<form method='post' action='{action}'>"
        "<button type='submit' name='unsubscribe' value='true'>Unsubscribe</button></form>",
    )


async def unsubscribe_form(request: Request, rt: Runtime, delivery_id: str) -> Response:
    """The page's button or an RFC 8058 one-click POST (form-encoded)."""
    ws = await rt.db.read(lambda c: deliveries.workspace_of_delivery(c, delivery_id))
    if ws is None:
        return not_valid("unsubscribe")
    await rt.apply(ws, [Unsubscribe(delivery_id=delivery_id, unsubscribe=True)])
    return page("Unsubscribed", "<p>You will not receive these emails any more.</p>")


async def preferences(request: Request) -> Response:
    rt = runtime(request)
    try:
        delivery_id = path_param(request, "delivery_id")
    except InvalidInput:
        return not_valid("preferences", 400)

    def load(conn: Connection) -> tuple[int, people.Person, list[Topic]] | None:
        row = deliveries.get(conn, None, delivery_id)
        if row is None or row.person_pk is None:
            return None
        return row.ws, people.get(conn, row.person_pk), definitions.topics(conn, row.ws)

    found = await rt.db.read(load)
    if found is None:
        return not_valid("preferences")
    ws, person, topics = found
    return await preference_center(request, rt, ws, person, topics)


def one_click_body(content_type: str) -> bool:
    """Whether a POST to /unsubscribe is a form (the page or RFC 8058), not Track's JSON."""
    return "application/x-www-form-urlencoded" in content_type or "multipart/form-data" in (
        content_type
    )


routes = [
    Route("/e/o/{token}/{sig}", open_pixel, methods=["GET"]),
    Route("/e/c/{token}/{sig}", click, methods=["GET"]),
    Route("/unsubscribe/{delivery_id}", unsubscribe_page, methods=["GET"]),
    Route("/preferences/{delivery_id}", preferences, methods=["GET", "POST"]),
]
