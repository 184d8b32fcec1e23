"""Signed open and click tracking links, and rewriting an email's HTML to use them
(Customer.io messaging spec §8.3).

A click link is ``{base}/e/c/{token}/{sig}``: ``token`` is unpadded base64url of the JSON
``{"email_id","href","link_id"}`` and ``sig`` the hex HMAC-SHA256 of the token under the
workspace secret. An open link is ``{base}/e/o/{token}/{sig}`` with ``{"email_id"}`` alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html as html_lib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.entities import html5 as _ENTITIES
from urllib.parse import quote

_CLICK_KEYS = frozenset({"email_id", "href", "link_id"})
_OPEN_KEYS = frozenset({"email_id"})
PIXEL_STYLE = (
    "height:1px !important;width:1px !important;border:0 !important;margin:0 !important;"
    "padding:0 !important;display:none !important"
)


@dataclass(frozen=True)
class ClickToken:
    """What a verified click link says: which delivery, which link, and where it goes."""

    delivery_id: str
    href: str
    link_id: int


@dataclass(frozen=True)
class TrackedLink:
    """One link ``rewrite_links`` replaced, numbered in document order from 1."""

    link_id: int
    href: str


def _sign(secret: bytes, token: str) -> str:
    return hmac.new(secret, token.encode("ascii"), hashlib.sha256).hexdigest()


def _encode(secret: bytes, payload: dict[str, object]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return f"{token}/{_sign(secret, token)}"


def _decode(secret: bytes, token: str, sig: str, keys: frozenset[str]) -> dict[str, object] | None:
    # compare_digest refuses non-ASCII str, so compare bytes; a forged sig must not raise.
    expected = _sign(secret, token) if token.isascii() else ""
    if not expected or not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    # Exact key sets keep an open token from passing as a click token and the reverse.
    if not isinstance(payload, dict) or payload.keys() != keys:
        return None
    return payload


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def click_url(base_url: str, secret: bytes, delivery_id: str, href: str, link_id: int) -> str:
    """The signed link that records a click on link ``link_id`` and redirects to ``href``."""
    payload: dict[str, object] = {"email_id": delivery_id, "href": href, "link_id": link_id}
    return f"{_base(base_url)}/e/c/{_encode(secret, payload)}"


def open_url(base_url: str, secret: bytes, delivery_id: str) -> str:
    """The signed address of the open-tracking pixel for one delivery."""
    return f"{_base(base_url)}/e/o/{_encode(secret, {'email_id': delivery_id})}"


def read_click(secret: bytes, token: str, sig: str) -> ClickToken | None:
    """The click a link names, or None when the token is tampered with or malformed."""
    payload = _decode(secret, token, sig, _CLICK_KEYS)
    if payload is None:
        return None
    delivery_id, href, link_id = payload["email_id"], payload["href"], payload["link_id"]
    if not (isinstance(delivery_id, str) and isinstance(href, str)):
        return None
    if not isinstance(link_id, int) or isinstance(link_id, bool):
        return None
    return ClickToken(delivery_id, href, link_id)


def read_open(secret: bytes, token: str, sig: str) -> str | None:
    """The delivery id an open pixel names, or None when tampered with or malformed."""
    payload = _decode(secret, token, sig, _OPEN_KEYS)
    if payload is None or not isinstance(payload["email_id"], str):
        return None
    return payload["email_id"]


def unsubscribe_url(base_url: str, delivery_id: str) -> str:
    """The unsubscribe page of a delivery (GET shows it, POST is RFC 8058 one-click)."""
    return f"{_base(base_url)}/unsubscribe/{quote(delivery_id, safe='=')}"


# --- rewriting links ---------------------------------------------------------------------

# Elements whose content is text, not markup: an <a> inside them is not a link.
_RAW_TEXT = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"}
)
_SPACE = " \t\n\r\f"
_TRACKED_SCHEME = re.compile(r"https?://", re.IGNORECASE | re.ASCII)
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z0-9]+;?)")


@dataclass
class _Attribute:
    name: str
    start: int  # the value's span in the document (start == end for a bare attribute)
    end: int
    quoted: bool


def _attribute_unescape(value: str) -> str:
    """Character references decoded as HTML does inside an attribute value: a named reference
    without ';' followed by '=' stays literal, so ``?a=1&not=2`` keeps its ``&not``."""

    def replace(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("#"):
            return html_lib.unescape(match.group(0))
        if ref.endswith(";"):
            return _ENTITIES.get(ref, match.group(0))
        following = value[match.end() : match.end() + 1]
        if ref in _ENTITIES and following != "=":
            return _ENTITIES[ref]
        return match.group(0)

    return _CHARREF.sub(replace, value)


def _scan_tag(doc: str, i: int) -> tuple[str, list[_Attribute], int] | None:
    """The start tag at ``doc[i] == '<'``: its lower-cased name, attributes and end index;
    None when the document ends inside the tag (browsers drop such a tag)."""
    n = len(doc)
    j = i + 1
    while j < n and doc[j] not in _SPACE and doc[j] not in "/>":
        j += 1
    name = doc[i + 1 : j].lower()
    attributes: list[_Attribute] = []
    while True:
        while j < n and (doc[j] in _SPACE or doc[j] == "/"):
            j += 1
        if j >= n:
            return None
        if doc[j] == ">":
            return name, attributes, j + 1
        k = j + 1  # the first character of a name may be '='
        while k < n and doc[k] not in _SPACE and doc[k] not in "/>=":
            k += 1
        attr_name = doc[j:k].lower()
        j = k
        while j < n and doc[j] in _SPACE:
            j += 1
        if j >= n or doc[j] != "=":
            attributes.append(_Attribute(attr_name, k, k, False))
            continue
        j += 1
        while j < n and doc[j] in _SPACE:
            j += 1
        if j < n and doc[j] in "\"'":
            close = doc.find(doc[j], j + 1)
            if close < 0:
                return None
            attributes.append(_Attribute(attr_name, j + 1, close, True))
            j = close + 1
        else:
            k = j
            while k < n and doc[k] not in _SPACE and doc[k] != ">":
                k += 1
            attributes.append(_Attribute(attr_name, j, k, False))
            j = k


def _skip_markup(doc: str, i: int) -> int:
    """Where the comment, declaration, processing instruction or end tag at ``i`` ends."""
    if doc.startswith("<!--", i):
        if doc.startswith(">", i + 4) or doc.startswith("->", i + 4):
            return doc.find(">", i + 4) + 1  # "<!-->" and "<!--->" close at once
        end = doc.find("-->", i + 4)
        return len(doc) if end < 0 else end + 3
    end = doc.find(">", i + 2)
    return len(doc) if end < 0 else end + 1


def _raw_text_end(doc: str, name: str, start: int) -> int:
    pattern = re.compile(rf"</{name}[{_SPACE}/>]", re.IGNORECASE | re.ASCII)
    match = pattern.search(doc, start)
    return len(doc) if match is None else match.start()


def _trackable(doc: str, attributes: list[_Attribute]) -> tuple[_Attribute, str] | None:
    """The href attribute of an <a> tag and its URL, when the link should be tracked."""
    seen: dict[str, _Attribute] = {}
    for attribute in attributes:
        seen.setdefault(attribute.name, attribute)  # HTML keeps the first of duplicates
    href = seen.get("href")
    if href is None:
        return None
    classes = seen.get("class")
    if classes is not None and "untracked" in doc[classes.start : classes.end].split():
        return None
    url = _attribute_unescape(doc[href.start : href.end]).strip(_SPACE)
    if not _TRACKED_SCHEME.match(url) or "{{" in url or "{%" in url:
        return None
    return href, url


def rewrite_links(html: str, rewrite: Callable[[str, int], str]) -> tuple[str, list[TrackedLink]]:
    """Replace each trackable ``<a href>`` with ``rewrite(url, link_id)``.

    Trackable: an http(s) URL without Liquid markup, on an ``<a>`` that is not
    ``class="untracked"``, outside comments and raw-text elements. Link ids count from 1
    in document order. Only the href values change; every other byte stays as it was, and a
    rewrite that returns the URL unchanged leaves its href untouched.
    """
    out: list[str] = []
    links: list[TrackedLink] = []
    copied = 0
    i = html.find("<")
    while 0 <= i < len(html) - 1:
        nxt = html[i + 1]
        if nxt in "!?/":
            i = _skip_markup(html, i)
        elif nxt.isascii() and nxt.isalpha():
            tag = _scan_tag(html, i)
            if tag is None:
                break
            name, attributes, i = tag
            if name in _RAW_TEXT:
                i = _raw_text_end(html, name, i)
            elif name == "a" and (found := _trackable(html, attributes)) is not None:
                href, url = found
                link_id = len(links) + 1
                links.append(TrackedLink(link_id, url))
                new = rewrite(url, link_id)
                if new != url:
                    escaped = html_lib.escape(new, quote=True)
                    out += [html[copied : href.start], escaped if href.quoted else f'"{escaped}"']
                    copied = href.end
        else:
            i += 1
        i = html.find("<", i)
    out.append(html[copied:])
    return "".join(out), links


_BODY_END = re.compile(r"</body[\s>/]", re.IGNORECASE | re.ASCII)


def add_open_pixel(html: str, pixel_url: str) -> str:
    """Append the hidden 1-pixel open-tracking image before the last ``</body>`` (or at the end)."""
    pixel = (
        f'<img src="{html_lib.escape(pixel_url, quote=True)}" width="1" height="1" '
        f'style="{PIXEL_STYLE}" alt=""/>'
    )
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + pixel
    at = ends[-1].start()
    return html[:at] + pixel + html[at:]
