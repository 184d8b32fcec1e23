"""App API reads of object types, objects and relationships."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.app_customers import find_person, id_type, page_limit, page_start
from patron.api.endpoints import Runtime, app_endpoint
from patron.api.requests import path_param, query_param, read_object
from patron.api.responses import JSONResponse
from patron.domain import cursors
from patron.domain.errors import InvalidInput, NotFound
from patron.domain.object_filters import matches, parse_filter
from patron.domain.objects import parse_type_id
from patron.domain.operations import ObjectRef
from patron.domain.values import to_wire
from patron.store import objects as objects_store
from patron.store.schema import objects


def _page(rows: list[Any], limit: int) -> tuple[list[Any], str]:
    if len(rows) > limit:
        return rows[:limit], cursors.encode(rows[limit - 1].pk)
    return rows, ""


def _strings(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_wire(v) for k, v in values.items()}


def _ref(request: Request) -> ObjectRef:
    type_id = parse_type_id(path_param(request, "object_type_id"), "object_type_id")
    value = path_param(request, "object_id")
    kind = query_param(request, "id_type") or "object_id"
    if kind == "cio_object_id":
        return ObjectRef(cio_object_id=value)
    if kind != "object_id":
        raise InvalidInput("id_type must be object_id or cio_object_id", field="id_type")
    return ObjectRef(type_id=type_id, object_id=value)


def _object(conn: Connection, ws: int, ref: ObjectRef) -> objects_store.StoredObject:
    found = objects_store.find(conn, ws, ref)
    if found is None:
        raise NotFound("The object does not exist.")
    return found


@app_endpoint
async def object_types(request: Request, rt: Runtime, ws: int) -> Response:
    rows = await rt.db.read(lambda c: objects_store.types(c, ws))
    return JSONResponse({"types": [{"id": str(r.type_id), "name": r.name} for r in rows]})


@app_endpoint
async def object_attributes(request: Request, rt: Runtime, ws: int) -> Response:
    ref = _ref(request)
    found = await rt.db.read(lambda c: _object(c, ws, ref))
    return JSONResponse(
        {
            "object": {
                "object_type_id": str(found.type_id),
                "object_id": found.object_id,
                "cio_object_id": found.cio_object_id,
                "attributes": _strings(found.attributes),
                # Removed attributes keep their time in the store (so that an older write
                # cannot bring them back) but are not shown, as for people.
                "timestamps": {
                    k: int(v) for k, v in found.attribute_ts.items() if k in found.attributes
                },
                "created_at": found.created_at,
            }
        }
    )


@app_endpoint
async def object_relationships(request: Request, rt: Runtime, ws: int) -> Response:
    ref, offset, limit = _ref(request), page_start(request), page_limit(request)

    def load(conn: Connection) -> dict[str, Any]:
        found = _object(conn, ws, ref)
        rows, next_token = _page(
            objects_store.object_relationships(conn, found.pk, offset, limit), limit
        )
        items = []
        for r in rows:
            identifiers = (
                {"anonymous_id": r.anonymous_id}
                if r.cio_id is None
                else {"id": r.external_id, "email": r.email, "cio_id": r.cio_id}
            )
            items.append(
                {"identifiers": identifiers, "relationship_attributes": _strings(r.attributes)}
            )
        return {"cio_relationships": items, "next": next_token}

    return JSONResponse(await rt.db.read(load))


@app_endpoint
async def person_relationships(request: Request, rt: Runtime, ws: int) -> Response:
    kind, value = id_type(request), path_param(request, "customer_id")
    offset, limit = page_start(request), page_limit(request)

    def load(conn: Connection) -> dict[str, Any]:
        person = find_person(conn, ws, kind, value)
        rows, next_token = _page(
            objects_store.person_relationships(conn, person.pk, offset, limit), limit
        )
        items = [
            {
                "identifiers": {
                    "object_type_id": str(r.type_id),
                    "object_id": r.object_id,
                    "cio_object_id": r.cio_object_id,
                },
                "relationship_attributes": _strings(r.attributes),
            }
            for r in rows
        ]
        return {"cio_relationships": items, "next": next_token}

    return JSONResponse(await rt.db.read(load))


@app_endpoint
async def search_objects(request: Request, rt: Runtime, ws: int) -> Response:
    offset, limit = page_start(request), page_limit(request)
    body = await read_object(request, rt.settings.max_body_bytes)
    type_id = parse_type_id(body.get("object_type_id"), "object_type_id")
    condition = parse_filter(body.get("filter")) if body.get("filter") is not None else None

    def load(conn: Connection) -> dict[str, Any]:
        found: list[Any] = []
        after = offset
        # Scan the type's objects in key order, a chunk at a time, until a page is full.
        while len(found) <= limit:
            chunk = list(
                conn.execute(
                    sa.select(objects.c.pk, objects.c.object_id, objects.c.cio_object_id,
                              objects.c.attributes)
                    .where(objects.c.workspace_id == ws, objects.c.type_id == type_id,
                           objects.c.pk > after)
                    .order_by(objects.c.pk)
                    .limit(500)
                )
            )  # fmt: skip
            if not chunk:
                break
            found += [r for r in chunk if condition is None or matches(condition, r.attributes)]
            after = chunk[-1].pk
        rows, next_token = _page(found, limit)
        return {
            "identifiers": [
                {"object_type_id": str(type_id), "object_id": r.object_id,
                 "cio_object_id": r.cio_object_id}
                for r in rows
            ],
            "ids": [r.object_id for r in rows],
            "next": next_token,
        }  # fmt: skip

    return JSONResponse(await rt.db.read(load))


routes = [
    Route("/v1/object_types", object_types, methods=["GET"]),
    Route("/v1/objects", search_objects, methods=["POST"]),
    Route(
        "/v1/objects/{object_type_id}/{object_id}/attributes", object_attributes, methods=["GET"]
    ),
    Route(
        "/v1/objects/{object_type_id}/{object_id}/relationships",
        object_relationships,
        methods=["GET"],
    ),
    Route("/v1/customers/{customer_id}/relationships", person_relationships, methods=["GET"]),
]
