"""``POST /__patron/apply`` (dev mode): ``patron apply`` over HTTP, for tests and tools.

The body is the workspace document as JSON, or as YAML with a YAML content type
(``application/yaml``, ``text/yaml``); ``?dry_run=true`` and ``?prune=true`` as on the CLI.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron import workspace_apply
from patron.api.endpoints import Runtime, app_endpoint
from patron.api.requests import query_param
from patron.api.responses import JSONResponse
from patron.domain.attributes import parse_bool_flag
from patron.domain.errors import InvalidInput

_BODY_LIMIT = 4 * 1024 * 1024


def _flag(request: Request, name: str) -> bool:
    raw = query_param(request, name)
    return raw is not None and parse_bool_flag(raw)


@app_endpoint
async def apply_document(request: Request, rt: Runtime, ws: int) -> Response:
    dry_run, prune = _flag(request, "dry_run"), _flag(request, "prune")
    raw = await request.body()
    if len(raw) > _BODY_LIMIT:
        raise InvalidInput(f"the document is larger than {_BODY_LIMIT} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the document is not valid UTF-8") from exc
    doc = workspace_apply.parse(workspace_apply.read_text(text))
    outcomes = await rt.db.write(
        lambda c: workspace_apply.apply(c, ws, doc, prune=prune, dry_run=dry_run)
    )
    if not dry_run and rt.segment_worker is not None:
        rt.segment_worker.poke()
    return JSONResponse({"dry_run": dry_run, "changes": [o.view() for o in outcomes]})


routes = [Route("/__patron/apply", apply_document, methods=["POST"])]
