"""The dev inbox (``--dev`` only, App API key, one inbox per workspace): what the capture
provider kept, as a test or a developer wants to read it (docs/dev-mode.md).

- ``GET /__patron/messages``: newest first; filters ``to`` (any recipient, cc and bcc
  included), ``subject``, ``text`` (in the text or the HTML part), all case-insensitive
  substrings, ``delivery_id`` (exact) and ``limit`` (1 to 1000, default 50); ``wait=5s`` (or a
  number of seconds, at most 30) holds the answer until a message matches or the time is up.
- ``GET /__patron/messages/{delivery_id}``: one message in detail (headers, HTML, text, raw
  MIME, attachments, links with their tracking decoded, List-Unsubscribe).
- ``DELETE /__patron/messages``: empty the workspace's inbox.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.endpoints import Runtime, app_endpoint
from patron.api.requests import path_param, query_param
from patron.api.responses import JSONResponse
from patron.domain import inbox
from patron.domain.errors import InvalidInput, NotFound
from patron.store import captured, workspaces

MAX_WAIT = 30.0
POLL_SECONDS = 0.05
_SCAN = 200  # captured messages read per query while filtering
_LIMIT_DEFAULT, _LIMIT_MOST = 50, 1000


@dataclass(frozen=True)
class Filters:
    """What ``GET /__patron/messages`` selects (each optional; text filters lower-cased)."""

    to: str | None = None
    subject: str | None = None
    text: str | None = None
    delivery_id: str | None = None

    def cheap_match(self, row: captured.Captured) -> bool:
        """The filters that need no parsing of the message."""
        if self.to is not None and not any(self.to in r.lower() for r in row.recipients):
            return False
        return self.subject is None or self.subject in (row.subject or "").lower()


def parse_wait(raw: str | None) -> float:
    """Seconds to wait: ``5``, ``2.5``, ``5s`` or ``500ms``; at most :data:`MAX_WAIT`."""
    if raw in (None, ""):
        return 0.0
    assert raw is not None
    text = raw.strip().lower()
    scale = 1.0
    if text.endswith("ms"):
        text, scale = text[:-2], 0.001
    elif text.endswith("s"):
        text = text[:-1]
    try:
        seconds = float(text) * scale
    except ValueError:
        seconds = -1.0
    if not text.isascii() or not 0 <= seconds <= MAX_WAIT:
        raise InvalidInput(
            f"wait must be a number of seconds from 0 to {MAX_WAIT:g} (like 5, 2.5 or 5s)",
            field="wait",
        )
    return seconds


def _limit(request: Request) -> int:
    raw = query_param(request, "limit")
    if raw in (None, ""):
        return _LIMIT_DEFAULT
    assert raw is not None
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _LIMIT_MOST:
        raise InvalidInput(f"limit must be an integer from 1 to {_LIMIT_MOST}", field="limit")
    return int(raw)


def _filters(request: Request) -> Filters:
    def lowered(name: str) -> str | None:
        value = query_param(request, name)
        return value.lower() if value else None

    return Filters(
        to=lowered("to"),
        subject=lowered("subject"),
        text=lowered("text"),
        delivery_id=query_param(request, "delivery_id") or None,
    )


def item_view(row: captured.Captured, message: EmailMessage) -> dict[str, Any]:
    """One captured message as the inbox lists it."""
    return {
        "delivery_id": row.delivery_id,
        "channel": row.channel,
        "to": inbox.addresses(message, "To"),
        "cc": inbox.addresses(message, "Cc"),
        "recipients": row.recipients,
        "from": str(message.get("From", "")),
        "subject": row.subject if row.subject is not None else str(message.get("Subject", "")),
        "created": row.created_at,
        "snippet": inbox.snippet(message),
    }


def detail_view(row: captured.Captured, message: EmailMessage, secret: bytes) -> dict[str, Any]:
    """One captured message in full."""
    html = inbox.html_of(message)

    def header(name: str) -> str | None:
        value = message.get(name)
        return None if value is None else str(value)

    return {
        **item_view(row, message),
        "reply_to": header("Reply-To"),
        "headers": inbox.headers(message),
        "html": html,
        "text": inbox.text_of(message),
        "raw": row.raw.decode("utf-8", "replace"),
        "attachments": inbox.attachments(message),
        "links": [inbox.link_view(href, secret) for href in inbox.hrefs(html)],
        "list_unsubscribe": header("List-Unsubscribe"),
        "list_unsubscribe_post": header("List-Unsubscribe-Post"),
    }


def select(conn: Connection, ws: int, filters: Filters, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` captured messages that pass ``filters``, as listed."""
    found: list[dict[str, Any]] = []
    before = None
    while len(found) < limit:
        rows = captured.newest(conn, ws, _SCAN, before_pk=before, delivery_id=filters.delivery_id)
        for row in rows:
            if not filters.cheap_match(row):
                continue
            message = inbox.parse(row.raw)
            if filters.text is not None and not inbox.matches_text(message, filters.text):
                continue
            found.append(item_view(row, message))
            if len(found) == limit:
                break
        if len(rows) < _SCAN:
            break
        before = rows[-1].pk
    return found


@app_endpoint
async def messages(request: Request, rt: Runtime, ws: int) -> Response:
    if request.method == "DELETE":
        return JSONResponse({"cleared": await rt.db.write(lambda c: captured.clear(c, ws))})
    filters = _filters(request)
    limit = _limit(request)
    deadline = time.monotonic() + parse_wait(query_param(request, "wait"))

    def look(conn: Connection) -> tuple[list[dict[str, Any]], int]:
        return select(conn, ws, filters, limit), captured.latest_pk(conn, ws)

    while True:
        found, seen = await rt.db.read(look)
        if found or time.monotonic() >= deadline:
            return JSONResponse({"messages": found})
        # Poll the newest key only; filter again once something new has arrived.
        while time.monotonic() < deadline:
            await asyncio.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            if await rt.db.read(lambda c: captured.latest_pk(c, ws)) != seen:
                break


@app_endpoint
async def one_message(request: Request, rt: Runtime, ws: int) -> Response:
    delivery_id = path_param(request, "delivery_id")

    def load(conn: Connection) -> dict[str, Any]:
        rows = captured.newest(conn, ws, 1, delivery_id=delivery_id)
        if not rows:
            raise NotFound(f"no captured message has the delivery id {delivery_id[:200]!r}")
        return detail_view(rows[0], inbox.parse(rows[0].raw), workspaces.secret_of(conn, ws))

    return JSONResponse(await rt.db.read(load))


routes = [
    Route("/__patron/messages", messages, methods=["GET", "DELETE"]),
    Route("/__patron/messages/{delivery_id}", one_message, methods=["GET"]),
]
