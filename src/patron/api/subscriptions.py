"""Subscription topics, channels and the hosted subscription center (spec §3.8, §8.5).

App API (Bearer key):

- ``GET /v1/subscription_topics``: ``{"topics":[topic]}``.
- ``GET /v1/subscription_channels``: ``{"channels":[channel]}`` (email, SMS, push, in-app).
- ``GET /v1/customers/{id}/subscription_preferences?id_type&language``: the person's state per
  topic and channel (a Patron shape: Customer.io's is not documented).
- ``GET /v1/subscription_center/{id}/token``: ``{"token","url"}``; the link works for 24 hours
  (by the workspace's clock); an unknown person is a 400 in the ``errors`` shape.

The subscription center itself (no credentials: the token is one): ``GET``/``POST
/u/i/{token}/`` and ``/u/i/{token}/{language}``, the same form as ``/preferences/{delivery_id}``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.app_customers import find_person, id_type
from patron.api.auth import Unauthorized
from patron.api.endpoints import Runtime, app_endpoint, runtime
from patron.api.pages import not_valid, preference_center
from patron.api.requests import path_param, query_param
from patron.api.responses import JSONResponse, unauthorized
from patron.domain import clock, preferences
from patron.domain.definitions import Topic
from patron.domain.errors import InvalidInput, NotFound
from patron.domain.identifiers import Identifier
from patron.store import definitions, people, workspaces


@app_endpoint
async def list_topics(request: Request, rt: Runtime, ws: int) -> Response:
    topics = await rt.db.read(lambda c: definitions.topics(c, ws))
    return JSONResponse({"topics": [t.view() for t in topics]})


@app_endpoint
async def list_channels(request: Request, rt: Runtime, ws: int) -> Response:
    return JSONResponse({"channels": [c.view() for c in preferences.CHANNELS]})


def preferences_view(person: people.Person, topics: list[Topic]) -> dict[str, Any]:
    """A person's subscription state (``GET /v1/customers/{id}/subscription_preferences``)."""
    states = preferences.topic_states(topics, person.attributes)
    channels = preferences.channel_states(person.attributes)
    return {
        "customer": {
            "id": person.id,
            "identifiers": {"id": person.id, "email": person.email, "cio_id": person.cio_id},
            "unsubscribed": preferences.unsubscribed(person.attributes),
            "topics": [
                {
                    "id": t.id,
                    "identifier": f"topic_{t.id}",
                    "name": t.name,
                    "description": t.description,
                    "subscribed": states[t.id],
                }
                for t in topics
            ],
            "channels": [
                {**c.view(), "subscribed": channels[c.type]} for c in preferences.CHANNELS
            ],
        }
    }


@app_endpoint
async def customer_preferences(request: Request, rt: Runtime, ws: int) -> Response:
    kind = id_type(request)
    value = path_param(request, "customer_id")
    query_param(request, "language")  # accepted: topics have no translations in Patron

    def load(conn: Connection) -> dict[str, Any]:
        person = find_person(conn, ws, kind, value)
        return preferences_view(person, definitions.topics(conn, ws))

    return JSONResponse(await rt.db.read(load))


def _bad_request() -> JSONResponse:
    return JSONResponse({"errors": [{"detail": "bad request", "status": "400"}]}, status_code=400)


def center_url(base: str, token: str, language: str | None = None) -> str:
    """The subscription center's address for a token."""
    return f"{base.rstrip('/')}/u/i/{token}/{language or ''}"


async def center_token(request: Request) -> Response:
    """``GET /v1/subscription_center/{customer_id}/token`` (errors in the ``errors`` shape)."""
    rt = runtime(request)
    try:
        ws = await rt.auth.app(request)
    except Unauthorized:
        return unauthorized()
    try:
        kind = id_type(request)
        value = path_param(request, "customer_id")
        now = clock.now(ws)

        def load(conn: Connection) -> str:
            person = find_person(conn, ws, kind, value)
            secret = workspaces.secret_of(conn, ws)
            return preferences.make_token(secret, ws, person.cio_id, now + preferences.TOKEN_TTL)

        token = await rt.db.read(load)
    except (InvalidInput, NotFound):
        return _bad_request()
    return JSONResponse({"token": token, "url": center_url(rt.settings.links_base(), token)})


async def center_page(request: Request) -> Response:
    """The subscription center a token opens: ``GET`` shows the form, ``POST`` saves it."""
    rt = runtime(request)
    try:
        token = path_param(request, "token")
        language = path_param(request, "language") if "language" in request.path_params else None
    except InvalidInput:
        return not_valid("subscription center", 400)
    ws = preferences.token_workspace(token)
    if ws is None:
        return not_valid("subscription center")

    def load(conn: Connection) -> tuple[people.Person, list[Topic]] | None:
        try:
            secret = workspaces.secret_of(conn, ws)
        except NotFound:
            return None
        found = preferences.read_token(secret, token, clock.now(ws))
        if found is None:
            return None
        person = people.find(conn, ws, Identifier("cio_id", found.cio_id))
        return None if person is None else (person, definitions.topics(conn, ws))

    loaded = await rt.db.read(load)
    if loaded is None:
        return not_valid("subscription center")
    person, topics = loaded
    return await preference_center(request, rt, ws, person, topics, language or None)


routes = [
    Route("/v1/subscription_topics", list_topics, methods=["GET"]),
    Route("/v1/subscription_channels", list_channels, methods=["GET"]),
    Route(
        "/v1/customers/{customer_id}/subscription_preferences",
        customer_preferences,
        methods=["GET"],
    ),
    Route("/v1/subscription_center/{customer_id}/token", center_token, methods=["GET"]),
    Route("/u/i/{token}/", center_page, methods=["GET", "POST"]),
    Route("/u/i/{token}/{language}", center_page, methods=["GET", "POST"]),
]
