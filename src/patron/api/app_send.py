"""Transactional sends on the App API: ``POST /v1/send/email`` (spec §7.1).

The answer ``{"delivery_id", "queued_at"[, "send_at"]}`` comes only after the delivery is
committed: from then on the sender worker owns it, and a crash cannot lose it. Errors use the
``/v1/send/*`` family's shape, ``{"meta":{"error":…}}`` (400, 403 and 413 for attachments).
customerio-node replays a request that timed out with ``X-Retry-Count``; such a replay gets
the delivery its first attempt made instead of a second email.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy.engine import Connection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api.endpoints import Runtime, app_endpoint
from patron.api.requests import read_object
from patron.api.responses import JSONResponse, error_meta
from patron.domain import clock, ids
from patron.domain.definitions import OPTION_DEFAULTS, Transactional
from patron.domain.email_message import (
    AttachmentError,
    decode_attachments,
    parse_headers,
    split_addresses,
)
from patron.domain.errors import InvalidInput
from patron.domain.operations import Identify
from patron.domain.transactional_send import MAX_RECIPIENTS, EmailSend, parse_email
from patron.store import definitions, deliveries, people
from patron.store.apply import apply

# Attachments may total 2 MB decoded; base64 and the rest of the body need room on top.
SEND_BODY_LIMIT = 4 * 1024 * 1024
REPLAY_WINDOW = 600


def _check_addresses(send: EmailSend) -> None:
    count = 0
    for key in ("to", "cc", "bcc"):
        value = send.to if key == "to" else send.overrides.get(key, "")
        if not value:
            continue
        try:
            count += len(split_addresses(value))
        except ValueError as exc:
            raise InvalidInput(f"{key}: {exc}", field=key) from exc
    if count > MAX_RECIPIENTS:
        raise InvalidInput(
            f"a message can have at most {MAX_RECIPIENTS} recipients across to, cc and bcc",
            field="to",
        )
    if send.headers is not None:
        try:
            parse_headers(send.headers)
        except ValueError as exc:
            raise InvalidInput(f"headers: {exc}", field="headers") from exc


def _template(conn: Connection, ws: int, send: EmailSend, now: int) -> Transactional | None:
    """The transactional message the request names (created by name with ``auto_create``)."""
    if send.template is None:
        for key in ("body", "subject"):
            if not send.overrides.get(key):
                raise InvalidInput(
                    f"{key} is required when no transactional_message_id is given", field=key
                )
        return None
    # Its id, channel and options: the content is the sender's to read (one query, no variants).
    stored = definitions.transactional_head(conn, ws, send.template)
    if isinstance(send.template, int):
        if stored is None:
            raise InvalidInput(
                f"transactional message {send.template} does not exist",
                field="transactional_message_id",
            )
    else:
        if stored is None:
            if not send.flags.get("auto_create"):
                raise InvalidInput(
                    f"no transactional message has the trigger name {send.template!r} "
                    "(send auto_create: true to create it)",
                    field="transactional_message_id",
                )
            missing = [k for k in ("from", "subject", "body") if not send.overrides.get(k)]
            if missing:
                raise InvalidInput(
                    f"{missing[0]} is required to create a message with auto_create",
                    field=missing[0],
                )
            created = Transactional(
                id=definitions.next_transactional_id(conn, ws),
                name=send.template,
                options=dict(OPTION_DEFAULTS),
            )
            definitions.put_transactional(conn, ws, created, now)
            return created
    if stored.channel != "email":
        raise InvalidInput(
            f"transactional message {stored.id} is a {stored.channel} message, not an email",
            field="transactional_message_id",
        )
    return stored


def _person_pk(conn: Connection, ws: int, send: EmailSend) -> int | None:
    """The person the message is for, created when the identifiers name nobody yet."""
    if send.who is None:
        return None
    found = people.find(conn, ws, send.who)
    if found is None:
        apply(conn, ws, [Identify(who=send.who, attributes={})])
        found = people.find(conn, ws, send.who)
    return None if found is None else found.pk


@app_endpoint
async def send_email(request: Request, rt: Runtime, ws: int) -> Response:
    body = await read_object(request, max(rt.settings.max_body_bytes, SEND_BODY_LIMIT))
    now = clock.now(ws)
    send = parse_email(body, now)
    _check_addresses(send)
    try:
        decode_attachments(send.attachments)
    except AttachmentError as exc:
        return error_meta(exc.message, exc.status)
    request_key = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    replay = "x-retry-count" in request.headers

    def queue(conn: Connection) -> dict[str, Any]:
        if replay:
            earlier = deliveries.replayed(conn, ws, request_key, now - REPLAY_WINDOW)
            if earlier is not None:
                return _answer(earlier.delivery_id, earlier.created_at, earlier.send_at, now)
        template = _template(conn, ws, send, now)
        options = template.options if template is not None else OPTION_DEFAULTS
        delivery_id = ids.new_delivery_id(ws)
        forgotten = bool(
            send.flags.get("disable_message_retention", options.get("hide_message_body"))
        )
        draft = send.flags.get("queue_draft", bool(options.get("queue_drafts")))
        deliveries.queue(
            conn,
            ws,
            deliveries.NewDelivery(
                delivery_id=delivery_id,
                person_pk=_person_pk(conn, ws, send),
                channel="email",
                origin="transactional",
                payload=send.payload(),
                send_at=send.send_at or now,
                draft=draft,
                template_id=None if template is None else template.id,
                recipient=send.to,
                request_key=request_key,
                forgotten=forgotten,
            ),
            now,
        )
        return _answer(delivery_id, now, send.send_at, now)

    answer = await rt.db.write(queue)
    if rt.sender is not None:
        rt.sender.poke()
    return JSONResponse(answer)


def _answer(delivery_id: str, queued_at: int, send_at: int | None, now: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"delivery_id": delivery_id, "queued_at": queued_at}
    if send_at is not None and send_at > now:
        answer["send_at"] = send_at
    return answer


routes = [Route("/v1/send/email", send_email, methods=["POST"])]
