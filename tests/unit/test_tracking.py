"""Signed tracking links and rewriting an email's links, without HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from hypothesis import given
from hypothesis import strategies as st

from patron.domain.tracking import (
    PIXEL_STYLE,
    ClickToken,
    TrackedLink,
    add_open_pixel,
    click_url,
    open_url,
    read_click,
    read_open,
    rewrite_links,
    unsubscribe_url,
)

SECRET = b"workspace-secret"
DELIVERY = "dgTtyQgDAPLgG_HgGwGOxfL85m7e5FIYG3FKrkE="


def _parts(url: str, prefix: str) -> tuple[str, str]:
    assert url.startswith(prefix)
    token, sig = url[len(prefix) :].split("/")
    return token, sig


def _token(payload: dict[str, object]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sign(token: str, secret: bytes = SECRET) -> str:
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


def test_click_url_shape_and_round_trip() -> None:
    url = click_url("https://t.example.com/", SECRET, DELIVERY, "https://shop.example/é?a=1", 3)
    token, sig = _parts(url, "https://t.example.com/e/c/")
    assert "=" not in token
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded == {"email_id": DELIVERY, "href": "https://shop.example/é?a=1", "link_id": 3}
    assert sig == _sign(token)
    assert read_click(SECRET, token, sig) == ClickToken(DELIVERY, "https://shop.example/é?a=1", 3)


def test_open_url_round_trip() -> None:
    token, sig = _parts(
        open_url("https://t.example.com", SECRET, DELIVERY), "https://t.example.com/e/o/"
    )
    assert json.loads(base64.urlsafe_b64decode(token + "==")) == {"email_id": DELIVERY}
    assert sig == _sign(token)
    assert read_open(SECRET, token, sig) == DELIVERY


def test_tampered_or_malformed_tokens_are_refused() -> None:
    token, sig = _parts(
        click_url("https://t", SECRET, DELIVERY, "https://a.example", 1), "https://t/e/c/"
    )
    flipped = sig[:-1] + ("1" if sig[-1] != "1" else "2")
    assert read_click(SECRET, token, flipped) is None
    assert read_click(SECRET, token, sig.upper() if sig != sig.upper() else "0" * 64) is None
    assert read_click(SECRET, token, "é" * 64) is None
    assert read_click(SECRET, token, "") is None
    assert read_click(b"another-secret", token, sig) is None
    # Same signature, different destination: an open redirect must not be forgeable.
    forged = _token({"email_id": DELIVERY, "href": "https://evil.example", "link_id": 1})
    assert read_click(SECRET, forged, sig) is None
    assert read_click(SECRET, token + "A", sig) is None
    assert read_click(SECRET, "é" + token, sig) is None


def test_validly_signed_but_wrong_payloads_are_refused() -> None:
    for payload in (
        {"email_id": DELIVERY, "href": "https://a", "link_id": True},
        {"email_id": DELIVERY, "href": "https://a", "link_id": "1"},
        {"email_id": 7, "href": "https://a", "link_id": 1},
        {"email_id": DELIVERY, "href": "https://a", "link_id": 1, "extra": 1},
        {"email_id": DELIVERY},
    ):
        token = _token(payload)
        assert read_click(SECRET, token, _sign(token)) is None
    garbage = base64.urlsafe_b64encode(b"not json").decode()
    assert read_click(SECRET, garbage, _sign(garbage)) is None
    assert read_open(SECRET, garbage, _sign(garbage)) is None
    listed = _token([DELIVERY])  # type: ignore[arg-type]
    assert read_open(SECRET, listed, _sign(listed)) is None


def test_open_and_click_tokens_do_not_stand_in_for_each_other() -> None:
    click = _parts(click_url("https://t", SECRET, DELIVERY, "https://a", 1), "https://t/e/c/")
    opened = _parts(open_url("https://t", SECRET, DELIVERY), "https://t/e/o/")
    assert read_open(SECRET, *click) is None
    assert read_click(SECRET, *opened) is None


def test_unsubscribe_url() -> None:
    assert unsubscribe_url("https://t.example.com/", DELIVERY) == (
        "https://t.example.com/unsubscribe/dgTtyQgDAPLgG_HgGwGOxfL85m7e5FIYG3FKrkE="
    )
    assert unsubscribe_url("https://t", "a/b c") == "https://t/unsubscribe/a%2Fb%20c"


def _marker(href: str, link_id: int) -> str:
    return f"https://t/{link_id}?u={href}"


def test_rewrite_links_numbers_tracked_links_and_skips_the_rest() -> None:
    html = (
        '<html><body>\n<a href="https://a.example/x">A</a>\n'
        '<a class="btn untracked" href="https://skip.example">U</a>\n'
        "<a href='mailto:me@x.com'>M</a><a href=\"tel:+15551234567\">T</a>"
        '<a href="#top">#</a><a href="/relative">R</a><a name="anchor">N</a>\n'
        '<!-- <a href="https://comment.example"> -->'
        "<script>var s = '<a href=\"https://script.example\">';</script>"
        '<a href="https://{{ customer.id }}.example">L</a>'
        "<A HREF=http://b.example/p?q=1 data-cio-tag=t>B</A>\n"
        "<a title='x > y' href='https://c.example'>C</a>\n"
        "</body></html>"
    )
    out, links = rewrite_links(html, _marker)
    assert links == [
        TrackedLink(1, "https://a.example/x"),
        TrackedLink(2, "http://b.example/p?q=1"),
        TrackedLink(3, "https://c.example"),
    ]
    assert out == (
        html.replace('"https://a.example/x"', '"https://t/1?u=https://a.example/x"')
        .replace("http://b.example/p?q=1 ", '"https://t/2?u=http://b.example/p?q=1" ')
        .replace("'https://c.example'", "'https://t/3?u=https://c.example'")
    )


def test_rewrite_links_decodes_and_escapes_attribute_entities() -> None:
    html = '<a href=" https://x.example/?a=1&amp;b=2&not=3&copy;">x</a>'
    out, links = rewrite_links(html, lambda href, _id: href + "&z=\"'")
    # "&not=" stays literal inside an attribute, "&copy;" does not (HTML's rule).
    assert links == [TrackedLink(1, "https://x.example/?a=1&b=2&not=3©")]
    assert out == ('<a href="https://x.example/?a=1&amp;b=2&amp;not=3©&amp;z=&quot;&#x27;">x</a>')


def test_rewrite_links_first_href_wins_and_unterminated_tag_is_left() -> None:
    out, links = rewrite_links('<a href="https://one" href="https://two">', _marker)
    assert links == [TrackedLink(1, "https://one")]
    assert out == '<a href="https://t/1?u=https://one" href="https://two">'
    tail = '<p>x</p><a href="https://open'
    assert rewrite_links(tail, _marker) == (tail, [])


def test_identity_rewrite_keeps_html_byte_identical() -> None:
    html = "<A  HREF = 'https://x.example/?a=1&amp;b'\n class=\"c\" >x</A >\r\n<br/>&nbsp;"
    out, links = rewrite_links(html, lambda href, _id: href)
    assert out == html
    assert links == [TrackedLink(1, "https://x.example/?a=1&b")]


def test_add_open_pixel() -> None:
    pixel = (
        '<img src="https://t/e/o/tok/sig?a=1&amp;b=2" width="1" height="1" '
        f'style="{PIXEL_STYLE}" alt=""/>'
    )
    assert PIXEL_STYLE == (
        "height:1px !important;width:1px !important;border:0 !important;"
        "margin:0 !important;padding:0 !important;display:none !important"
    )
    html = "<body><p>a</p><!-- </body> --></BODY>\n</html>"
    assert add_open_pixel(html, "https://t/e/o/tok/sig?a=1&b=2") == (
        f"<body><p>a</p><!-- </body> -->{pixel}</BODY>\n</html>"
    )
    assert add_open_pixel("<p>a</p>", "https://t/e/o/tok/sig?a=1&b=2") == f"<p>a</p>{pixel}"


_HTMLISH = st.lists(
    st.sampled_from(
        [
            "<a", "<A", " href=", "href", "=", '"', "'", "https://x.example/", "http://y/",
            "mailto:a@b", ">", "</a>", "<!--", "-->", "<!", "<?", "</", "<script>",
            "</script>", "<style>", "class=untracked", " class='untracked'", "&amp;", "&not",
            "&#", ";", "{{", " ", "\n", "/", "<p>", "text", "é", "\x00",
        ]
    )
    | st.text(max_size=5),
    max_size=40,
).map("".join)  # fmt: skip


@given(_HTMLISH)
def test_rewrite_links_never_raises_and_identity_is_a_no_op(html: str) -> None:
    out, links = rewrite_links(html, lambda href, _id: href)
    assert out == html
    assert [link.link_id for link in links] == list(range(1, len(links) + 1))
    rewritten, again = rewrite_links(html, lambda _href, link_id: f"https://t/{link_id}")
    assert again == links
    assert rewritten.count("https://t/") >= len(links)
