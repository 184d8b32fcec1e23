"""The dev control plane, ``/__patron/…``: reset, snapshots, seed, clock, request log, faults.

Mounted only with ``patron serve --dev``; every call needs the workspace's App API key and acts
on that workspace only (``reset`` with ``{"all": true}`` is the one cross-workspace action).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.app_customers import customer_view
from patron.api.dev_middleware import DevState
from patron.api.endpoints import Runtime, app_endpoint
from patron.api.requests import query_param, read_json, read_object
from patron.api.responses import JSONResponse
from patron.domain import clock, ids
from patron.domain.durations import parse_duration
from patron.domain.errors import InvalidInput
from patron.domain.faults import parse_rules
from patron.domain.request_log import check_filters
from patron.store import clocks, people, snapshots, workspaces

_BODY_LIMIT = 1_048_576


def _dev(rt: Runtime) -> DevState:
    assert rt.dev is not None, "control plane mounted without dev state"
    return rt.dev


async def _body(request: Request) -> dict[str, Any]:
    return await read_object(request, _BODY_LIMIT, allow_empty=True)


def _name(body: dict[str, Any]) -> str:
    name = body.get("name", "default")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidInput(
            "name must be a non-empty string of at most 200 characters", field="name"
        )
    return name.strip()


@app_endpoint
async def reset(request: Request, rt: Runtime, ws: int) -> Response:
    """Empty the caller's workspace, or every workspace with ``{"all": true}``: data, clock,
    faults and request log; a seed stays in force and its id sequence starts again."""
    body = await _body(request)
    everyone = body.get("all", False)
    if not isinstance(everyone, bool):
        raise InvalidInput("all must be true or false", field="all")

    def run(conn: Connection) -> list[int]:
        targets = [w.id for w in workspaces.list_all(conn)] if everyone else [ws]
        for target in targets:
            snapshots.reset(conn, target)
            clocks.save(conn, target, None)
        return targets

    targets = await rt.db.write(run)
    dev = _dev(rt)
    for target in targets:
        clock.reset(target)
        ids.seed(target, ids.current_seed(target))
        dev.faults.clear(target)
        if dev.log is not None:
            dev.log.clear(target)
    return JSONResponse({"reset": targets})


@app_endpoint
async def snapshot(request: Request, rt: Runtime, ws: int) -> Response:
    """Save the workspace's data under ``name`` (default "default")."""
    name = _name(await _body(request))
    at = clock.now(ws)
    rows = await rt.db.write(lambda c: snapshots.save(c, ws, name, at))
    return JSONResponse({"name": name, "rows": rows, "created_at": at})


@app_endpoint
async def list_snapshots(request: Request, rt: Runtime, ws: int) -> Response:
    """The workspace's saved snapshots."""
    return JSONResponse({"snapshots": await rt.db.read(lambda c: snapshots.list_saved(c, ws))})


@app_endpoint
async def restore(request: Request, rt: Runtime, ws: int) -> Response:
    """Put the workspace back as snapshot ``name`` saved it."""
    name = _name(await _body(request))
    rows = await rt.db.write(lambda c: snapshots.restore(c, ws, name))
    return JSONResponse({"name": name, "rows": rows})


@app_endpoint
async def seed(request: Request, rt: Runtime, ws: int) -> Response:
    """``{"seed": 42}``: generated ids (and fault dice) repeat across runs; null: random."""
    if request.method == "POST":
        body = await _body(request)
        value = body.get("seed")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInput("seed must be an integer or null", field="seed")
        ids.seed(ws, value)
        _dev(rt).faults.seed(ws, value)
    return JSONResponse({"seed": ids.current_seed(ws)})


@app_endpoint
async def clock_state(request: Request, rt: Runtime, ws: int) -> Response:
    """Read, set, advance, freeze or reset the virtual clock."""
    if request.method == "POST":
        _change_clock(ws, await _body(request))
        kept = clock.export(ws)
        await rt.db.write(lambda c: clocks.save(c, ws, kept))
        if rt.segment_worker is not None:
            rt.segment_worker.follow_clock()
        for worker in (rt.sender, rt.journeys):
            if worker is not None:
                worker.poke()
    return JSONResponse(clock.state(ws))


def _change_clock(ws: int, body: dict[str, Any]) -> None:
    """Validate the whole request first, so that a bad field changes nothing."""
    known = {"set", "advance", "freeze", "reset"}
    unknown = sorted(body.keys() - known)
    if unknown or not body:
        raise InvalidInput(f"send one or more of {sorted(known)}", field=",".join(unknown))
    for flag in ("freeze", "reset"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise InvalidInput(f"{flag} must be true or false", field=flag)
    value = body.get("set")
    if "set" in body and (
        isinstance(value, bool) or not isinstance(value, int | float) or not clock.in_range(value)
    ):
        raise InvalidInput(
            f"set must be a unix timestamp in seconds, from 0 to {clock.LATEST}", field="set"
        )
    seconds = parse_duration(body["advance"], "advance") if "advance" in body else 0
    if isinstance(value, int | float):
        origin = value
    else:
        origin = clock.now(None if body.get("reset") else ws)
    if not clock.in_range(origin + seconds):
        raise InvalidInput(
            f"advance would move the clock outside 0 to {clock.LATEST}", field="advance"
        )
    if body.get("reset") is True:
        clock.reset(ws)
    freeze = body.get("freeze")
    if isinstance(value, int | float):
        clock.set_time(ws, value, frozen=freeze)
    elif freeze is not None:
        clock.freeze(ws, freeze)
    if seconds:
        clock.advance(ws, seconds)


def _limit(request: Request, default: int = 50, most: int = 1000) -> int:
    raw = query_param(request, "limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise InvalidInput(f"limit must be an integer from 1 to {most}", field="limit")
    return int(raw)


@app_endpoint
async def request_log(request: Request, rt: Runtime, ws: int) -> Response:
    """The last requests this workspace made (and unauthenticated ones), newest first."""
    log = _dev(rt).log
    assert log is not None, "the request log exists whenever the control plane does"
    if request.method == "DELETE":
        return JSONResponse({"cleared": log.clear(ws)})
    unknown = sorted(set(request.query_params) - {"path", "status", "limit"})
    if unknown:
        raise InvalidInput(
            f"unknown filter {unknown[0]}: filter by path, status or limit", field=unknown[0]
        )
    path, status = query_param(request, "path"), query_param(request, "status")
    check_filters(path, status)
    entries = log.query(ws, path=path, status=status, limit=_limit(request))
    return JSONResponse({"requests": msgspec.to_builtins(entries)})


@app_endpoint
async def list_people(request: Request, rt: Runtime, ws: int) -> Response:
    """Every person of the workspace in creation order, in the App API's customer shape,
    paged with ``start`` (the previous page's ``next``) and ``limit``."""
    limit = _limit(request, default=100)
    start = query_param(request, "start") or "0"
    if not (start.isascii() and start.isdigit()):
        raise InvalidInput("start must be the next value of an earlier page", field="start")

    def load(conn: Connection) -> dict[str, Any]:
        found = people.page(conn, ws, int(start), limit + 1)
        more = len(found) > limit
        found = found[:limit]
        return {
            "people": [customer_view(conn, p)["customer"] for p in found],
            "next": str(found[-1].pk) if more else None,
        }

    return JSONResponse(await rt.db.read(load))


@app_endpoint
async def faults(request: Request, rt: Runtime, ws: int) -> Response:
    """Add (POST), list (GET) or clear (DELETE, optionally ``?id=``) injected faults."""
    registry = _dev(rt).faults
    if request.method == "POST":
        added = registry.add(ws, parse_rules(await read_json(request, _BODY_LIMIT)))
        return JSONResponse({"faults": [r.public() for r in added]})
    if request.method == "DELETE":
        raw = query_param(request, "id")
        if raw is not None and not raw.isdigit():
            raise InvalidInput("id must be a fault rule id", field="id")
        return JSONResponse({"cleared": registry.clear(ws, None if raw is None else int(raw))})
    return JSONResponse({"faults": [r.public() for r in registry.list(ws)]})


@app_endpoint
async def settle(request: Request, rt: Runtime, ws: int) -> Response:
    """Wait until background work (segment membership, exports, sending) has caught up with
    every write so far: ``{"timeout": seconds}`` (default 10, at most 60) →
    ``{"settled": true|false}``."""
    body = await _body(request)
    timeout = body.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise InvalidInput("timeout must be a number of seconds from 0 to 60", field="timeout")
    deadline = time.monotonic() + float(timeout)
    settled = True
    for worker in (rt.segment_worker, rt.export_worker):
        if worker is not None and settled:
            settled = await worker.settle(max(0.0, deadline - time.monotonic()))
    # Journeys first: their steps queue deliveries; then the sender sends them.
    for stage in (rt.journeys, rt.sender, rt.journeys, rt.sender):
        if stage is not None and settled:
            settled = await stage.settle(max(0.0, deadline - time.monotonic()), ws)
    return JSONResponse({"settled": settled})


routes = [
    Route("/__patron/reset", reset, methods=["POST"]),
    Route("/__patron/settle", settle, methods=["POST"]),
    Route("/__patron/snapshot", snapshot, methods=["POST"]),
    Route("/__patron/snapshots", list_snapshots, methods=["GET"]),
    Route("/__patron/restore", restore, methods=["POST"]),
    Route("/__patron/seed", seed, methods=["GET", "POST"]),
    Route("/__patron/clock", clock_state, methods=["GET", "POST"]),
    Route("/__patron/requests", request_log, methods=["GET", "DELETE"]),
    Route("/__patron/people", list_people, methods=["GET"]),
    Route("/__patron/faults", faults, methods=["GET", "POST", "DELETE"]),
]
