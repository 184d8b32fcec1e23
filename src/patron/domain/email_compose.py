"""Turning a queued transactional email into the message to hand over: who may get it, the
Liquid rendering, tracking, and the MIME message (spec §7, §8, §9). Pure: the sender worker
reads what is needed and does the I/O."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from patron.domain import tracking
from patron.domain.attributes import parse_bool_flag
from patron.domain.definitions import OPTION_DEFAULTS, Topic, Transactional
from patron.domain.email_message import (
    EmailContent,
    decode_attachments,
    envelope_recipients,
    html_to_text,
    inline_css,
    message_bytes,
    parse_headers,
    with_preheader,
)
from patron.domain.liquid import MessageContext, Renderer, RenderError, TagUrls
from patron.domain.preferences import subscribed_to
from patron.domain.values import to_wire


@dataclass(frozen=True)
class Recipient:
    """The person a message is for, as the sender read them."""

    cio_id: str
    id: str | None
    email: str | None
    attributes: dict[str, Any]
    suppressed: bool = False

    def liquid(self) -> dict[str, Any]:
        """The ``customer`` namespace: attributes as the App API shows them (strings), objects
        and arrays kept whole so that ``customer.address.city`` works, and the identifiers."""
        values: dict[str, Any] = {
            k: v if isinstance(v, dict | list) else to_wire(v) for k, v in self.attributes.items()
        }
        values["cio_id"] = self.cio_id
        if self.id is not None:
            values["id"] = self.id
        if self.email is not None:
            values["email"] = self.email
        return values


@dataclass(frozen=True)
class Job:
    """Everything one email needs, read by the sender."""

    delivery_id: str
    payload: dict[str, Any]
    template: Transactional | None
    recipient: Recipient | None
    topic: Topic | None
    links_base: str
    secret: bytes
    default_from: str
    message_id_domain: str
    language: str | None = None


@dataclass(frozen=True)
class Refused:
    """Not sent: ``state`` is undeliverable (who may not get it) or failed (cannot render)."""

    state: str
    reason: str


@dataclass(frozen=True)
class Composed:
    """A message ready to hand over (its bytes, built once: what SMTP gets and the capture
    provider keeps), and what the delivery keeps of it."""

    raw: bytes
    sender: str
    recipients: list[str]
    subject: str
    content: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> EmailMessage:
        """The message parsed back from its bytes (for tools and tests)."""
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def _options(job: Job) -> dict[str, Any]:
    options = dict(OPTION_DEFAULTS)
    if job.template is not None:
        options.update(job.template.options)
    return options


def refusal(job: Job) -> Refused | None:
    """Why this person may not get this email, if they may not (spec §8.5's order)."""
    person = job.recipient
    if person is None:
        return None
    if person.suppressed:
        return Refused("undeliverable", "the person is suppressed")
    flags = job.payload.get("flags") or {}
    options = _options(job)
    to_unsubscribed = flags.get("send_to_unsubscribed", options["send_to_unsubscribed"])
    unsubscribed = person.attributes.get("unsubscribed")
    if unsubscribed is not None and not isinstance(unsubscribed, bool):
        unsubscribed = parse_bool_flag(unsubscribed) if isinstance(unsubscribed, str) else False
    if unsubscribed and not to_unsubscribed:
        return Refused("undeliverable", "the person is unsubscribed")
    if job.topic is not None and not subscribed_to(job.topic, person.attributes):
        return Refused(
            "undeliverable",
            f"the person is unsubscribed from topic {job.topic.id} ({job.topic.name})",
        )
    return None


def _fields(job: Job) -> dict[str, Any]:
    """The template's content for the language, under the request's overrides."""
    language = job.payload.get("language") or job.language
    content = job.template.variant(language) if job.template is not None else {}
    content.update(job.payload.get("overrides") or {})
    return content


def compose(job: Job, renderer: Renderer) -> Composed | Refused:
    """Render and build the email, or say why it is not sent."""
    refused = refusal(job)
    if refused is not None:
        return refused
    fields = _fields(job)
    base = job.links_base
    urls = TagUrls(
        unsubscribe_url=tracking.unsubscribe_url(base, job.delivery_id),
        manage_subscription_preferences_url=f"{base}/preferences/{job.delivery_id}",
        view_in_browser_url=f"{base}/view/{job.delivery_id}",
    )
    namespaces: dict[str, Any] = {
        "customer": job.recipient.liquid() if job.recipient else {"email": job.payload["to"]},
    }
    if "message_data" in job.payload:  # transactional: trigger.* is the request's data
        namespaces["trigger"] = job.payload["message_data"] or {}
    namespaces.update(job.payload.get("namespaces") or {})  # campaigns: event, journey, …
    context = MessageContext(
        namespaces=namespaces,
        delivery_id=job.delivery_id,
        urls=urls,
        subscription_topic_name=job.topic.name if job.topic else "",
    )
    try:
        rendered = {
            key: renderer.render(value, context)
            for key, value in fields.items()
            if isinstance(value, str)
        }
        to = renderer.render(job.payload["to"], context)
    except RenderError as exc:
        return Refused("failed", str(exc))
    flags = job.payload.get("flags") or {}
    options = _options(job)
    html = rendered.get("body", "")
    text = rendered.get("body_plain") or html_to_text(html)
    if not flags.get("disable_css_preprocessing", False):
        html = inline_css(html)
    if rendered.get("preheader"):
        html = with_preheader(html, rendered["preheader"])
    tracked = flags.get("tracked", True)
    if tracked and options.get("link_tracking", True):
        own = base + "/"  # Patron's own links (unsubscribe, preferences) go there directly

        def track(href: str, link_id: int) -> str:
            if href.startswith(own):
                return href
            return tracking.click_url(base, job.secret, job.delivery_id, href, link_id)

        html, _links = tracking.rewrite_links(html, track)
    if tracked and options.get("open_tracking", True):
        html = tracking.add_open_pixel(html, tracking.open_url(base, job.secret, job.delivery_id))
    try:
        headers = dict(parse_headers(fields["headers"])) if fields.get("headers") else {}
        headers.update(parse_headers(job.payload["headers"]) if job.payload.get("headers") else {})
        attachments = decode_attachments(job.payload.get("attachments") or {})
    except (ValueError, Exception) as exc:  # checked at request time; a template may differ
        return Refused("failed", f"the message cannot be built: {exc}")
    sender = rendered.get("from") or job.default_from
    message = EmailContent(
        from_=sender,
        to=to,
        subject=rendered.get("subject", ""),
        html=html,
        text=text,
        cc=rendered.get("cc", ""),
        bcc=rendered.get("bcc", ""),
        reply_to=rendered.get("reply_to", ""),
        headers=headers,
        attachments=attachments,
    )
    try:
        raw = message_bytes(
            message,
            delivery_id=job.delivery_id,
            message_id_domain=job.message_id_domain,
            list_unsubscribe_url=urls.unsubscribe_url,
        )
        recipients = envelope_recipients(message)
    except ValueError as exc:
        return Refused("failed", f"the message cannot be built: {exc}")
    content = {
        "from": sender,
        "to": to,
        "cc": message.cc,
        "bcc": message.bcc,
        "reply_to": message.reply_to,
        "subject": message.subject,
        "preheader_text": rendered.get("preheader", ""),
        "body": html,
        "body_plain": text,
        "headers": headers,
    }
    return Composed(raw, sender, recipients, message.subject, content)
