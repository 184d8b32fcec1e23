"""Campaigns on the App API (spec §3.1): ``GET /v1/campaigns``, ``/v1/campaigns/{id}``,
``…/actions`` (ten at a time), ``…/actions/{action_id}``, ``…/messages`` and
``…/journey_metrics``. Campaigns are defined with ``patron apply``; the API reads them."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.app_messages import filters_of, page_of
from patron.api.endpoints import Runtime, app_endpoint
from patron.api.requests import key_param, query_param
from patron.api.responses import JSONResponse
from patron.domain import conditions, cursors
from patron.domain.campaigns import Node
from patron.domain.errors import InvalidInput, NotFound
from patron.store import campaigns, journeys

UNKNOWN = "The automation and/or action do not exist."
ACTIONS_PER_PAGE = 10  # "returns up to 10 actions at a time"


def _campaign_id(request: Request) -> int:
    return key_param(request, "campaign_id", UNKNOWN)


def campaign_view(stored: campaigns.Stored, base_url: str) -> dict[str, Any]:
    """A campaign in the App API's ``campaign`` shape (plus ``webhook_url``, a Patron
    extension, for webhook-triggered campaigns)."""
    c = stored.campaign
    trigger = c.trigger
    condition = c.condition()
    filter_segments = sorted(conditions.segment_refs(condition)) if condition is not None else []
    view: dict[str, Any] = {
        "id": c.id,
        "deduplicate_id": f"{c.id}:{stored.updated_at}",
        "name": c.name,
        "description": c.description,
        "type": {"attribute_change": "segment"}.get(trigger.kind, trigger.kind),
        "created": stored.created_at,
        "updated": stored.updated_at,
        "active": c.state == "running",
        "state": c.state,
        "actions": [
            {"type": n.type, "id": n.id} for n in sorted(c.program.nodes.values(), key=_order)
        ],
        "first_started": stored.activated_at,
        "tags": list(c.tags),
        "filter_segment_ids": filter_segments,
    }
    if trigger.kind == "event":
        view["event_name"] = trigger.event
    if trigger.kind == "segment":
        view["trigger_segment_ids"] = [int(stored.trigger_key or 0)]
    if trigger.kind == "webhook" and stored.webhook_token:
        view["webhook_url"] = f"{base_url}/v1/webhook/{stored.webhook_token}"
    return view


def _order(node: Node) -> int:
    return node.id


def action_view(campaign_id: int, node: Node, updated: int) -> dict[str, Any]:
    """One workflow action in the App API's ``action`` shape."""
    spec = node.spec
    view: dict[str, Any] = {
        "id": node.id,
        "campaign_id": campaign_id,
        "parent_action_id": None,
        "deduplicate_id": f"{node.id}:{updated}",
        "name": spec.get("name", ""),
        "type": node.type,
        "created": updated,
        "updated": updated,
        "language": "",
    }
    if node.type == "email":
        view.update(
            {
                "sending_state": spec.get("sending_state", "automatic"),
                "body": spec.get("body", ""),
                "from": spec.get("from", ""),
                "from_id": None,
                "reply_to": spec.get("reply_to", ""),
                "reply_to_id": None,
                "preprocessor": "premailer",
                "recipient": spec.get("recipient", "{{customer.email}}"),
                "subject": spec.get("subject", ""),
                "cc": spec.get("cc", ""),
                "bcc": spec.get("bcc", ""),
                "fake_bcc": None,
                "preheader_text": spec.get("preheader", ""),
                "body_amp": None,
                "headers": "[]",
                "layout": None,
            }
        )
    elif node.type in ("attribute_update", "create_event"):
        pairs = spec.get("set") if node.type == "attribute_update" else spec.get("data")
        view["body"] = orjson.dumps(
            [{"name": k, "value": v} for k, v in (pairs or {}).items()]
        ).decode()
    return view


async def _load(rt: Runtime, ws: int, campaign_id: int) -> campaigns.Stored:
    found = await rt.db.read(lambda c: campaigns.get(c, ws, campaign_id))
    if found is None:
        raise NotFound(UNKNOWN)
    return found


@app_endpoint
async def list_campaigns(request: Request, rt: Runtime, ws: int) -> Response:
    found = await rt.db.read(lambda c: campaigns.all_of(c, ws))
    base = rt.base_url(request)
    return JSONResponse({"campaigns": [campaign_view(s, base) for s in found]})


@app_endpoint
async def one_campaign(request: Request, rt: Runtime, ws: int) -> Response:
    stored = await _load(rt, ws, _campaign_id(request))
    return JSONResponse({"campaign": campaign_view(stored, rt.base_url(request))})


@app_endpoint
async def list_actions(request: Request, rt: Runtime, ws: int) -> Response:
    stored = await _load(rt, ws, _campaign_id(request))
    token = query_param(request, "start")
    after = cursors.decode(token, 1)[0] if token else 0
    nodes = [n for n in sorted(stored.campaign.program.nodes.values(), key=_order) if n.id > after]
    page, more = nodes[:ACTIONS_PER_PAGE], len(nodes) > ACTIONS_PER_PAGE
    return JSONResponse(
        {
            "actions": [action_view(stored.campaign.id, n, stored.updated_at) for n in page],
            "next": cursors.encode(page[-1].id) if more else "",
        }
    )


@app_endpoint
async def one_action(request: Request, rt: Runtime, ws: int) -> Response:
    stored = await _load(rt, ws, _campaign_id(request))
    node = stored.campaign.program.nodes.get(key_param(request, "action_id", UNKNOWN))
    if node is None:
        raise NotFound(UNKNOWN)
    return JSONResponse({"action": action_view(stored.campaign.id, node, stored.updated_at)})


@app_endpoint
async def campaign_messages(request: Request, rt: Runtime, ws: int) -> Response:
    stored = await _load(rt, ws, _campaign_id(request))
    filters = filters_of(request, campaign_id=stored.campaign.id)
    return JSONResponse(await rt.db.read(lambda c: page_of(c, ws, request, filters)))


@app_endpoint
async def journey_metrics(request: Request, rt: Runtime, ws: int) -> Response:
    """Per action, how many runs took each outcome (``journey_metric.actions``), and totals
    of runs by status (``journey_metric.runs``): Patron's own shape (Customer.io's is
    unconfirmed, docs/compatibility.md)."""
    stored = await _load(rt, ws, _campaign_id(request))
    for name in ("start", "end"):
        raw = query_param(request, name)
        if raw is not None and not (raw.isascii() and raw.isdigit()):
            raise InvalidInput(f"{name} must be a unix timestamp", field=name)

    def load(conn: Connection) -> dict[str, Any]:
        counts = journeys.counts(conn, ws, stored.campaign.id)
        runs = counts.pop(None, {})
        return {
            "journey_metric": {
                "runs": runs,
                "actions": {
                    str(k): v for k, v in sorted(counts.items(), key=lambda kv: kv[0] or 0)
                },
            }
        }

    return JSONResponse(await rt.db.read(load))


routes = [
    Route("/v1/campaigns", list_campaigns, methods=["GET"]),
    Route("/v1/campaigns/{campaign_id}", one_campaign, methods=["GET"]),
    Route("/v1/campaigns/{campaign_id}/actions", list_actions, methods=["GET"]),
    Route("/v1/campaigns/{campaign_id}/actions/{action_id}", one_action, methods=["GET"]),
    Route("/v1/campaigns/{campaign_id}/messages", campaign_messages, methods=["GET"]),
    Route("/v1/campaigns/{campaign_id}/journey_metrics", journey_metrics, methods=["GET"]),
]
