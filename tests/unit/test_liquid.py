"""Liquid in messages: Customer.io's Latest semantics (spec §9), filters, tags and limits."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.domain.liquid import MessageContext, Renderer, RenderError, TagUrls

RENDERER = Renderer()
CUSTOMER = {
    "id": "42",
    "first_name": "Ann",
    "current city": "Paris",
    "plan": {"name": "pro", "limit": 5},
    "tags": ["a", "b", "c"],
    "nothing": None,
    "off": False,
    "empty_text": "",
    "spaces": "  ",
    "no_tags": [],
    "price": 10.0,
    "zero": 0,
}
TRIGGER = {
    "order": {"id": 7, "total": 1234.5},
    "items": [
        {"sku": "a", "price": 5, "kind": "book"},
        {"sku": "b", "price": 20, "kind": "pen"},
        {"sku": "c", "price": 15, "kind": "book"},
    ],
}
CONTEXT = MessageContext(
    namespaces={"customer": CUSTOMER, "trigger": TRIGGER},
    delivery_id="RAECAAFwnUSneIa0ZXkmHMr3cnYAAAAA",
    urls=TagUrls(
        unsubscribe_url="https://p.example/unsubscribe/x",
        manage_subscription_preferences_url="https://p.example/preferences/x",
        view_in_browser_url="https://p.example/deliveries/x",
        tracking_consent_url="https://p.example/consent/x",
    ),
    top_level={"event_name": "purchase", "event_id": "01H"},
    subscription_topic_name="Newsletter",
)


def render(source: str, context: MessageContext = CONTEXT, renderer: Renderer = RENDERER) -> str:
    return renderer.render(source, context)


def failure(source: str, context: MessageContext = CONTEXT, renderer: Renderer = RENDERER) -> str:
    with pytest.raises(RenderError) as caught:
        renderer.render(source, context)
    return str(caught.value)


# --- namespaces and failure semantics (§9.2, §9.6) -----------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("Hi {{customer.eemail}}", "Variable 'customer.eemail' is missing"),
        ("{{ trigger.a.b }}", "Variable 'trigger.a.b' is missing"),
        (
            "{{ trigger.order.missing.deeper }}",
            "Variable 'trigger.order.missing.deeper' is missing",
        ),
        ('{{ customer["home town"] }}', "Variable 'customer[\"home town\"]' is missing"),
        ("{{ trigger.items[9].sku }}", "Variable 'trigger.items[9].sku' is missing"),
        ("{{ customer.first_name.first }}", "Variable 'customer.first_name.first' is missing"),
        ("{{ message_data.nope }}", "Variable 'message_data.nope' is missing"),
        ("{{ customer.x | upcase }}", "Variable 'customer.x' is missing"),
        ("{{ 'a' | append: customer.x }}", "Variable 'customer.x' is missing"),
        ("{{ customer.x | date: '%Y' }}", "Variable 'customer.x' is missing"),
        ("{% for t in customer.x %}{{ t }}{% endfor %}", "Variable 'customer.x' is missing"),
        ("{% assign v = customer.x %}{{ v }}", "Variable 'customer.x' is missing"),
        ("{{ customer.plan.offset }}", "Variable 'customer.plan.offset' is missing"),
    ],
)
def test_a_missing_variable_in_a_present_namespace_fails(source: str, message: str) -> None:
    assert failure(source) == message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("[{{ event.x }}]", "[]"),
        ("[{{ event.x.y | upcase }}]", "[]"),
        ("[{{ object.x }}{{ journey.y }}]", "[]"),
        ("[{{ unsubscribe_url }}{{ nosuch }}]", "[]"),
        ("{% if event.x == nil %}nil{% endif %}", "nil"),
    ],
)
def test_an_absent_namespace_renders_empty(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hi {{ customer.nick | default: 'there' }}", "Hi there"),
        ("{{ customer.nothing | default: 'n' }}{{ customer.empty_text | default: 'e' }}", "ne"),
        ("{{ customer.zero | default: 'z' }}", "0"),
        ("{% if customer.x %}yes{% else %}no{% endif %}", "no"),
        ("{% unless customer.x %}absent{% endunless %}", "absent"),
        ("{% if customer.x == blank %}blank{% endif %}", "blank"),
        ("{% if customer.x == nil %}nil{% endif %}", "nil"),
        ("{% if customer.x != nil %}set{% else %}unset{% endif %}", "unset"),
        ("{% if customer.x > 3 %}big{% endif %}ok", "ok"),
        ("{% if customer.x contains 'a' %}has{% endif %}ok", "ok"),
        ("{% if customer.x and customer.id %}both{% elsif customer.id %}id{% endif %}", "id"),
        ("{% if customer.x.size > 0 %}some{% endif %}ok", "ok"),
        ("{% case customer.x %}{% when 'a' %}a{% else %}other{% endcase %}", "other"),
    ],
)
def test_conditions_and_default_tolerate_missing_variables(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    ("attribute", "blank", "nil"),
    [
        ("missing", True, True),
        ("nothing", True, True),
        ("off", True, False),
        ("empty_text", True, False),
        ("spaces", True, False),
        ("no_tags", True, False),
        ("first_name", False, False),
        ("zero", False, False),
    ],
)
def test_blank_and_nil(attribute: str, blank: bool, nil: bool) -> None:
    source = (
        f"{{% if customer.{attribute} == blank %}}B{{% endif %}}"
        f"{{% if customer.{attribute} != blank %}}b{{% endif %}}"
        f"{{% if customer.{attribute} == nil %}}N{{% endif %}}"
    )
    assert render(source) == ("B" if blank else "b") + ("N" if nil else "")


def test_empty_is_empty_text_and_collections_only() -> None:
    source = (
        "{% if customer.empty_text == empty %}t{% endif %}"
        "{% if customer.no_tags == empty %}l{% endif %}"
        "{% if customer.x == empty %}x{% endif %}{% if customer.spaces == empty %}s{% endif %}"
    )
    assert render(source) == "tl"


def test_variables_and_access() -> None:
    assert render('{{ customer.first_name }} in {{ customer["current city"] }}') == "Ann in Paris"
    assert render("{{ customer.tags[1] }} {{ customer.tags.first }} {{ customer.tags.size }}") == (
        "b a 3"
    )
    assert render("{{ trigger.items[-1].sku }} {{ customer.plan.limit }}") == "c 5"
    assert render("{% assign k = 'first_name' %}{{ customer[k] }}") == "Ann"
    assert render("{{ event_name }}/{{ event_id }}/{{ delivery_id }}") == (
        "purchase/01H/RAECAAFwnUSneIa0ZXkmHMr3cnYAAAAA"
    )
    assert render("{{ delivery_id }}", MessageContext(namespaces={})) == "unsent"


def test_values_print_as_liquidjs_does() -> None:
    assert render("{{ customer.price }} {{ 10 | times: 1.5 }} {{ 7 | divided_by: 2.0 }}") == (
        "10 15 3.5"
    )
    assert render("{{ customer.off }} {{ customer.nothing }}|{{ customer.tags }}") == "false |abc"
    assert render("{{ customer.plan }}") == '{"name":"pro","limit":5}'


def test_message_data_is_trigger() -> None:
    assert render("{{ message_data.order.id }} {{ trigger.order.id }}") == "7 7"
    own = MessageContext(namespaces={"trigger": {"a": 1}, "message_data": {"a": 2}})
    assert render("{{ message_data.a }}{{ trigger.a }}", own) == "21"
    assert render("[{{ message_data.a }}]", MessageContext(namespaces={"customer": {}})) == "[]"


# --- tags (§9.4) -----------------------------------------------------------------------


def test_url_tags_and_their_variable_form() -> None:
    source = (
        "{% unsubscribe_url %}|{% manage_subscription_preferences_url %}|"
        "{% view_in_browser_url %}|{% tracking_consent_url %}|{{ unsubscribe_url }}|"
        "{{ view_in_browser_url }}"
    )
    assert render(source) == (
        "https://p.example/unsubscribe/x|https://p.example/preferences/x|"
        "https://p.example/deliveries/x|https://p.example/consent/x||"
    )
    assert render("[{% unsubscribe_url %}]", MessageContext(namespaces={})) == "[]"


def test_meta_tags() -> None:
    assert render("{% subscription_topic_name %}/{% subscription_topic_name lang='pt' %}") == (
        "Newsletter/Newsletter"
    )
    uuids = render("{% generate_uuid %} {% generate_uuid %}").split()
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", u)
        for u in uuids
    )
    assert uuids[0] != uuids[1]
    assert {render("{% random 3 %}") for _ in range(200)} == {"0", "1", "2"}
    assert render("{% random customer.plan.limit %}") in {"0", "1", "2", "3", "4"}
    assert render('{% cio_link url:"https://x.example/a?b=1" track:true url_params:false %}') == (
        "https://x.example/a?b=1"
    )
    assert render("{% cio_link url: trigger.order.id %}") == "7"


# --- filters (§9.5) -------------------------------------------------------------------------

FILTER_CASES = [
    # strings
    ("{{ 'the quick BROWN fox' | titlecase }}", "The Quick Brown Fox"),
    ("{{ 'a-b-a-b' | replace_last: 'a', 'X' }}", "a-b-X-b"),
    ("{{ 'abcabc' | remove_last: 'b' }} {{ 'abc' | remove_last: 'a' }}", "abcac bc"),
    ("[{{ '  a \n\t b  ' | normalize_whitespace }}]", "[a b]"),
    ("{{ 'Hello, World: Ça va?' | slugify }}", "hello-world-ça-va"),
    ("{{ 'Hello, World: Ça va?' | slugify: 'latin' }}", "hello-world-ca-va"),
    ("{{ 'Hello, World.txt' | slugify: 'pretty' }}", "hello,-world.txt"),
    ("{{ 'a b  c' | slugify: 'raw' }}", "a-b-c"),
    (
        "{{ 1 | pluralize: 'item', 'items' }}, {{ 3 | pluralize: 'item', 'items' }}",
        "1 item, 3 items",
    ),
    ("{{ 'one two  three' | number_of_words }} {{ '日本語 ok' | number_of_words: 'cjk' }}", "3 4"),
    ("{{ customer.tags | array_to_sentence_string }}", "a, b, and c"),
    ("{{ customer.tags | array_to_sentence_string: 'or' }}", "a, b, or c"),
    ("{{ 'x,y' | split: ',' | array_to_sentence_string }}", "x and y"),
    ("{{ 'hello' | contains: 'ell' }} {{ customer.tags | contains: 'z' }}", "true false"),
    (
        "{{ '<a href=\"x\">Tom & Jerry</a>' | xml_escape }}",
        "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&lt;/a&gt;",
    ),
    ('{{ "it\'s" | xml_escape }}', "it&#39;s"),
    ("{{ 'a b&c/d*' | cgi_escape }}", "a+b%26c%2Fd%2A"),
    ("{{ 'https://x.io/a b?q=[1]&r=é' | uri_escape }}", "https://x.io/a%20b?q=[1]&r=%C3%A9"),
    ('{{ "a b&c/d!\'()*~" | url_encode }}', "a+b%26c%2Fd!'()*~"),
    ("{{ 'a+b%20c%26' | url_decode }}", "a b c&"),
    ("{{ 'héllo' | base64 }} {{ 'héllo' | base64_encode }}", "aMOpbGxv aMOpbGxv"),
    ("{{ 'aMOpbGxv' | base64_decode }}", "héllo"),
    ("{{ '<<??>>' | base64_url_safe_encode }}", "PDw_Pz4-"),
    ("{{ 'PDw_Pz4-' | base64_url_safe_decode }}", "<<??>>"),
    ("{{ 'deadbeef' | hex_base64 }}", "3q2+7w=="),
    ("{{ 'hello' | md5 }}", "5d41402abc4b2a76b9719d911017c592"),
    ("{{ 'hello' | sha1 }}", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
    ("{{ 'hello' | sha256 }}", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
    ("{{ 'hello' | hmac_sha1: 'key' }}", "b34ceac4516ff23a143e61d79d0fa7a4fbe5f266"),
    (
        "{{ 'hello' | hmac_sha256: 'key' }}",
        "9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b",
    ),
    (
        "{{ 'hello' | hmac_sha256: 'key' | hex_base64 }}",
        "kwezuRXvtRcf8U2MtV+8x5jGwO8UVtZt7RpqpyOli3s=",
    ),
    # numbers
    ("{{ 1234567.891 | format_number }}", "1,234,567.891"),
    ("{{ 1234567.8915 | format_number }} {{ '2.5' | format_number }}", "1,234,567.892 2.5"),
    ("{{ -1234 | format_number: 'de' }} {{ 1234.5 | format_number: 'de-DE' }}", "-1.234 1.234,5"),
    ("{{ 1234 | format_number: 'es' }} {{ 12345.6 | format_number: 'es' }}", "1234 12.345,6"),
    ("{{ 1234567.5 | format_number: 'fr' }}", "1\u202f234\u202f567,5"),
    (
        "{{ 1234567.5 | format_number: 'pt-BR' }} {{ 1234.5 | format_number: 'ja' }}",
        "1.234.567,5 1,234.5",
    ),
    ("{{ 1234.5 | format_number: 'en-GB' }} {{ 1234.5 | format_number: 'xx' }}", "1,234.5 1,234.5"),
    (
        "{{ 1234.5 | currency }} {{ 10 | currency: 'en-us' }} {{ -3 | currency: 'en' }}",
        "$1,234.50 $10.00 -$3.00",
    ),
    (
        "{{ 1234.5 | currency: 'en-GB' }} {{ 1234.5 | currency: 'en-GB', 'USD' }}",
        "£1,234.50 US$1,234.50",
    ),
    (
        "{{ 1234.5 | currency: 'de' }} {{ 1234.5 | currency: 'de', 'USD' }}",
        "1.234,50\u00a0€ 1.234,50\u00a0$",
    ),
    ("{{ 1234.5 | currency: 'fr' }}", "1\u202f234,50\u00a0€"),
    (
        "{{ 1234.5 | currency: 'es' }} {{ 12345.5 | currency: 'es' }}",
        "1234,50\u00a0€ 12.345,50\u00a0€",
    ),
    (
        "{{ 1234.5 | currency: 'pt-BR' }} {{ -1234.5 | currency: 'pt-BR' }}",
        "R$\u00a01.234,50 -R$\u00a01.234,50",
    ),
    ("{{ 1234.5 | currency: 'ja' }} {{ 1234.5 | currency: 'en', 'JPY' }}", "￥1,235 ¥1,235"),
    ("{{ 5 | currency: 'en', 'CHF' }} {{ 5 | currency: 'en', 'eur' }}", "CHF\u00a05.00 €5.00"),
    (
        "{{ 1234.5 | rounded_currency }} {{ 1234.4 | rounded_currency: 'de' }}",
        "$1,235 1.234\u00a0€",
    ),
    ("{{ trigger.order.total | currency }}", "$1,234.50"),
    # arrays
    ("{{ trigger.items | find: 'sku', 'b' | map: 'price' }}", "20"),
    ("{{ trigger.items | find_exp: 'i', 'i.price > 10' | map: 'sku' }}", "b"),
    ("{{ trigger.items | where_exp: 'i', \"i.kind == 'book'\" | map: 'sku' | join: ',' }}", "a,c"),
    ("{{ trigger.items | where: 'kind', 'pen' | map: 'sku' | join: ',' }}", "b"),
    ("{{ trigger.items | where_not: 'kind', 'book' | map: 'sku' | join: ',' }}", "b"),
    (
        "{% assign groups = trigger.items | group_by: 'kind' %}"
        "{% for g in groups %}{{ g.name }}={{ g.items | map: 'sku' | join: '' }};{% endfor %}",
        "book=ac;pen=b;",
    ),
    (
        "{% assign gs = trigger.items | group_by_exp: 'i', 'i.price | at_least: 15' %}"
        "{{ gs | json }}",
        '[{"name":15,"items":[{"sku":"a","price":5,"kind":"book"},{"sku":"c","price":15,"kind":"book"}]},'
        '{"name":20,"items":[{"sku":"b","price":20,"kind":"pen"}]}]',
    ),
    ('{{ \'[1, 1, {"a": 1}, {"a": 1}, "1"]\' | json_array_uniq | json }}', '[1,{"a":1},"1"]'),
    ("{{ customer.tags | limit: 2 | join: ',' }}", "a,b"),
    (
        "{{ customer.tags | push: 'd' | join: '' }}{{ customer.tags | unshift: 'z' | join: '' }}",
        "abcdzabc",
    ),
    ("{{ customer.tags | pop | join: '' }} {{ customer.tags | pop: 2 | join: '' }}", "ab a"),
    ("{{ customer.tags | shift | join: '' }} {{ customer.tags | shift: 2 | join: '' }}", "bc c"),
    ("{{ trigger.items | sum: 'price' }} {{ '1,2.5,x' | split: ',' | sum }}", "40 3.5"),
    ("{{ customer.tags | sum }} {{ trigger.order | sum: 'total' }}", "0 1234.5"),
    ("{{ customer.tags | join: ', ' }}", "a, b, c"),
    # JSON
    ('{{ \'{"a": [1, 2.0], "b": null}\' | from_json | json }}', '{"a":[1,2],"b":null}'),
    ('{% assign o = \'{"x": {"y": "z"}}\' | from_json %}{{ o.x.y }}', "z"),
    ("{{ customer.plan | to_json }}", '{"name":"pro","limit":5}'),
    ("{{ customer.plan | json: 2 }}", '{\n  "name": "pro",\n  "limit": 5\n}'),
    ("{{ 'é' | json }}", '"é"'),
    # default
    (
        "{{ customer.off | default: 'd' }} {{ customer.off | default: 'd', allow_false: true }}",
        "d false",
    ),
]


@pytest.mark.parametrize(("source", "expected"), FILTER_CASES)
def test_filters(source: str, expected: str) -> None:
    assert render(source) == expected


NOV_14_2023 = 1700000000  # 2023-11-14 22:13:20 UTC, a Tuesday
DATE_CASES = [
    ("{{ t | date: '%Y-%m-%d %H:%M:%S' }}", "2023-11-14 22:13:20"),
    ("{{ t | date: '%a %A %b %B %-d %e %j %y %C' }}", "Tue Tuesday Nov November 14 14 318 23 20"),
    ("{{ t | date: '%I:%M %p %-I%P %l' }}", "10:13 PM 10pm 10"),
    ("{{ t | date: '%u %w %U %W %V %G' }}", "2 2 46 46 46 2023"),
    ("{{ t | date: '%s %L %N %z %:z %Z %%' }}", "1700000000 000 000000000 +0000 +00:00 UTC %"),
    ("{{ t | date: '%F %T %D %R %r' }}", "2023-11-14 22:13:20 11/14/23 22:13 10:13:20 PM"),
    (
        "{{ t | date: '%^a %^B %#p %-m/%-d %_m %010d %q' }}",
        "TUE NOVEMBER pm 11/14 11 0000000014 th",
    ),
    ("{{ t | date }}", "Tuesday, November 14, 2023 at 10:13 pm +0000"),
    ("{{ t | date: '%H:%M %Z', 'America/New_York' }}", "17:13 EST"),
    ("{{ t | date: '%H:%M %z', 'Asia/Kolkata' }}", "03:43 +0530"),
    ("{{ t | date: '%-d %H:%M %z %Z', -330 }}", "15 03:43 +0530 +0530"),
    ("{{ t | date: '%H:%M %z', 300 }} {{ t | date: '%H:%M', '-60' }}", "17:13 -0500 23:13"),
    ("{{ '1700000000' | date: '%F' }} {{ 1700000000.9 | date: '%S' }}", "2023-11-14 20"),
    ("{{ 'not a date' | date: '%F' }}|{{ event.x | date: '%F' }}|", "not a date||"),
    ("{{ t | date_to_string }} / {{ t | date_to_long_string }}", "14 Nov 2023 / 14 November 2023"),
    (
        "{{ t | date_to_string: 'ordinal' }} / {{ t | date_to_long_string: 'ordinal', 'US' }}",
        "14th Nov 2023 / November 14th, 2023",
    ),
    ("{{ t | date_to_rfc822 }}", "Tue, 14 Nov 2023 22:13:20 +0000"),
    ("{{ t | date_to_xmlschema }}", "2023-11-14T22:13:20+00:00"),
    ("{{ t | add_day | date: '%F' }} {{ t | add_day: 17 | date: '%F' }}", "2023-11-15 2023-12-01"),
    ("{{ t | subtract_day: 14 | date: '%F' }} {{ t | add_day: -1 }}", "2023-10-31 1699913600"),
    (
        "{{ 1706659200 | add_month | date: '%F' }} "
        "{{ 1706659200 | subtract_month: 2 | date: '%F' }}",
        "2024-02-29 2023-11-30",
    ),
    (
        "{{ 1709164800 | add_year | date: '%F' }} {{ 1709164800 | subtract_year: 4 | date: '%F' }}",
        "2025-02-28 2020-02-29",
    ),
    (
        "{{ t | timezone: 'Europe/Paris' | date: '%H:%M %Z' }} "
        "{{ t | timezone: 2 | date: '%H:%M' }}",
        "23:13 CET 00:13",
    ),
]


@pytest.mark.parametrize(("source", "expected"), DATE_CASES)
def test_date_filters(source: str, expected: str) -> None:
    context = MessageContext(namespaces={}, top_level={"t": NOV_14_2023})
    assert render(source, context) == expected


def test_now_is_the_current_time() -> None:
    import time

    before = int(time.time())
    now = int(render("{{ 'now' | date: '%s' }}"))
    tomorrow = int(render("{{ 'now' | date: '%s' | plus: 0 | add_day: 1 }}"))
    assert before <= now <= int(time.time())
    assert tomorrow - now in range(86400, 86402)
    assert render("{{ 'today' | date: '%Y' }}") == time.strftime("%Y", time.gmtime())


def test_random_filter() -> None:
    assert {render("{{ 3 | random }}") for _ in range(200)} == {"0", "1", "2"}
    assert render("{{ customer.tags | random }}") in {"a", "b", "c"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'abc' | format_number }}", "format_number: expected a number, found 'abc' (line 1)"),
        ("{{ 'zz' | hex_base64 }}", "hex_base64: not a hexadecimal string (line 1)"),
        ("{{ '{bad' | from_json }}", "from_json: invalid JSON"),
        ("{{ 1 | date: '%F', 'Mars/Olympus' }}", "unknown timezone 'Mars/Olympus' (line 1)"),
        ("{{ 1 | date: '%F', 100000 }}", "timezone offset out of range: 100000 (line 1)"),
        ("{{ customer.tags | limit }}", "limit: missing a required argument: 'n' (line 1)"),
        ("{{ 1 | currency: 'en', 'USD', 3 }}", "currency: too many positional arguments (line 1)"),
    ],
)
def test_filter_errors(source: str, message: str) -> None:
    assert failure(source).startswith(message)


# --- syntax errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("Hello\n{% if customer.id %}hi", "if tag was never closed (line 2)"),
        ("{% for t in x %}\n{% capture c %}{% endfor %}", "unexpected tag 'endfor' (line 2)"),
        ("a\n\n{% capture x %}{% else %}{% endcapture %}", "unexpected tag 'else' (line 3)"),
        ("{% sparkle %}", "Unknown tag 'sparkle' (line 1)"),
        ("{% render 'snippet' %}", "Unknown tag 'render' (line 1)"),
        ("line\n{{ customer.id | sparkle }}", "unknown filter 'sparkle' (line 2)"),
        ("{{ customer.id | upcase | limitt: 2 }}", "unknown filter 'limitt' (line 1)"),
        ("{{ customer.id ", "expected '}}', found end of file (line 1)"),
        ("{% random %}", "missing expression (line 1)"),
        ("{% cio_link track:true %}", "cio_link needs a url argument (line 1)"),
        ("{{ " + "a[" * 3000 + "x" + "]" * 3000 + " }}", "template is nested too deeply"),
    ],
)
def test_syntax_errors_name_the_problem_and_line(source: str, message: str) -> None:
    with pytest.raises(RenderError) as caught:
        RENDERER.check(source)
    assert str(caught.value) == message
    with pytest.raises(RenderError):
        render(source)


def test_check_accepts_valid_templates_without_data() -> None:
    RENDERER.check("{% if customer.x %}{{ customer.x | default: 'y' | limit: 2 }}{% endif %}")
    RENDERER.check("{{ trigger.order.limit }}{% unsubscribe_url %}{{ 'a' | contains: 'b' }}")


def test_templates_are_parsed_once() -> None:
    renderer = Renderer()
    source = "{{ customer.first_name }}"
    for _ in range(5):
        renderer.render(source, CONTEXT)
    renderer.check(source)
    info = renderer._template.cache_info()
    assert (info.misses, info.hits, info.maxsize) == (1, 5, 512)


def test_rendering_is_thread_safe() -> None:
    source = "{% for i in (1..50) %}{{ customer.n | plus: i }},{% endfor %}{% cycle 'x', 'y' %}"
    results: dict[int, str] = {}

    def work(n: int) -> None:
        context = MessageContext(namespaces={"customer": {"n": n}})
        results[n] = "".join(render(source, context) for _ in range(20))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, text in results.items():
        assert text == ("".join(f"{n + i}," for i in range(1, 51)) + "x") * 20
    assert len(results) == 16


# --- hostile templates ---------------------------------------------------------------------

SMALL = Renderer(output_limit=10_000, loop_limit=1_000)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% for i in (1..2000) %}{% endfor %}", "range is longer than the loop limit (line 1)"),
        (
            "{% for i in (1..1000000000000) reversed %}{% endfor %}",
            "range is longer than the loop limit (line 1)",
        ),
        ("{{ (1..1000000000000) | join: ',' }}", "range is longer than the loop limit (line 1)"),
        (
            "{% for i in (1..40) %}{% for j in (1..40) %}{% endfor %}{% endfor %}",
            "loop iteration limit reached (line 1)",
        ),
        (
            "{% for i in (1..600) %}{% endfor %}{% for i in (1..600) %}{% endfor %}",
            "loop iteration limit reached (line 1)",
        ),
        (
            "{% for i in (1..1000) %}{{ 'x' | append: 'yyyyyyyyyyyyyyyyyyy' }}{% endfor %}",
            "output stream limit reached (line 1)",
        ),
        (
            "{% capture c %}{% for i in (1..1000) %}xxxxxxxxxxxxxxxxxxxxxx{% endfor %}"
            "{% endcapture %}",
            "output stream limit reached (line 1)",
        ),
        (
            "{% assign s = 'xxxxxxxxxxxxxxxx' %}"
            "{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}",
            "filter result exceeds the output limit (line 1)",
        ),
        (
            "{% assign s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}"
            "{{ s | replace: '', s | replace: '', s }}",
            "filter result exceeds the output limit (line 1)",
        ),
        (
            "{% assign s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}"
            "{% assign a = 'a,b,c,d,e,f,g,h' | split: ',' | join: s | split: '' %}"
            "{{ a | join: s }}",
            "filter result exceeds the output limit (line 1)",
        ),
        (
            "{% assign s = 'x' %}"
            "{% for i in (1..40) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}",
            "output stream limit reached (line 1)",
        ),
        (
            "{% tablerow i in (1..5000) %}{{ i }}{% endtablerow %}",
            "range is longer than the loop limit (line 1)",
        ),
        ("{% if true %}" * 40 + "x" + "{% endif %}" * 40, "block nesting limit reached (line 1)"),
        (
            "{{ " + "9" * 5000 + " }}",
            "integer string conversion limit (4300) reached: value has 5000 digits (line 1)",
        ),
    ],
)
def test_hostile_templates_fail_fast(source: str, message: str) -> None:
    assert failure(source, renderer=SMALL) == message


def test_runaway_numbers_become_infinity_instead_of_bignums() -> None:
    source = (
        "{% assign n = 99 %}{% for i in (1..200) %}{% assign n = n | times: n %}{% endfor %}{{ n }}"
    )
    assert render(source, renderer=SMALL) == "Infinity"
    assert render("{{ 9007199254740993 | plus: 0 }}") == "9007199254740992"


def test_strftime_padding_is_bounded() -> None:
    context = MessageContext(namespaces={}, top_level={"t": NOV_14_2023})
    assert render("{{ t | date: '%999999999d' }}", context) == "14".rjust(64, "0")


def test_limits_leave_ordinary_templates_alone() -> None:
    source = "{% for i in (1..1000) %}{{ i | modulo: 10 }}{% endfor %}"
    assert render(source, renderer=SMALL) == "1234567890" * 100


# --- properties --------------------------------------------------------------------------

KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
DATA = st.dictionaries(KEYS, VALUES, min_size=1, max_size=6)
TEMPLATES = [
    "{{ NS.KEY }}",
    '{{ NS["KEY"] }}',
    "{{ NS.KEY | json }}",
    "{{ NS.KEY | to_json | from_json | to_json }}",
    "{{ NS.KEY | default: 'none' | size }}",
    "{% if NS.KEY %}yes{% elsif NS.KEY == blank %}blank{% else %}no{% endif %}",
    "{% if NS.KEY == nil %}nil{% endif %}{% unless NS.KEY == empty %}full{% endunless %}",
    "{% for v in NS.KEY %}[{{ v }}]{% endfor %}",
    "{{ NS.KEY | append: '!' | upcase | truncate: 20 }}",
    "{% assign copy = NS.KEY %}{{ copy | json }} {{ NS | json | size }}",
    "{% case NS.KEY %}{% when 1 %}one{% else %}other{% endcase %}",
    "{{ NS.KEY | escape }} {{ NS.KEY | url_encode }} {{ NS.KEY | md5 }}",
]


@settings(max_examples=100, deadline=None)
@given(
    customer=DATA,
    trigger=DATA,
    template=st.sampled_from(TEMPLATES),
    use_trigger=st.booleans(),
    data=st.data(),
)
def test_templates_over_present_keys_always_render_the_same(
    customer: dict[str, Any],
    trigger: dict[str, Any],
    template: str,
    use_trigger: bool,
    data: st.DataObject,
) -> None:
    namespace, values = ("trigger", trigger) if use_trigger else ("customer", customer)
    key = data.draw(st.sampled_from(sorted(values)))
    source = template.replace("NS", namespace).replace("KEY", key)
    context = MessageContext(namespaces={"customer": customer, "trigger": trigger})
    first = RENDERER.render(source, context)
    assert RENDERER.render(source, context) == first


LIQUIDISH = st.lists(
    st.sampled_from(
        [
            "{{",
            "}}",
            "{%",
            "%}",
            "if",
            "endif",
            "for",
            "in",
            "endfor",
            "x",
            "customer.a",
            "|",
            "upcase",
            "date:",
            "'%Y'",
            "(1..3)",
            "==",
            "blank",
            "[",
            "]",
            ".",
            " ",
            "\n",
            "'",
            "assign",
            "=",
            "limit",
            "contains",
            "unsubscribe_url",
            "random",
            "-",
            "1",
        ]
    )
    | st.text(max_size=5),
    max_size=25,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(source=st.text(max_size=80) | LIQUIDISH)
def test_any_source_renders_or_raises_render_error(source: str) -> None:
    context = MessageContext(namespaces={"customer": {"a": "b"}})
    for attempt in (lambda: RENDERER.check(source), lambda: RENDERER.render(source, context)):
        try:
            attempt()
        except RenderError as err:
            assert str(err)
