"""Building email messages: attachments, headers, addresses, text, and a real SMTP hand-off."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from hypothesis import given
from hypothesis import strategies as st

from patron.domain import email_message
from patron.domain.email_message import (
    PREHEADER_STYLE,
    AttachmentError,
    EmailContent,
    build_message,
    decode_attachments,
    envelope_recipients,
    html_to_text,
    inline_css,
    message_bytes,
    parse_headers,
    split_addresses,
    with_preheader,
)

DELIVERY = "dgTtyQgDAPLgG_HgGwGOxfL85m7e5FIYG3FKrkE="
UNSUBSCRIBE = f"https://track.patron.example/unsubscribe/{DELIVERY}"
PDF = b"%PDF-1.4\n\x00\xff binary"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- attachments ---------------------------------------------------------------------------


def test_attachments_decode() -> None:
    assert decode_attachments({"r.pdf": _b64(PDF), "notes.TXT": _b64(b"hi"), "e.txt": ""}) == {
        "r.pdf": PDF,
        "notes.TXT": b"hi",
        "e.txt": b"",
    }


@pytest.mark.parametrize(
    "value", ["not base64!", "aGk", "aGk=\n", "aG k=", "aGk=aGk=", "w7w=é", 42, None]
)
def test_attachment_not_base64_is_400(value: object) -> None:
    with pytest.raises(AttachmentError) as caught:
        decode_attachments({"file.xyz": _b64(b"ok"), "filename.xyz": value})
    assert caught.value.status == 400
    assert caught.value.message == 'Attachment must be base64 encoded: "filename.xyz"\n'
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize("name", ["noextension", "trailingdot.", ".pdf", "dir/a.pdf", "a\nb.pdf"])
def test_attachment_name_needs_an_extension(name: str) -> None:
    with pytest.raises(AttachmentError) as caught:
        decode_attachments({name: _b64(b"x")})
    assert caught.value.status == 400
    assert caught.value.message == (
        f'Attachment filename must be a plain name with an extension: "{name}"\n'
    )


@pytest.mark.parametrize(
    ("name", "extension"),
    [("filename.exe", "exe"), ("Setup.EXE", "EXE"), ("a.pdf.js", "js"), ("x.ps1", "ps1")],
)
def test_forbidden_attachment_type_is_403(name: str, extension: str) -> None:
    with pytest.raises(AttachmentError) as caught:
        decode_attachments({name: _b64(b"MZ")})
    assert caught.value.status == 403
    assert caught.value.message == f"Forbidden file type {extension} for attachment {name}."


def test_attachments_over_the_total_are_413() -> None:
    assert len(decode_attachments({"a.bin": _b64(b"x" * 6), "b.bin": _b64(b"y" * 4)}, max_total=10))
    with pytest.raises(AttachmentError) as caught:
        decode_attachments({"a.bin": _b64(b"x" * 6), "b.bin": _b64(b"y" * 5)}, max_total=10)
    assert (caught.value.status, caught.value.message) == (
        413,
        "Total attachment size exceeds the limit",
    )
    with pytest.raises(AttachmentError, match="size exceeds"):
        decode_attachments({"big.pdf": _b64(b"\0" * 2_000_001)})


# --- headers -------------------------------------------------------------------------------


def test_headers_in_both_encodings() -> None:
    expected = {"X-Mailgun-Tag": "welcome", "X-Priority": "1"}
    assert parse_headers({"X-Mailgun-Tag": "welcome", "X-Priority": 1}) == expected
    listed = '[{"name":"X-Mailgun-Tag","value":"welcome"},{"name":"X-Priority","value":"1"}]'
    assert parse_headers(listed) == expected
    assert parse_headers('{"X-Mailgun-Tag":"welcome","X-Priority":"1"}') == expected
    assert parse_headers(None) == {}
    assert parse_headers("[]") == {}
    assert parse_headers({"X-Uni": "héllo\tthere"}) == {"X-Uni": "héllo\tthere"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "must be an object or a JSON string"),
        (42, "must be an object or a JSON string"),
        ('"a string"', "must be an object or a JSON string"),
        ('[{"name":"X-A"}]', "with a name and a value"),
        ('[["X-A","v"]]', "with a name and a value"),
        ({"X-A": True}, "must have a string value"),
        ({"X-A": ["v"]}, "must have a string value"),
        ({"X-A": "v\r\nBcc: victim@example.com"}, "line break"),
        ({"X-A": "v\nX-B: w"}, "line break"),
        ({"X-A": "v\x00"}, "control character"),
        ({"X Tag": "v"}, "not a valid RFC 5322 field name"),
        ({"X:Tag": "v"}, "not a valid RFC 5322 field name"),
        ({"X-Tâg": "v"}, "not a valid RFC 5322 field name"),
        ({"": "v"}, "not a valid RFC 5322 field name"),
        ({"X-A": "v" * 995}, "longer than 998"),
        ('[{"name":"X-A","value":"1"},{"name":"x-a","value":"2"}]', "more than once"),
    ],
)
def test_bad_headers_are_refused(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_headers(raw)


@pytest.mark.parametrize(
    "name",
    [
        "From", "to", "CC", "Bcc", "Reply-To", "Subject", "Message-ID", "date", "MIME-Version",
        "Content-Type", "content-transfer-encoding", "List-Unsubscribe",
        "List-Unsubscribe-Post", "X-CIO-Delivery-ID", "X-Mailer",
    ],
)  # fmt: skip
def test_reserved_headers_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="set by Patron"):
        parse_headers({name: "v"})


# --- addresses -----------------------------------------------------------------------------


def test_split_addresses() -> None:
    assert split_addresses('"Doe, Jane" <jane@x.com>, bob@y.com') == [
        '"Doe, Jane" <jane@x.com>',
        "bob@y.com",
    ]
    assert split_addresses("José Núñez <jose@x.com>,\n<ann@x.com>,") == [
        "José Núñez <jose@x.com>",
        "ann@x.com",
    ]
    assert split_addresses("   ") == []


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ("ok@x.com, bob", "bob"),
        ("bob@, ok@x.com", "bob@"),
        ("@x.com", "@x.com"),
        ("a@b@c.com", "a@b@c.com"),
        ("Jane <jane@x.com", "Jane <jane@x.com"),
        ("a@localhost", "a@localhost"),
        ("group: a@x.com;", "group: a@x.com;"),
        ("a@x.com\r\nBcc: victim@y.com", "a@x.com  Bcc: victim@y.com"),
    ],
)
def test_invalid_address_is_named(value: str, bad: str) -> None:
    with pytest.raises(ValueError) as caught:
        split_addresses(value)
    assert str(caught.value) == f"invalid email address: {bad!r}"


@given(
    st.lists(
        st.sampled_from(['"', "<", ">", "@", ",", "(", ")", ":", ";", "\\", ".", "a", "x.com", " "])
        | st.text(max_size=3),
        max_size=20,
    ).map("".join)
)
def test_split_addresses_fails_only_with_value_error(value: str) -> None:
    try:
        addresses = split_addresses(value)
    except ValueError:
        return
    assert all("@" in address for address in addresses)


# --- HTML helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello&nbsp;<b>world</b> &amp; co.</p><p>Bye</p>", "Hello world & co.\n\nBye"),
        (
            "<html><head><title>T</title><style>p{color:red}</style></head>"
            "<body><script>alert(1)</script><h1>Title</h1>line1<br>line2<br/>x</body></html>",
            "Title\n\nline1\nline2\nx",
        ),
        ("<ul>\n<li>one</li>\n<li>two <i>2</i></li></ul>after", "- one\n- two 2\n\nafter"),
        ('<a href="https://x.com/a">Shop now</a>', "Shop now (https://x.com/a)"),
        ('<a href="https://x.com/a"> https://x.com/a </a>', "https://x.com/a"),
        ('<a href="mailto:help@x.com">help@x.com</a>', "help@x.com"),
        (
            '<a href="#top">Top</a> <a href="https://x.com"><img src="logo.png"></a>',
            "Top https://x.com",
        ),
        ('<span style="display: NONE">preheader</span><div>Body</div>', "Body"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("  spaced \n\n  out\t text  ", "spaced out text"),
        ("<div><div><div>deep</div></div></div>\n\n\n<p>x</p>", "deep\n\nx"),
        ("<!-- hidden --><![if !mso]>v<![endif]><![foo[ bar]> ok", "v ok"),
        ("&lt;not a tag&gt; &#233;&eacute;", "<not a tag> éé"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


@given(
    st.lists(
        st.sampled_from(
            ["<p>", "</p>", "<a href='", "'>", "</a>", "<![", "foo[", "<!--", "<li>", "<br>",
             "<style>", "<head>", "</head>", "<body>", "&amp", "&#x", ";", "<", ">", "]"]
        )
        | st.text(max_size=4),
        max_size=40,
    ).map("".join)
)  # fmt: skip
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)


def test_inline_css_keeps_media_queries_and_fetches_nothing() -> None:
    html = (
        '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
        "<style>p{color:red} @media (max-width:600px){p{color:blue}}</style></head>"
        "<body><p>hi</p></body></html>"
    )
    # Were the stylesheet fetched, the refused connection would fail the inliner and
    # leave the input as it was.
    assert inline_css(html) == (
        "<html><head><style>@media (max-width:600px){p{color:blue}} </style>"
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head>'
        '<body><p style="color: red;">hi</p></body></html>'
    )
    assert "color: ;" in inline_css("<style>p{color:</style><p>x</p>")


def test_with_preheader() -> None:
    span = f'<span style="{PREHEADER_STYLE}">Sale &lt;today&gt; &amp; more</span>'
    assert with_preheader('<html><BODY class="x"><p>a</p>', "Sale <today> & more") == (
        f'<html><BODY class="x">{span}<p>a</p>'
    )
    assert with_preheader("<p>a</p>", "Sale <today> & more") == f"{span}<p>a</p>"
    assert with_preheader("<body><p>a</p>", "") == "<body><p>a</p>"
    assert html_to_text(with_preheader("<body><p>a</p>", "pre")) == "a"


# --- the message ---------------------------------------------------------------------------


def _content(**changes: Any) -> EmailContent:
    fields: dict[str, Any] = {
        "from_": '"Équipe Patron" <team@patron.example>',
        "to": '"Doe, Jane" <jane@x.com>, bob@y.com',
        "cc": "Zoë Ünal <zoe@z.com>",
        "bcc": "hidden@b.com, JANE@x.com",
        "reply_to": "help@patron.example",
        "subject": "Bonjour — ça va? " + "x" * 70,
        "html": "<html><body><p>Hi Jane</p></body></html>",
        "text": "Hi Jane",
        "headers": {"X-Mailgun-Tag": "welcome", "X-Note": "héllo"},
        "attachments": {"report.pdf": PDF, "notes.txt": "ü\n".encode()},
    }
    fields.update(changes)
    return EmailContent(**fields)


def _build(content: EmailContent, url: str | None = UNSUBSCRIBE) -> EmailMessage:
    return build_message(
        content,
        delivery_id=DELIVERY,
        message_id_domain="mail.patron.example",
        list_unsubscribe_url=url,
        now=1712718146.5,
    )


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_build_message_round_trip() -> None:
    raw = _build(_content()).as_bytes()
    assert raw.isascii()
    assert b"\r\n" in raw
    parsed = _parse(raw)
    assert [
        (name, str(value).strip())
        for name, value in parsed.items()
        if name not in ("Content-Type",)
    ] == [
        ("From", "Équipe Patron <team@patron.example>"),
        ("To", '"Doe, Jane" <jane@x.com>, bob@y.com'),
        ("Cc", "Zoë Ünal <zoe@z.com>"),
        ("Reply-To", "help@patron.example"),
        ("Subject", "Bonjour — ça va? " + "x" * 70),
        ("Date", "Wed, 10 Apr 2024 03:02:26 +0000"),
        ("Message-ID", f"<{DELIVERY}@mail.patron.example>"),
        ("X-CIO-Delivery-ID", DELIVERY),
        ("X-Mailer", f"Patron ({DELIVERY})"),
        ("List-Unsubscribe", f"<{UNSUBSCRIBE}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("X-Mailgun-Tag", "welcome"),
        ("X-Note", "héllo"),
        ("MIME-Version", "1.0"),
    ]
    assert "Bcc" not in parsed
    assert parsed["Message-ID"].defects == ()
    assert parsed["From"].addresses[0].display_name == "Équipe Patron"
    assert parsed["To"].addresses[0].display_name == "Doe, Jane"
    # Long URLs are folded, never turned into encoded words.
    assert f"\r\n <{UNSUBSCRIBE}>\r\n".encode() in raw
    assert b"=?utf-8?" in raw.split(b"\r\nSubject:")[1].split(b"\r\nDate:")[0]

    assert parsed.get_content_type() == "multipart/mixed"
    alternative, pdf, notes = parsed.iter_parts()
    assert isinstance(alternative, EmailMessage)
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = alternative.iter_parts()
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    assert (text.get_content_type(), text.get_content()) == ("text/plain", "Hi Jane\r\n")
    assert (html.get_content_type(), html.get_content()) == (
        "text/html",
        "<html><body><p>Hi Jane</p></body></html>\r\n",
    )
    for part, name, kind, data in (
        (pdf, "report.pdf", "application/pdf", PDF),
        (notes, "notes.txt", "text/plain", "ü\n".encode()),
    ):
        assert isinstance(part, EmailMessage)
        assert (part.get_filename(), part.get_content_type()) == (name, kind)
        assert part.get_content_disposition() == "attachment"
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_payload(decode=True) == data
        assert "MIME-Version" not in part


def test_build_message_without_attachments_or_unsubscribe() -> None:
    parsed = _parse(_build(_content(attachments={}, cc="", reply_to=""), url=None).as_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    for absent in ("Cc", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert absent not in parsed
    text_only = _parse(_build(_content(attachments={}, html="")).as_bytes())
    assert text_only.get_content_type() == "text/plain"
    assert text_only.get_content() == "Hi Jane\r\n"  # SMTP line ends


def test_message_id_from_unusual_delivery_ids() -> None:
    message = build_message(
        _content(),
        delivery_id="a<b>@c",
        message_id_domain="mail.patron.example",
        list_unsubscribe_url=None,
    )
    parsed = _parse(message.as_bytes())
    hashed = hashlib.sha256(b"a<b>@c").hexdigest()[:32]
    assert parsed["Message-ID"] == f"<{hashed}@mail.patron.example>"
    assert parsed["Message-ID"].defects == ()
    for bad in ("has space", "line\nbreak", ""):
        with pytest.raises(ValueError, match="invalid delivery id"):
            build_message(
                _content(), delivery_id=bad, message_id_domain="x.com", list_unsubscribe_url=None
            )
    with pytest.raises(ValueError, match="Message-ID domain"):
        build_message(
            _content(), delivery_id=DELIVERY, message_id_domain="a b", list_unsubscribe_url=None
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"from_": "a@x.com, b@x.com"}, "exactly one 'from'"),
        ({"from_": ""}, "exactly one 'from'"),
        ({"to": ""}, "at least one 'to'"),
        ({"to": "nope"}, "invalid email address: 'nope'"),
        ({"subject": "Hi\r\nBcc: victim@y.com"}, "subject"),
        ({"headers": {"Bcc": "victim@y.com"}}, "set by Patron"),
        ({"headers": {"X-A": "v\r\nBcc: victim@y.com"}}, "line break"),
        (
            {"to": ", ".join(f"u{i}@x.com" for i in range(10)), "cc": "a@x.com, b@x.com"},
            "at most 15 recipients",
        ),
    ],
)
def test_build_message_refuses(changes: dict[str, Any], message: str) -> None:
    content = _content(bcc="c@x.com, d@x.com, e@x.com, f@x.com", **changes)
    with pytest.raises(ValueError, match=message):
        _build(content)


def test_envelope_recipients() -> None:
    assert envelope_recipients(_content()) == [
        "jane@x.com",
        "bob@y.com",
        "zoe@z.com",
        "hidden@b.com",
    ]
    fifteen = ", ".join(f"u{i}@x.com" for i in range(15))
    assert len(envelope_recipients(_content(to=fifteen, cc="", bcc=""))) == 15
    with pytest.raises(ValueError, match="at most 15"):
        envelope_recipients(_content(to=fifteen, cc="", bcc="one@more.com"))


# --- the message as bytes, built directly --------------------------------------------------


def _bytes(content: EmailContent, url: str | None = UNSUBSCRIBE) -> bytes:
    return message_bytes(
        content,
        delivery_id=DELIVERY,
        message_id_domain="mail.patron.example",
        list_unsubscribe_url=url,
        now=1712718146.5,
    )


def _described(message: EmailMessage) -> list[tuple[Any, ...]]:
    """Every part: its headers as read back (in any order; boundaries and transfer encodings
    left out: the stdlib sends short non-ASCII text as 8bit, message_bytes never does) and its
    decoded content."""
    parts: list[tuple[Any, ...]] = []
    for part in message.walk():
        skipped = ("Content-Type", "Content-Transfer-Encoding")
        headers = sorted((k, str(v)) for k, v in part.items() if k not in skipped)
        params = sorted((k, v) for k, v in part["Content-Type"].params.items() if k != "boundary")
        decoded = None if part.is_multipart() else part.get_payload(decode=True)
        parts.append((part.get_content_type(), params, headers, decoded))
    return parts


_NON_ASCII_HTML = "<p>" + "Grüße aus Köln, " * 20 + "</p>\n.\nend  \n"
_LONG_LINE_HTML = "<table><tr>" + '<td style="padding:4px 8px">x</td>' * 60 + "</tr></table>"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"attachments": {}, "cc": "", "reply_to": ""},
        {"attachments": {}, "html": ""},
        {"html": _NON_ASCII_HTML, "text": "Grüße\r\nline\rtwo"},
        {"html": "<p>" + "日本語のテキスト" * 40 + "</p>", "subject": "日本語" * 30},
        {"html": _LONG_LINE_HTML, "subject": "plain " * 30},
        {"from_": "Shop <orders@shop.example>", "to": "a@x.com", "cc": "", "bcc": ""},
        {"to": ", ".join(f"Person Number {i} <p{i}@example.com>" for i in range(8))},
        {"attachments": {"rapport été.pdf": PDF}},
        {"headers": {"X-Long": "word " * 100, "X-Plain": "a=?b?c?=d"}},
    ],
)
def test_message_bytes_reads_back_as_build_message(changes: dict[str, Any]) -> None:
    content = _content(**changes)
    raw = _bytes(content)
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF line ends only
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    fast, slow = _parse(raw), _parse(_build(content).as_bytes())
    assert all(not part.defects for part in fast.walk())
    assert all(not value.defects for _, value in fast.items())
    assert _described(fast) == _described(slow)


def test_message_bytes_round_trip() -> None:
    raw = _bytes(_content())
    head = raw.split(b"\r\n\r\n")[0]
    long_lines = [line for line in head.split(b"\r\n") if len(line) > 78]
    assert long_lines == [f" <{UNSUBSCRIBE}>".encode()]  # a URL is never cut
    parsed = _parse(raw)
    assert parsed["From"].addresses[0].display_name == "Équipe Patron"
    assert parsed["Subject"] == "Bonjour — ça va? " + "x" * 70
    assert b"=?utf-8?" in raw.split(b"\r\nSubject:")[1].split(b"\r\nDate:")[0]
    # List-Unsubscribe is never encoded: a long URL is folded onto a line of its own.
    assert f"\r\nList-Unsubscribe:\r\n <{UNSUBSCRIBE}>\r\n".encode() in raw
    short = _bytes(_content(), url="https://p.example/u/1")
    assert b"\r\nList-Unsubscribe: <https://p.example/u/1>\r\n" in short
    assert b"Bcc" not in raw and b"hidden@b.com" not in raw
    # An internationalized domain goes in its IDNA form (the stdlib would encode it in words).
    idn = _parse(_bytes(_content(to="Zoë <zoe@exämple.com>", cc="")))
    assert idn["To"].addresses[0].addr_spec == "zoe@xn--exmple-cua.com"
    assert idn["To"].addresses[0].display_name == "Zoë"
    # The same text is never taken for encoded words by a reader.
    tricky = _parse(_bytes(_content(subject="=?utf-8?q?x?=")))
    assert tricky["Subject"] == "=?utf-8?q?x?="


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"from_": "a@x.com, b@x.com"}, "exactly one 'from'"),
        ({"to": "nope"}, "invalid email address: 'nope'"),
        ({"subject": "Hi\r\nBcc: victim@y.com"}, "subject"),
        ({"headers": {"Bcc": "victim@y.com"}}, "set by Patron"),
        ({"headers": {"X-A": "v\r\nBcc: victim@y.com"}}, "line break"),
    ],
)
def test_message_bytes_refuses_as_build_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _bytes(_content(**changes))
    with pytest.raises(ValueError, match="List-Unsubscribe"):
        _bytes(_content(), url="https://x.example/a b")


_LOCAL = st.from_regex(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,6}(\.[A-Za-z0-9=?_-]{1,4}){0,2}", fullmatch=True
)
_DOMAIN = st.from_regex(r"[A-Za-z0-9-]{1,6}(\.[A-Za-z0-9-]{1,5}){1,3}", fullmatch=True)


@given(_LOCAL, _DOMAIN)
def test_simple_addresses_parse_as_the_stdlib_does(local: str, domain: str) -> None:
    piece = f"{local}@{domain}"
    try:
        full = email_message._parse_address_fully(piece)
    except ValueError:
        full = None
    try:
        fast = email_message._parse_address(piece)
    except ValueError:
        fast = None
    assert (fast and (fast.display_name, fast.username, fast.domain, str(fast))) == (
        full and (full.display_name, full.username, full.domain, str(full))
    )


# --- a real SMTP hand-off ------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, _Inbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def test_send_through_real_smtp(smtp_server: tuple[Controller, _Inbox]) -> None:
    controller, inbox = smtp_server
    content = _content()
    message = _build(content)
    errors, _reply = asyncio.run(
        aiosmtplib.send(
            message,
            sender="team@patron.example",
            recipients=envelope_recipients(content),
            hostname=controller.hostname,
            port=controller.port,
            timeout=10,
        )
    )
    assert errors == {}
    [(mail_from, rcpt_tos, raw)] = inbox.received
    assert mail_from == "team@patron.example"
    assert rcpt_tos == ["jane@x.com", "bob@y.com", "zoe@z.com", "hidden@b.com"]
    arrived = _parse(raw)
    assert "Bcc" not in arrived
    assert b"hidden@b.com" not in raw
    assert arrived["X-CIO-Delivery-ID"] == DELIVERY
    assert str(arrived["List-Unsubscribe"]).strip() == f"<{UNSUBSCRIBE}>"
    assert f"<{UNSUBSCRIBE}>".encode() in raw  # aiosmtplib's own flattening kept it verbatim
    assert arrived["Subject"] == "Bonjour — ça va? " + "x" * 70
    attachments = {
        part.get_filename(): part.get_payload(decode=True) for part in arrived.iter_attachments()
    }
    assert attachments == {"report.pdf": PDF, "notes.txt": "ü\n".encode()}
