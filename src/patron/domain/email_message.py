"""Building the MIME message of an email delivery, and checking what a send request may put in
it: attachments, custom headers and address lists (Customer.io messaging spec §2.1, §7.1, §8.3).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import mimetypes
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import _header_value_parser as _hvp
from email import policy as email_policy
from email.headerregistry import (
    Address,
    AddressHeader,
    BaseHeader,
    HeaderRegistry,
    UnstructuredHeader,
)
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from html.parser import HTMLParser
from typing import cast

import css_inline
import orjson

MAX_RECIPIENTS = 15  # across to, cc and bcc
MAX_ATTACHMENT_BYTES = 2_000_000  # decoded, all attachments together

# Executable and script types, after Gmail's list of blocked attachment types: a message
# carrying one would bounce at Gmail anyway. Compared case-insensitively with the last
# extension of the filename.
FORBIDDEN_EXTENSIONS = frozenset(
    {
        "ade", "adp", "apk", "app", "appx", "appxbundle", "bat", "cab", "chm", "cmd", "com",
        "command", "cpl", "diagcab", "diagcfg", "diagpack", "dll", "dmg", "ex", "ex_", "exe",
        "hta", "img", "ins", "iso", "isp", "jar", "jnlp", "js", "jse", "lib", "lnk", "mde",
        "msc", "msi", "msix", "msixbundle", "msp", "mst", "nsh", "pif", "pkg", "ps1", "reg",
        "scr", "sct", "sh", "shb", "sys", "vb", "vbe", "vbs", "vhd", "vxd", "wsc", "wsf",
        "wsh", "xll",
    }
)  # fmt: skip

# Headers Patron writes itself; a send request may not set or repeat them.
RESERVED_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "reply-to", "subject", "message-id", "date",
        "mime-version", "x-mailer", "x-cio-delivery-id",
    }
)  # fmt: skip
RESERVED_HEADER_PREFIXES = ("content-", "list-unsubscribe")

_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII but ':'
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_PRINTABLE = re.compile(r"[!-~]+")  # printable ASCII, no space
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls but tab
_MAX_LINE = 998  # RFC 5322 §2.1.1

# SMTP line endings; the caller may also flatten with aiosmtplib's own SMTP policy.
POLICY = email_policy.SMTP


class AttachmentError(Exception):
    """An attachment Customer.io would refuse, with its status and exact error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- attachments ---------------------------------------------------------------------------


def _not_base64(name: str) -> AttachmentError:
    return AttachmentError(400, f'Attachment must be base64 encoded: "{name}"\n')


def decode_attachments(
    raw: Mapping[str, object], *, max_total: int = MAX_ATTACHMENT_BYTES
) -> dict[str, bytes]:
    """Decode ``{"name.ext": "<base64>"}``; AttachmentError 400 on a value that is not strict
    base64 or a filename without an extension, 403 on a forbidden type, 413 when the decoded
    total exceeds ``max_total``."""
    decoded: dict[str, bytes] = {}
    total = 0
    for name, value in raw.items():
        stem, dot, extension = name.rpartition(".")
        if not (stem and dot and extension) or _CONTROL.search(name) or re.search(r"[/\\]", name):
            raise AttachmentError(
                400, f'Attachment filename must be a plain name with an extension: "{name}"\n'
            )
        if extension.lower() in FORBIDDEN_EXTENSIONS:
            raise AttachmentError(403, f"Forbidden file type {extension} for attachment {name}.")
        if not isinstance(value, str):
            raise _not_base64(name)
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _not_base64(name) from None
        total += len(data)
        if total > max_total:
            raise AttachmentError(413, "Total attachment size exceeds the limit")
        decoded[name] = data
    return decoded


# --- custom headers ------------------------------------------------------------------------


def check_header(name: str, value: str) -> None:
    """ValueError unless ``name: value`` is a header a send request may add."""
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"header name {name!r} is not a valid RFC 5322 field name")
    lowered = name.lower()
    if lowered in RESERVED_HEADERS or lowered.startswith(RESERVED_HEADER_PREFIXES):
        raise ValueError(f"header {name!r} is set by Patron and cannot be overridden")
    if _CONTROL.search(value):
        raise ValueError(f"header {name!r} has a line break or control character in its value")
    if len(name) + 2 + len(value) > _MAX_LINE:
        raise ValueError(f"header {name!r} is longer than {_MAX_LINE} characters")


_NOT_HEADERS = "headers must be an object or a JSON string of [{name, value}]"


def _header_value(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"header {name!r} must have a string value")


def parse_headers(raw: object) -> dict[str, str]:
    """Custom headers from a send request: an object ``{"X-Tag": "v"}``, or a JSON string of
    ``[{"name", "value"}]`` (or of an object). None means none. ValueError on anything else,
    on repeated names, and on what ``check_header`` refuses."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ValueError(_NOT_HEADERS) from None
    pairs: list[tuple[object, object]]
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = []
        for item in raw:
            if not isinstance(item, Mapping) or set(item) != {"name", "value"}:
                raise ValueError("each header must be an object with a name and a value")
            pairs.append((item["name"], item["value"]))
    else:
        raise ValueError(_NOT_HEADERS)
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if not isinstance(name, str):
            raise ValueError("header names must be strings")
        text = _header_value(name, value)
        check_header(name, text)
        if name.lower() in seen:
            raise ValueError(f"header {name!r} is given more than once")
        seen.add(name.lower())
        headers[name] = text
    return headers


# --- addresses -----------------------------------------------------------------------------

_REGISTRY = HeaderRegistry()


def _split_list(value: str) -> list[str]:
    """``value`` cut at the commas outside quotes, comments and angle brackets."""
    pieces: list[str] = []
    start = depth_angle = depth_paren = 0
    quoted = escaped = False
    for i, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            depth_paren += 1
        elif char == ")":
            depth_paren = max(0, depth_paren - 1)
        elif char == "<":
            depth_angle += 1
        elif char == ">":
            depth_angle = max(0, depth_angle - 1)
        elif char == "," and not depth_angle and not depth_paren:
            pieces.append(value[start:i])
            start = i + 1
    pieces.append(value[start:])
    return [piece.strip() for piece in pieces if piece.strip()]


# A bare dot-atom address with an ASCII host name: what the stdlib parser would make of it is
# known without running it (it is the costliest part of building a message).
_SIMPLE_ADDRESS = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


@functools.lru_cache(maxsize=4096)
def _parse_address(piece: str) -> Address:
    """One address; ValueError when invalid. Results are cached: a sender, and often the
    recipients, come back message after message (Address objects are immutable)."""
    simple = _SIMPLE_ADDRESS.fullmatch(piece)
    if simple is not None and "=?" not in piece:  # "=?" may start an encoded word
        return Address(username=simple[1], domain=simple[2])
    return _parse_address_fully(piece)


def _parse_address_fully(piece: str) -> Address:
    try:
        parsed = _REGISTRY("to", piece)
    except Exception:  # the stdlib parser raises IndexError and others on some bad input
        raise ValueError(f"invalid email address: {piece!r}") from None
    header = cast(AddressHeader, parsed)
    if parsed.defects or len(header.addresses) != 1:
        raise ValueError(f"invalid email address: {piece!r}")
    address = header.addresses[0]
    grouped = any(group.display_name is not None for group in header.groups)
    if grouped or not address.username or "." not in address.domain.strip("."):
        raise ValueError(f"invalid email address: {piece!r}")
    return address


def _addresses(value: str) -> list[Address]:
    value = re.sub(r"[\t\r\n]", " ", value)
    if _CONTROL.search(value):
        raise ValueError(f"invalid email address list: {value!r}")
    return [_parse_address(piece) for piece in _split_list(value)]


def split_addresses(value: str) -> list[str]:
    """The addresses of a comma-separated list (``'"Doe, Jane" <jane@x.com>, bob@y.com'``),
    each normalized; ValueError naming the first invalid one. A blank list gives []."""
    return [str(address) for address in _addresses(value)]


# --- HTML helpers --------------------------------------------------------------------------

_SKIPPED = frozenset({"head", "script", "style", "title", "template"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "hr"}
)
_BLOCK = frozenset(
    {
        "address", "article", "aside", "center", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "header", "main", "nav",
        "section", "summary", "tbody", "tfoot", "thead", "tr",
    }
)  # fmt: skip
_WHITESPACE = re.compile(r"\s+")


def _hidden(attrs: list[tuple[str, str | None]]) -> bool:
    style = next((value for name, value in attrs if name == "style"), None) or ""
    return "display:none" in re.sub(r"\s", "", style.lower())


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[tuple[str, int]] = []
        self.skip_tag: str | None = None  # inside this element, nothing is text
        self.skip_depth = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_tag == "head" and tag == "body":
            self.skip_tag = None  # a <head> left open ends where <body> starts
        if self.skip_tag is not None:
            self.skip_depth += tag == self.skip_tag
            return
        if tag in _SKIPPED or (tag not in _VOID and _hidden(attrs)):
            self.skip_tag, self.skip_depth = tag, 1
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self._break(1)
            self.parts.append("- ")
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)
        elif tag in ("td", "th"):
            self.parts.append(" ")
        if tag == "pre":
            self.pre += 1
        elif tag == "a":
            href = next((value for name, value in attrs if name == "href"), None) or ""
            self.links.append((href.strip(), len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = " ".join("".join(self.parts[start:]).split())
            bare = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
            if not href or href.startswith("#") or href.lower().startswith("javascript:"):
                return
            if text not in (href, bare):
                self.parts.append(f" ({href})" if text else href)

    def _break(self, count: int) -> None:
        """End the text so far with ``count`` line breaks, counting those already there."""
        trailing = 0
        for part in reversed(self.parts):
            text = part.rstrip(" ")
            content = text.rstrip("\n")
            trailing += len(text) - len(content)
            if content:
                break
        if self.parts and trailing < count:
            self.parts.append("\n" * (count - trailing))

    def handle_data(self, data: str) -> None:
        if self.skip_tag is None:
            self.parts.append(data if self.pre else _WHITESPACE.sub(" ", data))

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        # The stdlib raises AssertionError on "<![foo[": treat it as a bogus comment, as HTML does.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i)
            return -1 if end < 0 else end + 1


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML email: no head, scripts, styles or hidden elements;
    blocks and ``<br>`` become line breaks, list items "- ", links "text (url)" when the
    text is not the URL; whitespace collapsed and entities decoded."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r" {2,}", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# keep_at_rules keeps @media (and @font-face) rules in a <style> block for the clients that
# honour them, without repeating the rules already inlined as keep_style_tags would. Remote
# stylesheets are not fetched: rendering a template must not make Patron request arbitrary URLs.
_INLINER = css_inline.CSSInliner(
    keep_at_rules=True, keep_link_tags=True, load_remote_stylesheets=False
)


def inline_css(html: str) -> str:
    """The HTML with its ``<style>`` rules moved into ``style`` attributes (at-rules kept in a
    ``<style>``); the input unchanged when the inliner fails."""
    try:
        return _INLINER.inline(html)
    except Exception:  # css_inline.InlineError is missing from the package's type stubs
        return html


_BODY_START = re.compile(r"<body(?:[\s/][^>]*)?>", re.IGNORECASE | re.ASCII)
PREHEADER_STYLE = (
    "display:none !important;visibility:hidden;mso-hide:all;font-size:1px;line-height:1px;"
    "max-height:0;max-width:0;opacity:0;overflow:hidden;color:transparent"
)


def with_preheader(html: str, preheader: str) -> str:
    """The HTML with ``preheader`` (text, escaped) in a hidden span right after ``<body>``,
    or at the start when there is no body tag; unchanged for an empty preheader."""
    if not preheader:
        return html
    span = f'<span style="{PREHEADER_STYLE}">{escape(preheader, quote=False)}</span>'
    match = _BODY_START.search(html)
    at = 0 if match is None else match.end()
    return html[:at] + span + html[at:]


# --- the message ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailContent:
    """The rendered parts of one email."""

    from_: str
    to: str
    subject: str
    html: str
    text: str
    cc: str = ""
    bcc: str = ""
    reply_to: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    attachments: Mapping[str, bytes] = field(default_factory=dict)


class _NoEncodedWords(_hvp.UnstructuredTokenList):
    @property
    def as_ew_allowed(self) -> bool:
        return False


class _VerbatimHeader(UnstructuredHeader, BaseHeader):
    """An ASCII header folded only at its spaces. The stdlib turns a word longer than the line
    limit (a URL in List-Unsubscribe) into RFC 2047 encoded words, which breaks the URL for
    the mailbox providers that read it; this survives any policy that flattens the message."""

    @staticmethod
    def value_parser(value: str) -> _NoEncodedWords:
        return _NoEncodedWords(_hvp.get_unstructured(value))


def _set_header(message: EmailMessage, name: str, value: str) -> None:
    if value.isascii():
        message[name] = _VerbatimHeader(name, value)
    else:
        message[name] = value  # encoded words are the only way to carry non-ASCII


def _recipients(content: EmailContent) -> tuple[list[Address], list[Address], list[Address]]:
    to, cc, bcc = _addresses(content.to), _addresses(content.cc), _addresses(content.bcc)
    if not to:
        raise ValueError("an email needs at least one 'to' address")
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} recipients across to, cc and bcc")
    return to, cc, bcc


def _message_id(delivery_id: str, domain: str) -> str:
    if not _DOT_ATOM.fullmatch(domain):
        raise ValueError(f"invalid Message-ID domain: {domain!r}")
    # URL-safe base64 ('-', '_', '=') is all RFC 5322 atext, so a delivery id is a valid
    # id-left as it is; anything else is hashed into one.
    left = delivery_id
    if not _DOT_ATOM.fullmatch(delivery_id):
        left = hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
    return f"<{left}@{domain}>"


def build_message(
    content: EmailContent,
    *,
    delivery_id: str,
    message_id_domain: str,
    list_unsubscribe_url: str | None,
    now: float | None = None,
) -> EmailMessage:
    """The MIME message of one delivery: multipart/alternative (text, then HTML), inside
    multipart/mixed with the attachments. Bcc is left out: it belongs to the envelope only.
    ValueError on an invalid address, subject, header or id."""
    if not _PRINTABLE.fullmatch(delivery_id):
        raise ValueError(f"invalid delivery id: {delivery_id!r}")
    senders = _addresses(content.from_)
    if len(senders) != 1:
        raise ValueError("an email needs exactly one 'from' address")
    to, cc, _bcc = _recipients(content)
    reply_to = _addresses(content.reply_to)
    if _CONTROL.search(content.subject):
        raise ValueError("the subject has a line break or control character")
    for name, value in content.headers.items():
        check_header(name, value)

    message = EmailMessage(policy=POLICY)
    message["From"] = senders[0]
    message["To"] = to
    if cc:
        message["Cc"] = cc
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = content.subject
    message["Date"] = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    message["Message-ID"] = _message_id(delivery_id, message_id_domain)
    _set_header(message, "X-CIO-Delivery-ID", delivery_id)
    _set_header(message, "X-Mailer", f"Patron ({delivery_id})")
    if list_unsubscribe_url:
        if not _PRINTABLE.fullmatch(list_unsubscribe_url) or "<" in list_unsubscribe_url:
            raise ValueError(f"invalid List-Unsubscribe URL: {list_unsubscribe_url!r}")
        _set_header(message, "List-Unsubscribe", f"<{list_unsubscribe_url}>")
        _set_header(message, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    for name, value in content.headers.items():
        _set_header(message, name, value)

    message.set_content(content.text)
    if content.html:
        message.add_alternative(content.html, subtype="html")
    for filename, data in content.attachments.items():
        kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if kind.startswith("message/"):
            kind = "application/octet-stream"  # message/* parts may not be base64 (RFC 2046)
        maintype, subtype = kind.split("/", 1)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    # The stdlib gives each part it creates a MIME-Version of its own; only the top needs one.
    for part in message.walk():
        if part is not message:
            del part["MIME-Version"]
    return message


def envelope_recipients(content: EmailContent) -> list[str]:
    """The bare addresses of to, cc and bcc for the SMTP envelope: duplicates (ignoring case)
    dropped, order kept."""
    seen: set[str] = set()
    bare: list[str] = []
    for address in (address for group in _recipients(content) for address in group):
        if address.addr_spec.lower() not in seen:
            seen.add(address.addr_spec.lower())
            bare.append(address.addr_spec)
    return bare


# --- the message as bytes, built directly ----------------------------------------------------
#
# ``build_message`` goes through the stdlib's ``EmailMessage`` with the ``default`` policy,
# which parses every header it is given and again on flattening: most of the CPU of a send
# (docs/benchmarks.md). ``message_bytes`` writes the same message straight to bytes: headers
# that were already validated are written as they are (ASCII folded at its spaces, anything
# else as RFC 2047 encoded words), bodies as 7bit, quoted-printable or base64. What it cannot
# write simply (a non-ASCII address, an odd attachment name, an overlong line) goes through
# ``build_message`` instead, so that the result is always a valid message.

_LINE = 78  # RFC 5322's recommended limit, as the stdlib folds
_CRLF = "\r\n"


class _NotSimple(Exception):
    """This message needs the stdlib's general machinery."""


def _fold(name: str, value: str) -> str:
    """``name: value`` for an ASCII value without line breaks, folded before its spaces or
    tabs so that lines stay within 78 characters where it can (URLs are never cut)."""
    line = f"{name}: {value}"
    if len(line) <= _LINE:
        return line
    stripped = value.rstrip(" \t")
    trailing = value[len(stripped) :]
    tokens = re.findall(r"[ \t]*[^ \t]+", " " + stripped.lstrip(" \t"))
    lines: list[str] = []
    current = f"{name}:"
    for token in tokens:  # each token starts with its space: no line is blank
        if len(current) + len(token) > _LINE:
            lines.append(current)
            current = token
        else:
            current += token
    lines.append(current + trailing)
    if any(len(piece) > _MAX_LINE for piece in lines):
        raise _NotSimple
    return _CRLF.join(lines)


def _encoded(text: str, name: str = "") -> str:
    """``text`` as RFC 2047 encoded words (UTF-8, base64), folded between words, each line
    within 76 characters (RFC 2047 §2). A character is never split across words."""
    words: list[str] = []
    budget = 76 - len(name) - 2 if name else 60  # the first line holds "Name: "
    chunk = bytearray()
    for char in text:
        data = char.encode("utf-8", "surrogateescape")
        # "=?utf-8?b?" + base64 + "?=": 12 characters and 4 for each 3 bytes (rounded up).
        if chunk and 12 + 4 * -(-(len(chunk) + len(data)) // 3) > budget:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
            chunk.clear()
            budget = 75  # later lines start with a space
        chunk += data
    words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
    return "\r\n ".join(words)


def _text_header(name: str, value: str) -> str:
    """An unstructured header (Subject, custom headers): ASCII as it is, folded; anything
    else, or ASCII that a reader would take for encoded words, encoded."""
    if value.isascii() and "=?" not in value:
        return _fold(name, value)
    return f"{name}: {_encoded(value, name)}"


def _verbatim(name: str, value: str) -> str:
    """A header that must reach the reader exactly as written (List-Unsubscribe): never
    encoded; folded only at its spaces."""
    return _fold(name, value)


def _format_address(address: Address) -> str:
    spec = address.addr_spec
    if not spec.isascii():
        # Only the domain can be (the parser refuses a non-ASCII local part): its IDNA form.
        try:
            domain = address.domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise _NotSimple from None
        ascii_address = Address(address.display_name, address.username, domain)
        spec = ascii_address.addr_spec
        if not spec.isascii():
            raise _NotSimple
        address = ascii_address
    name = address.display_name
    if not name:
        return spec
    if name.isascii() and "=?" not in name:
        return str(address)  # quotes the name when it holds specials
    return f"{_encoded(name)} <{spec}>"


def _address_header(name: str, addresses: list[Address]) -> str:
    formatted = [_format_address(a) for a in addresses]
    line = f"{name}: {', '.join(formatted)}"
    if len(line) <= _LINE:
        return line
    lines = [f"{name}: {formatted[0]}"]
    for piece in formatted[1:]:
        if len(lines[-1]) + 2 + len(piece) > _LINE:
            lines[-1] += ","
            lines.append(f" {piece}")
        else:
            lines[-1] += f", {piece}"
    if any(len(line) > _MAX_LINE for piece in lines for line in piece.split(_CRLF)):
        raise _NotSimple
    return _CRLF.join(lines)


def _body(text: str) -> tuple[str, bytes]:
    """``text`` (any line endings) as a body with CRLF line ends: its transfer encoding and
    bytes. ASCII with lines within the limit goes as it is; mostly-ASCII text as
    quoted-printable; the rest as base64."""
    data = text.encode("utf-8", "surrogateescape")
    lines = data.splitlines()
    if data.isascii() and all(len(line) <= _MAX_LINE for line in lines):
        return "7bit", b"\r\n".join(lines) + b"\r\n"
    joined = b"\n".join(lines) + b"\n"
    non_ascii = len(joined) - len(joined.decode("ascii", "ignore"))
    if non_ascii * 4 > len(joined):  # QP would grow it by more than base64's third
        crlf = b"\r\n".join(lines) + b"\r\n"  # decoded, it has SMTP's line ends too
        return "base64", base64.encodebytes(crlf).replace(b"\n", b"\r\n")
    return "quoted-printable", binascii.b2a_qp(joined, istext=True).replace(b"\n", b"\r\n")


def _text_part(subtype: str, text: str) -> tuple[list[str], bytes]:
    encoding, body = _body(text)
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
    ], body


_PLAIN_FILENAME = re.compile(r"[ !#-\[\]-~]+")  # printable ASCII but '"' and '\'


def _attachment_part(filename: str, data: bytes) -> tuple[list[str], bytes]:
    if not _PLAIN_FILENAME.fullmatch(filename) or len(filename) > 60:
        raise _NotSimple  # RFC 2231 parameters: the stdlib's
    kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if kind.startswith("message/"):
        kind = "application/octet-stream"  # message/* parts may not be base64 (RFC 2046)
    return [
        f"Content-Type: {kind}",
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{filename}"',
    ], base64.encodebytes(data).replace(b"\n", b"\r\n")


def _multipart(subtype: str, parts: list[tuple[list[str], bytes]]) -> tuple[list[str], bytes]:
    while True:
        # Unique enough without a system call: the parts are checked for it below.
        boundary = f"=_{random.getrandbits(96):024x}"
        marker = boundary.encode()
        if not any(marker in body for _, body in parts):
            break
    chunks: list[bytes] = []
    # The CRLF before a delimiter belongs to it (RFC 2046): a body keeps its own last CRLF.
    for n, (headers, body) in enumerate(parts):
        start = b"--" if n == 0 else b"\r\n--"
        chunks.append(start + marker + b"\r\n" + _CRLF.join(headers).encode() + b"\r\n\r\n")
        chunks.append(body)
    chunks.append(b"\r\n--" + marker + b"--\r\n")
    return [f'Content-Type: multipart/{subtype}; boundary="{boundary}"'], b"".join(chunks)


def message_bytes(
    content: EmailContent,
    *,
    delivery_id: str,
    message_id_domain: str,
    list_unsubscribe_url: str | None,
    now: float | None = None,
) -> bytes:
    """The same message as :func:`build_message`, as the bytes to hand to SMTP (CRLF line
    ends, ASCII only), built without the stdlib's header parsing. ValueError as
    :func:`build_message`."""
    if not _PRINTABLE.fullmatch(delivery_id):
        raise ValueError(f"invalid delivery id: {delivery_id!r}")
    senders = _addresses(content.from_)
    if len(senders) != 1:
        raise ValueError("an email needs exactly one 'from' address")
    to, cc, _bcc = _recipients(content)
    reply_to = _addresses(content.reply_to)
    if _CONTROL.search(content.subject):
        raise ValueError("the subject has a line break or control character")
    for name, value in content.headers.items():
        check_header(name, value)
    if list_unsubscribe_url and (
        not _PRINTABLE.fullmatch(list_unsubscribe_url) or "<" in list_unsubscribe_url
    ):
        raise ValueError(f"invalid List-Unsubscribe URL: {list_unsubscribe_url!r}")
    message_id = _message_id(delivery_id, message_id_domain)
    try:
        return _message_bytes(content, senders[0], to, cc, reply_to, delivery_id, message_id,
                              list_unsubscribe_url, now)  # fmt: skip
    except _NotSimple:
        message = build_message(
            content,
            delivery_id=delivery_id,
            message_id_domain=message_id_domain,
            list_unsubscribe_url=list_unsubscribe_url,
            now=now,
        )
        return message.as_bytes(policy=POLICY)


def _message_bytes(
    content: EmailContent,
    sender: Address,
    to: list[Address],
    cc: list[Address],
    reply_to: list[Address],
    delivery_id: str,
    message_id: str,
    list_unsubscribe_url: str | None,
    now: float | None,
) -> bytes:
    headers = [_address_header("From", [sender]), _address_header("To", to)]
    if cc:
        headers.append(_address_header("Cc", cc))
    if reply_to:
        headers.append(_address_header("Reply-To", reply_to))
    headers.append(_text_header("Subject", content.subject))
    when = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    headers.append(f"Date: {format_datetime(when)}")
    headers.append(f"Message-ID: {message_id}")
    headers.append(_verbatim("X-CIO-Delivery-ID", delivery_id))
    headers.append(_verbatim("X-Mailer", f"Patron ({delivery_id})"))
    if list_unsubscribe_url:
        headers.append(_verbatim("List-Unsubscribe", f"<{list_unsubscribe_url}>"))
        headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    for name, value in content.headers.items():
        headers.append(_text_header(name, value))
    headers.append("MIME-Version: 1.0")

    part = _text_part("plain", content.text)
    if content.html:
        part = _multipart("alternative", [part, _text_part("html", content.html)])
    if content.attachments:
        files = [_attachment_part(name, data) for name, data in content.attachments.items()]
        part = _multipart("mixed", [part, *files])
    part_headers, body = part
    headers.extend(part_headers)
    return (_CRLF.join(headers) + "\r\n\r\n").encode("ascii") + body
