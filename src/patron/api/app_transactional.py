"""A transactional message's content and metrics on the App API (spec §3.5).

- ``GET /v1/transactional/{id}/contents``: ``{"contents":[variant]}``, one per language.
- ``PUT /v1/transactional/{id}/content/{content_id}``: overwrite one variant;
  ``{"content":[variant]}``.
- ``GET``/``PUT /v1/transactional/{id}/language/{language}``: one language's variant (PUT
  creates it when missing); ``{"content":[variant]}``.
- ``GET /v1/transactional/{id}/metrics``: ``{"metric":{"series":{metric:[count…]}}}`` (v1:
  ``period``, ``steps``; v2: ``version=2&res=&start=&end=&tz=``).
- ``GET /v1/transactional/{id}/metrics/links``: clicks per link, per period.

A variant's ``id`` is its content id; the default language is ``""``. docs/compatibility.md
has the choices where Customer.io's shapes are not documented.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.app_messages import METRICS, load_transactional
from patron.api.endpoints import Runtime, app_endpoint
from patron.api.requests import key_param, path_param, query_param, read_object
from patron.api.responses import JSONResponse
from patron.domain import clock, metric_series
from patron.domain.attributes import parse_bool_flag
from patron.domain.definitions import Transactional
from patron.domain.email_message import parse_headers
from patron.domain.errors import InvalidInput, NotFound
from patron.store import definitions, message_metrics
from patron.store.definitions import Stored

UNKNOWN_TRANSACTIONAL = "The transactional message does not exist."
UNKNOWN_CONTENT = "The `transactional_id` or `content_id` in your request do not exist."
UNKNOWN_LANGUAGE = "The `language` in your request does not exist."
_BODY_LIMIT = 1_048_576
# Writable variant fields: the API's name → the stored one.
_WRITABLE = {
    "body": "body",
    "body_plain": "body_plain",
    "subject": "subject",
    "from": "from",
    "reply_to": "reply_to",
    "cc": "cc",
    "bcc": "bcc",
    "preheader_text": "preheader",
    "preheader": "preheader",
    "recipient": "recipient",
}
# Fields a client may send back as read (or that name things Patron does not keep): ignored.
_IGNORED = frozenset(
    {
        "id",
        "name",
        "created",
        "updated",
        "language",
        "type",
        "preprocessor",
        "from_id",
        "reply_to_id",
        "fake_bcc",
        "body_amp",
    }
)


def _headers_text(raw: Any) -> str:
    """Stored headers as the App API shows them: a JSON string of ``[{name, value}]``."""
    if not raw:
        return "[]"
    try:
        pairs = parse_headers(raw)
    except ValueError:
        return orjson.dumps(raw).decode()
    return orjson.dumps([{"name": k, "value": v} for k, v in pairs.items()]).decode()


def variant_view(
    stored: Stored, language: str, fields: dict[str, Any], created: int, updated: int
) -> dict[str, Any]:
    """One language variant in the App API's shape (``transactionalActionObject``)."""
    message = stored.message

    def text(key: str) -> str:
        value = fields.get(key)
        return value if isinstance(value, str) else ""

    return {
        "id": stored.content_ids.get(language),
        "name": message.name,
        "created": created,
        "updated": updated,
        "body": text("body"),
        "language": language,
        "type": message.channel,
        "from": text("from"),
        "from_id": None,
        "reply_to": text("reply_to"),
        "reply_to_id": None,
        "preprocessor": "premailer",
        "recipient": text("recipient"),
        "subject": text("subject"),
        "cc": text("cc"),
        "bcc": text("bcc"),
        "fake_bcc": None,
        "preheader_text": text("preheader"),
        "body_amp": None,
        "headers": _headers_text(fields.get("headers")),
    }


def _view(conn: Connection, ws: int, stored: Stored, language: str) -> dict[str, Any]:
    """A stored variant as shown: a language's fields over the default's, as it is sent."""
    created, updated = definitions.variant_times(conn, ws, stored.message.id).get(
        language, (stored.created_at, stored.updated_at)
    )
    return variant_view(stored, language, stored.message.variant(language), created, updated)


def _variants(conn: Connection, ws: int, stored: Stored) -> list[dict[str, Any]]:
    languages = sorted(stored.content_ids, key=lambda k: (k != "", k))
    return [_view(conn, ws, stored, language) for language in languages]


def _transactional_id(request: Request) -> int:
    return key_param(request, "transactional_id", UNKNOWN_TRANSACTIONAL)


def _load(conn: Connection, ws: int, message_id: int, missing: str) -> Stored:
    stored = definitions.transactional_by_id(conn, ws, message_id)
    if stored is None:
        raise NotFound(missing)
    return stored


@app_endpoint
async def contents(request: Request, rt: Runtime, ws: int) -> Response:
    message_id = _transactional_id(request)

    def load(conn: Connection) -> dict[str, Any]:
        stored = _load(conn, ws, message_id, UNKNOWN_TRANSACTIONAL)
        return {"contents": _variants(conn, ws, stored)}

    return JSONResponse(await rt.db.read(load))


def parse_content(message: Transactional, body: dict[str, Any]) -> dict[str, Any]:
    """The stored fields a PUT body makes (it replaces every field of the variant)."""
    if message.channel != "email":
        raise InvalidInput(
            f"transactional message {message.id} is a {message.channel} message; only email "
            "content can be changed through the App API",
            field="transactional_id",
        )
    fields: dict[str, Any] = {}
    for key, value in body.items():
        if key in _IGNORED:
            continue
        if key == "headers":
            if value is None:
                continue
            try:
                headers = parse_headers(value)
            except ValueError as exc:
                raise InvalidInput(f"headers: {exc}", field="headers") from exc
            if headers:
                fields["headers"] = headers
            continue
        stored = _WRITABLE.get(key)
        if stored is None:
            raise InvalidInput(
                f"unknown field {key!r}; a variant has "
                f"{', '.join(sorted({*_WRITABLE, 'headers'}))}",
                field=key,
            )
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{key} must be a string", field=key)
        fields[stored] = value
    return fields


async def _put(
    request: Request, rt: Runtime, ws: int, message_id: int, find: Any, missing: str
) -> Response:
    """Overwrite the variant ``find(stored)`` names (a language); ``{"content":[variant]}``."""
    body = await read_object(request, _BODY_LIMIT)
    now = clock.now(ws)

    def write(conn: Connection) -> dict[str, Any]:
        stored = _load(conn, ws, message_id, missing)
        language = find(stored)
        fields = parse_content(stored.message, body)
        definitions.put_variant(conn, ws, message_id, language, fields, now)
        return {"content": [_view(conn, ws, _load(conn, ws, message_id, missing), language)]}

    return JSONResponse(await rt.db.write(write))


@app_endpoint
async def update_content(request: Request, rt: Runtime, ws: int) -> Response:
    message_id = key_param(request, "transactional_id", UNKNOWN_CONTENT)
    content_id = key_param(request, "content_id", UNKNOWN_CONTENT)

    def find(stored: Stored) -> str:
        for language, known in stored.content_ids.items():
            if known == content_id:
                return language
        raise NotFound(UNKNOWN_CONTENT)

    return await _put(request, rt, ws, message_id, find, UNKNOWN_CONTENT)


def _language(request: Request) -> str:
    language = path_param(request, "language").strip()
    if not 2 <= len(language) <= 16 or not all(c.isalnum() or c in "-_" for c in language):
        raise InvalidInput(UNKNOWN_LANGUAGE, field="language")
    return language


@app_endpoint
async def language_variant(request: Request, rt: Runtime, ws: int) -> Response:
    message_id = _transactional_id(request)
    language = _language(request)
    if request.method == "PUT":
        return await _put(request, rt, ws, message_id, lambda _: language, UNKNOWN_TRANSACTIONAL)

    def load(conn: Connection) -> dict[str, Any]:
        stored = _load(conn, ws, message_id, UNKNOWN_TRANSACTIONAL)
        if language not in stored.content_ids:
            raise InvalidInput(UNKNOWN_LANGUAGE, field="language")
        return {"content": [_view(conn, ws, stored, language)]}

    return JSONResponse(await rt.db.read(load))


def _window(request: Request, ws: int) -> tuple[metric_series.Window, bool]:
    """The periods a metrics request asks for, and whether it is a v2 request."""
    if query_param(request, "version") == "2":
        window = metric_series.v2(
            query_param(request, "res"),
            query_param(request, "start"),
            query_param(request, "end"),
            query_param(request, "tz"),
        )
        return window, True
    window = metric_series.v1(
        query_param(request, "period"), query_param(request, "steps"), clock.now(ws)
    )
    return window, False


@app_endpoint
async def metrics(request: Request, rt: Runtime, ws: int) -> Response:
    message_id = _transactional_id(request)
    window, version2 = _window(request, ws)
    stored = await load_transactional(rt, ws, message_id)
    found = await rt.db.read(
        lambda c: message_metrics.template_firsts(
            c, ws, stored.message.id, window.start, window.end
        )
    )
    by_metric: dict[str, list[int]] = {m: [] for m in METRICS}
    for metric, ts in found:
        if metric in by_metric:
            by_metric[metric].append(ts)
    series = {metric: window.counts(times) for metric, times in by_metric.items()}
    answer: dict[str, Any] = {"metric": {"series": series}}
    if version2:
        answer = {
            "start": window.label(window.start),
            "end": window.label(window.end),
            "res": window.res,
            **answer,
        }
    return JSONResponse(answer)


@app_endpoint
async def link_metrics(request: Request, rt: Runtime, ws: int) -> Response:
    message_id = _transactional_id(request)
    window = metric_series.v1(
        query_param(request, "period"), query_param(request, "steps"), clock.now(ws)
    )
    unique = parse_bool_flag(query_param(request, "unique") or "false")
    stored = await load_transactional(rt, ws, message_id)
    clicks = await rt.db.read(
        lambda c: message_metrics.template_clicks(
            c, ws, stored.message.id, window.start, window.end
        )
    )
    links: dict[Any, dict[str, Any]] = {}
    seen: set[tuple[Any, str]] = set()
    for click in clicks:  # oldest first: the last href seen is the newest
        key = click.link_id if click.link_id is not None else ("href", click.href)
        link = links.setdefault(key, {"id": click.link_id, "href": click.href, "times": []})
        link["href"] = click.href
        if unique:
            if (key, click.delivery_id) in seen:
                continue
            seen.add((key, click.delivery_id))
        link["times"].append(click.timestamp)
    ordered = sorted(links.values(), key=lambda v: (v["id"] is None, v["id"] or 0, v["href"]))
    return JSONResponse(
        {
            "links": [
                {
                    "link": {"id": link["id"], "href": link["href"]},
                    "metric": {"series": {"clicked": window.counts(link["times"])}},
                }
                for link in ordered
            ]
        }
    )


routes = [
    Route("/v1/transactional/{transactional_id}/contents", contents, methods=["GET"]),
    Route(
        "/v1/transactional/{transactional_id}/content/{content_id}",
        update_content,
        methods=["PUT"],
    ),
    Route(
        "/v1/transactional/{transactional_id}/language/{language}",
        language_variant,
        methods=["GET", "PUT"],
    ),
    Route("/v1/transactional/{transactional_id}/metrics", metrics, methods=["GET"]),
    Route("/v1/transactional/{transactional_id}/metrics/links", link_metrics, methods=["GET"]),
]
