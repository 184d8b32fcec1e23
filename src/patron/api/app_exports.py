"""Customer exports on the App API (wire spec §4.2) and their signed download links.

``POST /v1/exports/customers`` queues an export of the people matching ``filters`` (the
search/segment condition language); the export worker builds its CSV. ``…/download`` answers
``{"url": …}``: a link to ``/downloads/exports/{id}`` signed with the export's own secret and
valid for ``PATRON_EXPORT_LINK_TTL`` seconds, which serves the file without other credentials,
as Customer.io's pre-signed storage links do.
"""

from __future__ import annotations

import gzip
import time
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.endpoints import Runtime, app_endpoint, runtime
from patron.api.requests import key_param, query_param, read_object
from patron.api.responses import JSONResponse, error_meta
from patron.domain import clock, conditions, signed_urls
from patron.domain.errors import InvalidInput, NotFound
from patron.store import exports

DOWNLOAD_PATH = "/downloads/exports/"
UNKNOWN = "The export does not exist."
BAD_LINK = "This download link is not valid."


def _export_id(request: Request) -> int:
    return key_param(request, "export_id", UNKNOWN)


async def _load(rt: Runtime, ws: int, export_id: int) -> exports.Export:
    found = await rt.db.read(lambda c: exports.get(c, ws, export_id))
    if found is None:
        raise NotFound(UNKNOWN)
    return found


@app_endpoint
async def list_exports(request: Request, rt: Runtime, ws: int) -> Response:
    found = await rt.db.read(lambda c: exports.all_of(c, ws))
    return JSONResponse({"exports": [e.view() for e in found]})


@app_endpoint
async def new_customers_export(request: Request, rt: Runtime, ws: int) -> Response:
    body = await read_object(request, rt.settings.max_body_bytes)
    if body.get("filters") is None:
        raise InvalidInput("filters is required (the people to export)", field="filters")
    conditions.parse(body["filters"], "filters")  # 400 now rather than a failed export
    description = body.get("description") or "Customers export"
    if not isinstance(description, str) or len(description) > 2000:
        raise InvalidInput("description must be a string of at most 2000 characters")

    # A segment the filters name that does not exist matches nobody (as a search does).
    now = clock.now(ws)
    created = await rt.db.write(lambda c: exports.create(c, ws, body["filters"], description, now))
    if rt.export_worker is not None:
        rt.export_worker.poke()
    return JSONResponse({"export": created.view()})


@app_endpoint
async def one_export(request: Request, rt: Runtime, ws: int) -> Response:
    return JSONResponse({"export": (await _load(rt, ws, _export_id(request))).view()})


@app_endpoint
async def download_link(request: Request, rt: Runtime, ws: int) -> Response:
    export = await _load(rt, ws, _export_id(request))
    if export.status != exports.DONE:
        raise InvalidInput(
            f"the export is {export.status}; it can be downloaded once its status is done",
            field="export_id",
        )
    expires = int(time.time()) + rt.settings.export_link_ttl
    query = urlencode(
        {
            "expires": expires,
            "signature": signed_urls.signature(export.secret, str(export.id), expires),
        }
    )
    return JSONResponse({"url": f"{rt.base_url(request)}{DOWNLOAD_PATH}{export.id}?{query}"})


async def download(request: Request) -> Response:
    """The CSV behind a signed link (no other credentials)."""
    rt = runtime(request)
    try:
        export_id = _export_id(request)
        expires_raw = query_param(request, "expires") or ""
        given = query_param(request, "signature") or ""
    except (InvalidInput, NotFound):
        return error_meta(BAD_LINK, 403)
    if not (expires_raw.isascii() and expires_raw.isdigit()) or int(expires_raw) > 2**62:
        return error_meta(BAD_LINK, 403)
    expires = int(expires_raw)
    found = await rt.db.read(lambda c: exports.by_id(c, export_id))
    if found is None or not signed_urls.valid(
        found.secret, str(export_id), expires, given, int(time.time())
    ):
        return error_meta("This download link is not valid or has expired.", 403)
    content = await rt.db.write(lambda c: exports.content(c, export_id))
    if content is None:
        return error_meta(BAD_LINK, 403)
    headers = {"Content-Disposition": f'attachment; filename="export-{export_id}.csv"'}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        content = gzip.decompress(content)
    return Response(content, media_type="text/csv; charset=utf-8", headers=headers)


routes = [
    Route("/v1/exports", list_exports, methods=["GET"]),
    Route("/v1/exports/customers", new_customers_export, methods=["POST"]),
    Route("/v1/exports/{export_id}", one_export, methods=["GET"]),
    Route("/v1/exports/{export_id}/download", download_link, methods=["GET"]),
    Route(DOWNLOAD_PATH + "{export_id}", download, methods=["GET"]),
]
