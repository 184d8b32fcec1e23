"""Segments on the App API (and Track v1's manual-segment membership), plus people search.

Customer.io's segment endpoints (wire spec §4.2) with one extension: a segment created with
``conditions`` is data-driven (``type: dynamic``) and kept exact by the segment worker
(docs/segments.md). ``PUT /v1/segments/{id}`` (also an extension) changes one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.app_customers import find_person, id_type, page_limit, page_start
from patron.api.endpoints import Runtime, app_endpoint, track_endpoint
from patron.api.requests import key_param, path_param, query_param, read_object
from patron.api.responses import JSONResponse, no_content
from patron.domain import clock, conditions, cursors
from patron.domain.errors import InvalidInput, NotFound
from patron.domain.identifiers import KINDS, check_value
from patron.store import people, segment_sql, segments

MAX_MEMBERSHIP_IDS = 1000
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_TAGS = 50


def _segment_id(request: Request) -> int:
    return key_param(request, "segment_id", "The segment does not exist.")


def _load(conn: Connection, ws: int, segment_id: int, *, lock: bool = False) -> segments.Segment:
    found = segments.get(conn, ws, segment_id, lock=lock)
    if found is None:
        raise NotFound("The segment does not exist.")
    return found


class Definition:
    """A validated ``{"segment": {…}}`` body."""

    def __init__(self, body: dict[str, Any], *, partial: bool = False) -> None:
        raw = body.get("segment")
        if not isinstance(raw, dict):
            raise InvalidInput('body must be {"segment": {"name": …}}', field="segment")
        self.given = set(raw)
        name = raw.get("name")
        bad_name = not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME
        if bad_name and (not partial or "name" in raw):
            raise InvalidInput(
                f"segment name is required (1 to {MAX_NAME} characters)", field="name"
            )
        self.name = name.strip() if isinstance(name, str) else ""
        description = raw.get("description") or ""
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidInput(
                f"description must be a string of at most {MAX_DESCRIPTION} characters",
                field="description",
            )
        self.description = description
        tags = raw.get("tags")
        if tags is not None and (
            not isinstance(tags, list)
            or len(tags) > MAX_TAGS
            or not all(isinstance(t, str) and 0 < len(t) <= MAX_NAME for t in tags)
        ):
            raise InvalidInput(f"tags must be a list of at most {MAX_TAGS} strings", field="tags")
        self.tags: list[str] | None = tags
        self.conditions = raw.get("conditions")
        self.condition = (
            None if self.conditions is None else conditions.parse(self.conditions, "conditions")
        )


def check_references(
    conn: Connection, ws: int, condition: conditions.Condition | None, own_id: int | None
) -> None:
    """Segments a condition refers to must exist, and may not lead back to ``own_id``."""
    if condition is None:
        return
    seen: set[int] = set()
    pending = list(conditions.segment_refs(condition))
    while pending:
        ref = pending.pop()
        if ref == own_id:
            raise InvalidInput("a segment cannot refer to itself", field="conditions")
        if ref in seen:
            continue
        seen.add(ref)
        found = segments.get(conn, ws, ref)
        if found is None:
            raise InvalidInput(f"segment {ref} does not exist", field="conditions")
        if found.type == segments.DYNAMIC:
            pending += conditions.segment_refs(found.condition)


def create_segment(conn: Connection, ws: int, spec: Definition) -> segments.Segment:
    """Create a segment from a validated definition."""
    check_references(conn, ws, spec.condition, None)
    return segments.create(
        conn,
        ws,
        name=spec.name,
        description=spec.description,
        tags=spec.tags,
        condition=spec.conditions,
        now=clock.now(ws),
    )


def change_segment(
    conn: Connection, ws: int, segment: segments.Segment, spec: Definition
) -> segments.Segment:
    """Apply the fields a definition gives to an existing segment."""
    if spec.condition is not None and segment.type == segments.MANUAL:
        raise InvalidInput("a manual segment cannot be given conditions", field="conditions")
    if "conditions" in spec.given and spec.condition is None and segment.type == segments.DYNAMIC:
        raise InvalidInput("a dynamic segment needs conditions", field="conditions")
    check_references(conn, ws, spec.condition, segment.id)
    return segments.redefine(
        conn,
        segment,
        name=spec.name if "name" in spec.given else segment.name,
        description=spec.description if "description" in spec.given else segment.description,
        tags=spec.tags if "tags" in spec.given else segment.tags,
        condition=segment.conditions if spec.conditions is None else spec.conditions,
        now=clock.now(ws),
    )


@app_endpoint
async def list_segments(request: Request, rt: Runtime, ws: int) -> Response:
    found = await rt.db.read(lambda c: segments.all_of(c, ws))
    return JSONResponse({"segments": [s.view() for s in found]})


@app_endpoint
async def new_segment(request: Request, rt: Runtime, ws: int) -> Response:
    spec = Definition(await read_object(request, rt.settings.max_body_bytes))
    created = await rt.db.write(lambda c: create_segment(c, ws, spec))
    return JSONResponse({"segment": created.view()})


@app_endpoint
async def one_segment(request: Request, rt: Runtime, ws: int) -> Response:
    segment_id = _segment_id(request)
    if request.method == "GET":
        return JSONResponse(
            {"segment": (await rt.db.read(lambda c: _load(c, ws, segment_id))).view()}
        )
    if request.method == "DELETE":

        def remove(conn: Connection) -> None:
            _load(conn, ws, segment_id)
            if segments.referring_to(conn, ws, segment_id):
                raise InvalidInput(
                    "other segments refer to this one (GET …/used_by); change them first",
                    field="segment_id",
                )
            segments.delete(conn, ws, segment_id)

        await rt.db.write(remove)
        return no_content()
    spec = Definition(await read_object(request, rt.settings.max_body_bytes), partial=True)
    changed = await rt.db.write(
        lambda c: change_segment(c, ws, _load(c, ws, segment_id, lock=True), spec)
    )
    return JSONResponse({"segment": changed.view()})


@app_endpoint
async def customer_count(request: Request, rt: Runtime, ws: int) -> Response:
    segment_id = _segment_id(request)

    def load(conn: Connection) -> int:
        _load(conn, ws, segment_id)
        return segments.count(conn, segment_id)

    return JSONResponse({"count": await rt.db.read(load)})


def _identified(conn: Connection, ws: int, keys: list[int], limit: int) -> dict[str, Any]:
    """The ``identifiers`` / ``ids`` / ``next`` page of people search and membership."""
    rows = people.identifiers_of(conn, ws, keys[:limit])
    return {
        "identifiers": [{"email": r.email, "id": r.external_id, "cio_id": r.cio_id} for r in rows],
        "ids": [r.external_id for r in rows],
        "next": cursors.encode(keys[limit - 1]) if len(keys) > limit else "",
    }


@app_endpoint
async def membership(request: Request, rt: Runtime, ws: int) -> Response:
    segment_id, after, limit = _segment_id(request), page_start(request), page_limit(request)

    def load(conn: Connection) -> dict[str, Any]:
        _load(conn, ws, segment_id)
        keys = segments.member_keys(conn, segment_id, after, limit + 1)
        return _identified(conn, ws, keys, limit)

    return JSONResponse(await rt.db.read(load))


@app_endpoint
async def used_by(request: Request, rt: Runtime, ws: int) -> Response:
    segment_id = _segment_id(request)

    def load(conn: Connection) -> dict[str, Any]:
        _load(conn, ws, segment_id)
        users = segments.referring_to(conn, ws, segment_id)
        return {
            "used_by": {
                "campaigns": [],
                "sent_newsletters": [],
                "draft_newsletters": [],
                "segments": users,
            }
        }

    return JSONResponse(await rt.db.read(load))


@app_endpoint
async def customer_segments(request: Request, rt: Runtime, ws: int) -> Response:
    kind, value = id_type(request), path_param(request, "customer_id")

    def load(conn: Connection) -> list[segments.Segment]:
        return segments.of_person(conn, ws, find_person(conn, ws, kind, value).pk)

    found = await rt.db.read(load)
    return JSONResponse({"segments": [s.view() for s in found]})


@app_endpoint
async def search(request: Request, rt: Runtime, ws: int) -> Response:
    """``POST /v1/customers``: people matching a filter, in creation order."""
    after, limit = page_start(request), page_limit(request)
    body = await read_object(request, rt.settings.max_body_bytes)
    if body.get("filter") is None:
        raise InvalidInput("filter is required", field="filter")
    condition = conditions.parse(body["filter"], "filter")

    def load(conn: Connection) -> dict[str, Any]:
        keys = segment_sql.search(conn, ws, condition, clock.now(ws), after, limit + 1)
        return _identified(conn, ws, keys, limit)

    return JSONResponse(await rt.db.read(load))


# -- Track v1: manual segment membership --------------------------------------------------------


async def _membership_change(request: Request, rt: Runtime, ws: int, add: bool) -> Response:
    segment_id = _segment_id(request)
    kind = query_param(request, "id_type") or "id"
    if kind not in KINDS:
        raise InvalidInput(f"id_type must be one of {', '.join(KINDS)}", field="id_type")
    body = await read_object(request, rt.settings.max_body_bytes)
    raw = body.get("ids")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_MEMBERSHIP_IDS:
        raise InvalidInput(
            f"ids must be a list of 1 to {MAX_MEMBERSHIP_IDS} identifiers", field="ids"
        )
    values = [check_value(v, "ids") for v in raw]

    def change(conn: Connection) -> None:
        segment = _load(conn, ws, segment_id)
        if segment.type != segments.MANUAL:
            raise InvalidInput(
                "people can only be added to or removed from manual segments", field="segment_id"
            )
        keys = [p.pk for p in people.find_many(conn, ws, kind, values)]
        if add:
            segments.add(conn, segment, keys, clock.now(ws))
        else:
            segments.remove(conn, segment, keys, clock.now(ws))

    await rt.db.write(change)
    return JSONResponse({})


@track_endpoint()
async def add_customers(request: Request, rt: Runtime, ws: int) -> Response:
    return await _membership_change(request, rt, ws, add=True)


@track_endpoint()
async def remove_customers(request: Request, rt: Runtime, ws: int) -> Response:
    return await _membership_change(request, rt, ws, add=False)


routes = [
    Route("/v1/segments", list_segments, methods=["GET"]),
    Route("/v1/segments", new_segment, methods=["POST"]),
    Route("/v1/segments/{segment_id}", one_segment, methods=["GET", "PUT", "DELETE"]),
    Route("/v1/segments/{segment_id}/customer_count", customer_count, methods=["GET"]),
    Route("/v1/segments/{segment_id}/membership", membership, methods=["GET"]),
    Route("/v1/segments/{segment_id}/used_by", used_by, methods=["GET"]),
    Route("/v1/customers", search, methods=["POST"]),
    Route("/v1/customers/{customer_id}/segments", customer_segments, methods=["GET"]),
    Route("/api/v1/segments/{segment_id}/add_customers", add_customers, methods=["POST"]),
    Route("/api/v1/segments/{segment_id}/remove_customers", remove_customers, methods=["POST"]),
]
