"""``POST /v1/send/email``: the request body, checked (spec §7.1). No SQL, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier, from_object

MAX_RECIPIENTS = 15
MAX_SEND_AHEAD = 90 * 86_400
# Fields that override the template's content, as the request names them.
EMAIL_OVERRIDES = (
    "from",
    "subject",
    "body",
    "body_plain",
    "body_amp",
    "preheader",
    "reply_to",
    "cc",
    "bcc",
    "fake_bcc",
)
_FLAGS = (
    "queue_draft",
    "disable_message_retention",
    "send_to_unsubscribed",
    "tracked",
    "disable_css_preprocessing",
    "auto_create",
)
KNOWN = frozenset(
    {
        "transactional_message_id",
        "to",
        "identifiers",
        "message_data",
        "attachments",
        "headers",
        "send_at",
        "language",
        *EMAIL_OVERRIDES,
        *_FLAGS,
    }
)


@dataclass(frozen=True)
class EmailSend:
    """A checked transactional email request. ``template`` is the id (int), the trigger name
    (str) or None (uncategorized: Customer.io counts those under message 1)."""

    to: str
    template: int | str | None
    who: Identifier | None
    message_data: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    attachments: dict[str, Any] = field(default_factory=dict)
    headers: Any = None
    send_at: int | None = None
    language: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """What the delivery keeps to render and send the message later."""
        return {
            "to": self.to,
            "message_data": self.message_data,
            "overrides": self.overrides,
            "attachments": self.attachments,
            "headers": self.headers,
            "language": self.language,
            "flags": self.flags,
        }


def _string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string", field=key)
    return value


def parse_email(body: dict[str, Any], now: int) -> EmailSend:
    """Check a send body; a broken rule is an :class:`InvalidInput` (a 400 ``meta.error``)."""
    unknown = sorted(set(body) - KNOWN)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} in the send request", field=unknown[0])
    to = _string(body, "to")
    if not to or not to.strip():
        raise InvalidInput("to is required: the address (or addresses) to send to", field="to")
    template = body.get("transactional_message_id")
    if isinstance(template, bool) or not isinstance(template, int | str | None):
        raise InvalidInput(
            "transactional_message_id must be a message id or trigger name",
            field="transactional_message_id",
        )
    if isinstance(template, str):
        template = template.strip()
        if template.isdigit():
            template = int(template)
        elif not template:
            raise InvalidInput(
                "transactional_message_id cannot be blank", field="transactional_message_id"
            )
    who = None
    if body.get("identifiers") is not None:
        who = from_object(body["identifiers"], "identifiers")
    data = body.get("message_data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput("message_data must be an object", field="message_data")
    overrides = {}
    for key in EMAIL_OVERRIDES:
        value = _string(body, key)
        if value is not None:
            overrides[key] = value
    attachments = body.get("attachments")
    if attachments is None:
        attachments = {}
    if not isinstance(attachments, dict):
        raise InvalidInput(
            "attachments must be an object of file names to base64 contents", field="attachments"
        )
    send_at = body.get("send_at")
    if send_at is not None:
        if isinstance(send_at, bool) or not isinstance(send_at, int):
            raise InvalidInput("send_at must be a unix timestamp in seconds", field="send_at")
        if send_at > now + MAX_SEND_AHEAD:
            raise InvalidInput("send_at cannot be more than 90 days ahead", field="send_at")
        send_at = max(send_at, now)
    language = _string(body, "language")
    flags = {}
    for key in _FLAGS:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise InvalidInput(f"{key} must be true or false", field=key)
        flags[key] = value
    return EmailSend(
        to=to.strip(),
        template=template,
        who=who,
        message_data=data,
        overrides=overrides,
        attachments=attachments,
        headers=body.get("headers"),
        send_at=send_at,
        language=language.strip() if language else None,
        flags=flags,
    )
