"""Deliveries in the App API's ``message`` and ``archived_message`` shapes (spec §3.6)."""

from __future__ import annotations

from typing import Any

import orjson

from patron.store.deliveries import Row

# A send without a transactional message is counted under message 1, as Customer.io does.
UNCATEGORIZED = 1


def message_view(row: Row, identifiers: Any, metrics: dict[str, int]) -> dict[str, Any]:
    """One delivery as ``GET /v1/messages/{id}`` shows it."""
    template = row.template_id
    if template is None and row.origin == "transactional":
        template = UNCATEGORIZED
    external = getattr(identifiers, "external_id", None)
    return {
        "id": row.delivery_id,
        "deduplicate_id": f"{row.delivery_id}:{row.updated_at or row.created_at}",
        "message_template_id": template,
        "msg_template_id": template,
        "action_id": row.action_id,
        "parent_action_id": None,
        "content_id": row.content_id,
        "customer_id": external,
        "customer_identifiers": {
            "email": getattr(identifiers, "email", None),
            "id": external,
            "cio_id": getattr(identifiers, "cio_id", None),
        },
        "recipient": row.recipient,
        "subject": row.subject,
        "metrics": metrics,
        "created": row.created_at,
        "failure_message": row.failure_message,
        "campaign_id": row.campaign_id,
        "newsletter_id": None,
        "broadcast_id": None,
        "trigger_event_id": None,
        "type": row.channel,
        "forgotten": row.forgotten,
    }


def archived_view(row: Row) -> dict[str, Any]:
    """What was sent (``GET /v1/messages/{id}/archived_message``); empty when forgotten."""
    content = row.content or {}
    return {
        "id": row.delivery_id,
        "body": content.get("body", ""),
        "body_plain": content.get("body_plain", ""),
        "from": content.get("from", ""),
        "reply_to": content.get("reply_to", ""),
        "recipient": content.get("to", row.recipient or ""),
        "subject": content.get("subject", row.subject or ""),
        "cc": content.get("cc", ""),
        "bcc": content.get("bcc", ""),
        "fake_bcc": "",
        "preheader_text": content.get("preheader_text", ""),
        "headers": orjson.dumps(
            [{"name": k, "value": v} for k, v in (content.get("headers") or {}).items()]
        ).decode(),
        "url": "",
        "request_method": "",
        "forgotten": row.forgotten,
    }
