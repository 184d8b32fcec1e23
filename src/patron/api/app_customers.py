"""App API reads of people and activities (wire spec §4.2), enough to see all state."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.endpoints import Runtime, app_endpoint
from patron.api.requests import path_param, query_param, read_object
from patron.api.responses import JSONResponse
from patron.domain import cursors
from patron.domain.attributes import parse_bool_flag
from patron.domain.errors import InvalidInput, NotFound
from patron.domain.identifiers import ALL_KINDS, CIO_PREFIX, Identifier, check_phone, check_value
from patron.domain.values import to_wire
from patron.store import activities, people, workspaces

MAX_LOOKUP_IDS = 100
DEFAULT_PAGE = 50
MAX_PAGE = 1000


def id_type(request: Request) -> str:
    """The ``id_type`` query parameter (default ``id``)."""
    kind = query_param(request, "id_type") or "id"
    if kind not in ALL_KINDS:
        raise InvalidInput(f"id_type must be one of {', '.join(ALL_KINDS)}", field="id_type")
    return kind


def page_limit(request: Request) -> int:
    """The ``limit`` query parameter, 1..1000."""
    raw = query_param(request, "limit") or str(DEFAULT_PAGE)
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE}", field="limit")
    return int(raw)


def page_start(request: Request) -> int:
    """The position a ``start`` paging token names (0 without one)."""
    token = query_param(request, "start")
    return cursors.decode(token, 1)[0] if token else 0


def customer_view(conn: Connection, person: people.Person) -> dict[str, Any]:
    """A person in the ``customerAttributesObject`` shape: every value a string."""
    attributes: dict[str, Any] = {k: to_wire(v) for k, v in person.attributes.items()}
    attributes["cio_id"] = person.cio_id
    if person.id is not None:
        attributes["id"] = person.id
    if person.email is not None:
        attributes["email"] = person.email
    if person.phone is not None:
        attributes["phone"] = person.phone
    timestamps = {k: int(v) for k, v in person.attribute_ts.items() if k in attributes}
    timestamps.setdefault("cio_id", person.created_at)
    return {
        "customer": {
            "id": person.id,
            "identifiers": _identifiers(person),
            "attributes": attributes,
            "timestamps": timestamps,
            "unsubscribed": parse_bool_flag(person.attributes.get("unsubscribed", False)),
            "devices": people.devices_of(conn, person.pk),
        }
    }


def _identifiers(person: people.Person) -> dict[str, str | None]:
    ids = {"id": person.id, "email": person.email, "cio_id": person.cio_id}
    if person.phone is not None:
        ids["phone"] = person.phone
    return ids


def find_person(conn: Connection, ws: int, kind: str, value: str) -> people.Person:
    """The person an App API path names, or 404."""
    if kind == "phone":
        if not workspaces.settings_of(conn, ws).phone_identifiers:
            raise InvalidInput(
                "phone identifiers are not enabled in this workspace", field="id_type"
            )
        value = check_phone(value, "customer_id")
    person = people.find(conn, ws, Identifier(kind, value))  # type: ignore[arg-type]
    if person is None:
        raise NotFound("The customer_id does not exist.")
    return person


@app_endpoint
async def by_email(request: Request, rt: Runtime, ws: int) -> Response:
    email = (query_param(request, "email") or "").strip()
    digest = (query_param(request, "email_sha256") or "").strip()
    if not email and not digest:
        raise InvalidInput("email (or email_sha256) is required", field="email")
    if email:
        found = await rt.db.read(lambda c: people.by_email(c, ws, email))
    else:
        found = await rt.db.read(lambda c: people.by_email_sha256(c, ws, digest))
    return JSONResponse(
        {"results": [{"id": p.id, "email": p.email, "cio_id": p.cio_id} for p in found]}
    )


@app_endpoint
async def attributes(request: Request, rt: Runtime, ws: int) -> Response:
    kind = id_type(request)
    value = path_param(request, "customer_id")
    return JSONResponse(
        await rt.db.read(lambda c: customer_view(c, find_person(c, ws, kind, value)))
    )


@app_endpoint
async def attributes_many(request: Request, rt: Runtime, ws: int) -> Response:
    kind = id_type(request)
    body = await read_object(request, rt.settings.max_body_bytes)
    raw_ids = body.get("ids")
    if not isinstance(raw_ids, list) or not 1 <= len(raw_ids) <= MAX_LOOKUP_IDS:
        raise InvalidInput(f"ids must be a list of 1 to {MAX_LOOKUP_IDS} identifiers", field="ids")
    wanted = [check_phone(v, "ids") if kind == "phone" else check_value(v, "ids") for v in raw_ids]

    def load(conn: Connection) -> dict[str, Any]:
        if kind == "phone" and not workspaces.settings_of(conn, ws).phone_identifiers:
            raise InvalidInput(
                "phone identifiers are not enabled in this workspace", field="id_type"
            )
        found = people.find_many(conn, ws, kind, wanted)
        return {"customers": [customer_view(conn, p) for p in found]}

    return JSONResponse(await rt.db.read(load))


def _activity_view(row: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": str(row.seq),
        "customer_id": row.person_id,
        "customer_identifiers": None
        if row.person_cio_id is None
        else {"id": row.person_id, "email": row.person_email, "cio_id": row.person_cio_id},
        "type": row.type,
        "timestamp": row.timestamp,
        "data": row.data,
    }
    if row.name is not None:
        view["name"] = row.name
    if row.anonymous_id is not None:
        view["anonymous_id"] = row.anonymous_id
    if row.event_id is not None:
        view["event_id"] = row.event_id
    return view


async def _activities(
    request: Request, rt: Runtime, ws: int, who: tuple[str, str] | None
) -> Response:
    limit = page_limit(request)
    type_ = query_param(request, "type")
    name = query_param(request, "name")
    start = query_param(request, "start")

    def load(conn: Connection) -> dict[str, Any]:
        person_pk = None
        if who is not None:
            person_pk = find_person(conn, ws, *who).pk
        rows, next_token = activities.page(
            conn,
            ws,
            person_pk=person_pk,
            type=type_,
            name=name,
            start=start,
            limit=limit,
        )
        return {"activities": [_activity_view(r) for r in rows], "next": next_token}

    return JSONResponse(await rt.db.read(load))


@app_endpoint
async def person_activities(request: Request, rt: Runtime, ws: int) -> Response:
    who = (id_type(request), path_param(request, "customer_id"))
    return await _activities(request, rt, ws, who)


@app_endpoint
async def workspace_activities(request: Request, rt: Runtime, ws: int) -> Response:
    customer = query_param(request, "customer_id")
    who = None
    if customer:
        if customer.startswith(CIO_PREFIX):
            who = ("cio_id", customer[len(CIO_PREFIX) :])
        else:
            who = (id_type(request), customer)
    return await _activities(request, rt, ws, who)


routes = [
    Route("/v1/customers", by_email, methods=["GET"]),
    Route("/v1/customers/attributes", attributes_many, methods=["POST"]),
    Route("/v1/customers/{customer_id}/attributes", attributes, methods=["GET"]),
    Route("/v1/customers/{customer_id}/activities", person_activities, methods=["GET"]),
    Route("/v1/activities", workspace_activities, methods=["GET"]),
]
