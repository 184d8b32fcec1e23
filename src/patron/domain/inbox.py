"""Reading captured messages for the dev inbox: the MIME source, parsed with the standard
library (``email.policy.default``), into what a test wants to look at."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from patron.domain import tracking

SNIPPET_CHARS = 200
_SPACE = re.compile(r"\s+")
_CLICK_PATH = re.compile(r"/e/c/([^/]+)/([^/?#]+)/?$")


def parse(raw: bytes) -> EmailMessage:
    """A captured message's source as a message object."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser cannot read
        return None
    return None if value is None else str(value)


def addresses(message: EmailMessage, name: str) -> list[str]:
    """The bare addresses of an address header (``To``, ``Cc``, ``From``)."""
    value = _header(message, name)
    if not value:
        return []
    return [address for _, address in getaddresses([value]) if address]


def _part(message: EmailMessage, subtype: str) -> str:
    try:
        body = message.get_body(preferencelist=(subtype,))
        if body is None:
            return ""
        content = body.get_content()
    except (KeyError, LookupError, ValueError):
        return ""
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def text_of(message: EmailMessage) -> str:
    """The text/plain part (empty when there is none)."""
    return _part(message, "plain")


def html_of(message: EmailMessage) -> str:
    """The text/html part (empty when there is none)."""
    return _part(message, "html")


def snippet(message: EmailMessage) -> str:
    """The start of the text part, whitespace collapsed (the HTML, stripped, without one)."""
    text = text_of(message)
    if not text:
        text = re.sub(r"<[^>]*>", " ", html_of(message))
    return _SPACE.sub(" ", text).strip()[:SNIPPET_CHARS]


def matches_text(message: EmailMessage, needle: str) -> bool:
    """Whether ``needle`` appears (case-insensitively) in the text or the HTML part."""
    lowered = needle.lower()
    return lowered in text_of(message).lower() or lowered in html_of(message).lower()


def headers(message: EmailMessage) -> list[list[str]]:
    """Every header as ``[name, value]``, in order (values decoded)."""
    out: list[list[str]] = []
    for name, raw in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(name, raw))
        except (ValueError, IndexError, TypeError):  # keep what the parser cannot read as is
            value = str(raw)
        out.append([name, value])
    return out


def attachments(message: EmailMessage) -> list[dict[str, Any]]:
    """The attachments: file name, content type and decoded size in bytes."""
    found = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        found.append(
            {
                "name": part.get_filename(),
                "content_type": part.get_content_type(),
                "size": len(payload) if isinstance(payload, bytes) else 0,
            }
        )
    return found


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("a", "area"):
            for name, value in attrs:
                if name == "href" and value is not None:
                    self.hrefs.append(value.strip())
                    break


def hrefs(html: str) -> list[str]:
    """Every link (``<a href>``, ``<area href>``) of an HTML document, in order."""
    parser = _Hrefs()
    parser.feed(html)
    parser.close()
    return parser.hrefs


def link_view(href: str, secret: bytes) -> dict[str, Any]:
    """A link as the inbox shows it: whether it is a Patron tracking link that verifies under
    the workspace's secret and, when it is, the URL it redirects to."""
    match = _CLICK_PATH.search(urlsplit(href).path) if href else None
    click = None if match is None else tracking.read_click(secret, match.group(1), match.group(2))
    return {
        "href": href,
        "tracked": click is not None,
        "url": None if click is None else click.href,
        "link_id": None if click is None else click.link_id,
    }
