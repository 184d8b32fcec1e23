"""Transactional email end to end: ``POST /v1/send/email`` → the sender → a real SMTP server
(aiosmtpd), on SQLite and PostgreSQL; tracking, unsubscribes, suppression, drafts, the clock."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from patron.store import workspaces
from patron.store.database import Database
from smtp_sink import Received, SmtpSink
from support import Api, in_process

DOC: dict[str, Any] = {
    "subscription_topics": [
        {"id": 1, "name": "Product news", "subscribed_by_default": True},
    ],
    "transactional": [
        {
            "id": 1,
            "name": "Password Reset",
            "from": "Acme <noreply@acme.test>",
            "reply_to": "help@acme.test",
            "subject": "Reset your password, {{ customer.first_name }}",
            "preheader": "It takes a minute",
            "body": (
                "<html><head><style>p { color: red }</style></head><body>"
                "<p>Hi {{ customer.first_name }},</p>"
                "<p><a href='https://acme.test/reset?t={{ trigger.token }}'>Reset</a> "
                "<a class='untracked' href='https://acme.test/help'>Help</a></p>"
                "<p><a href='{% unsubscribe_url %}'>Unsubscribe</a> id={{ delivery_id }}</p>"
                "</body></html>"
            ),
            "languages": {"fr": {"subject": "Réinitialisez, {{ customer.first_name }}"}},
        },
        {
            "id": 2,
            "name": "news",
            "subject": "News",
            "body": "<p>News for {{ customer.email }}</p>",
            "topic": 1,
            "send_to_unsubscribed": False,
        },
        {
            "id": 3,
            "name": "broken",
            "subject": "Hi",
            "body": "<p>{{ customer.eemail }}</p>",
        },
    ],
}


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def mail(database: Database, smtp: SmtpSink) -> Iterator[Api]:
    """The test's workspace on a dev-mode Patron that sends email to ``smtp``."""
    creds = _workspace(database)
    with in_process(database, dev=True, smtp_url=smtp.url, public_url="http://patron.test") as h:
        api = Api(h, creds)
        response = api.app("POST", "/__patron/apply", DOC)
        assert response.status_code == 200, response.text
        yield api


def _workspace(database: Database) -> workspaces.Credentials:
    from support import new_workspace

    return new_workspace(database)


def send(api: Api, **body: Any) -> dict[str, Any]:
    response = api.app("POST", "/v1/send/email", body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def settle(api: Api) -> None:
    response = api.app("POST", "/__patron/settle", {"timeout": 20})
    assert response.json() == {"settled": True}


def message(api: Api, delivery_id: str) -> dict[str, Any]:
    response = api.app("GET", f"/v1/messages/{delivery_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["message"]
    return found


def only(smtp: SmtpSink) -> Received:
    received = smtp.wait_for(1)
    assert len(received) == 1
    return received[0]


def test_template_send_reaches_smtp_header_by_header(mail: Api, smtp: SmtpSink) -> None:
    mail.identify("u1", email="ann@example.com", first_name="Ann")
    answer = send(
        mail,
        transactional_message_id=1,
        to="Ann <ann@example.com>",
        identifiers={"id": "u1"},
        message_data={"token": "T0K"},
        bcc="audit@acme.test",
        headers={"X-Campaign": "reset"},
    )
    delivery_id = answer["delivery_id"]
    assert set(answer) == {"delivery_id", "queued_at"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}==|[A-Za-z0-9_-]{23}=|[A-Za-z0-9_-]{24}", delivery_id)
    settle(mail)
    got = only(smtp)
    m = got.message
    assert got.mail_from == "noreply@acme.test"
    assert sorted(got.rcpt_tos) == ["ann@example.com", "audit@acme.test"]
    assert m["From"] == "Acme <noreply@acme.test>"
    assert m["To"] == "Ann <ann@example.com>"
    assert m["Bcc"] is None
    assert m["Reply-To"] == "help@acme.test"
    assert m["Subject"] == "Reset your password, Ann"
    assert m["X-CIO-Delivery-ID"] == delivery_id
    assert m["X-Campaign"] == "reset"
    assert m["List-Unsubscribe"] == f"<http://patron.test/unsubscribe/{delivery_id}>"
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert delivery_id.rstrip("=") in m["Message-ID"]
    assert m.get_content_type() == "multipart/alternative"
    html = got.part("text/html")
    text = got.part("text/plain")
    assert "Hi Ann," in html and "Hi Ann," in text
    assert f"id={delivery_id}" in html
    assert "It takes a minute" in html  # preheader
    assert 'style="color: red' in html.replace("'", '"')  # CSS inlined
    assert "https://acme.test/reset?t=T0K" not in html  # tracked: rewritten
    assert 'href="https://acme.test/help"' in html  # class=untracked stays
    assert "/e/o/" in html  # open pixel
    assert "https://acme.test/reset?t=T0K" in text  # the text part keeps real links
    stored = message(mail, delivery_id)
    assert stored["type"] == "email"
    assert stored["message_template_id"] == stored["msg_template_id"] == 1
    assert stored["recipient"] == "Ann <ann@example.com>"
    assert stored["subject"] == "Reset your password, Ann"
    assert set(stored["metrics"]) == {"sent"}
    assert stored["customer_identifiers"]["id"] == "u1"
    assert stored["forgotten"] is False


def test_click_open_and_tampered_links(mail: Api, smtp: SmtpSink) -> None:
    mail.identify("u2", email="bo@example.com", first_name="Bo")
    delivery_id = send(
        mail,
        transactional_message_id="password reset",  # trigger names are case-insensitive
        to="bo@example.com",
        identifiers={"email": "bo@example.com"},
        message_data={"token": "abc"},
    )["delivery_id"]
    settle(mail)
    html = only(smtp).part("text/html")
    links = re.findall(r"href=['\"]([^'\"]+/e/c/[^'\"]+)['\"]", html)
    assert len(links) == 1
    path = urlsplit(links[0]).path
    clicked = mail.http.get(path, follow_redirects=False)
    assert clicked.status_code == 302
    assert clicked.headers["location"] == "https://acme.test/reset?t=abc"
    token, sig = path.split("/")[3:5]
    tampered = mail.http.get(f"/e/c/{token}/{'0' * len(sig)}", follow_redirects=False)
    assert tampered.status_code == 400
    assert "location" not in tampered.headers
    forged = base64.urlsafe_b64encode(
        f'{{"email_id":"{delivery_id}","href":"https://evil.test","link_id":1}}'.encode()
    ).decode()
    assert mail.http.get(f"/e/c/{forged}/{sig}", follow_redirects=False).status_code == 400
    pixel = re.search(r"src=['\"][^'\"]*(/e/o/[^'\"]+)['\"]", html)
    assert pixel is not None
    opened = mail.http.get(pixel.group(1))
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    metrics = message(mail, delivery_id)["metrics"]
    assert {"sent", "clicked", "opened"} <= set(metrics)


def test_one_click_unsubscribe_and_send_to_unsubscribed(mail: Api, smtp: SmtpSink) -> None:
    mail.identify("u3", email="cy@example.com", first_name="Cy")
    first = send(
        mail,
        transactional_message_id=1,
        to="cy@example.com",
        identifiers={"id": "u3"},
        message_data={"token": "x"},
    )["delivery_id"]
    settle(mail)
    page = mail.http.get(f"/unsubscribe/{first}")
    assert page.status_code == 200 and "<form method='post'" in page.text
    one_click = mail.http.post(
        f"/unsubscribe/{first}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    person = mail.person("u3")
    assert person is not None and person["unsubscribed"] is True
    assert "unsubscribed" in message(mail, first)["metrics"]
    kinds = [a["type"] for a in mail.activities("u3")]
    assert "unsubscribed_email" in kinds
    # Transactional messages go to unsubscribed people by default ...
    again = send(
        mail,
        transactional_message_id=1,
        to="cy@example.com",
        identifiers={"id": "u3"},
        message_data={"token": "y"},
    )["delivery_id"]
    # ... unless the request or the template says otherwise.
    held = send(
        mail,
        transactional_message_id=1,
        to="cy@example.com",
        identifiers={"id": "u3"},
        message_data={"token": "z"},
        send_to_unsubscribed=False,
    )["delivery_id"]
    by_template = send(
        mail, transactional_message_id=2, to="cy@example.com", identifiers={"id": "u3"}
    )["delivery_id"]
    settle(mail)
    assert len(smtp.wait_for(2)) == 2
    assert "sent" in message(mail, again)["metrics"]
    for refused in (held, by_template):
        found = message(mail, refused)
        assert "undeliverable" in found["metrics"] and "sent" not in found["metrics"]
        assert "unsubscribed" in found["failure_message"]


def test_topic_unsubscribe_blocks_the_topic_only(mail: Api, smtp: SmtpSink) -> None:
    mail.identify(
        "u4",
        email="di@example.com",
        first_name="Di",
        cio_subscription_preferences={"topics": {"topic_1": False}},
    )
    news = send(mail, transactional_message_id=2, to="di@example.com", identifiers={"id": "u4"})[
        "delivery_id"
    ]
    reset = send(
        mail,
        transactional_message_id=1,
        to="di@example.com",
        identifiers={"id": "u4"},
        message_data={"token": "t"},
    )["delivery_id"]
    settle(mail)
    assert len(smtp.wait_for(1)) == 1
    assert "topic 1" in message(mail, news)["failure_message"]
    assert "sent" in message(mail, reset)["metrics"]


def test_missing_liquid_variable_fails_the_delivery(mail: Api, smtp: SmtpSink) -> None:
    mail.identify("u5", email="ed@example.com")
    delivery_id = send(
        mail, transactional_message_id=3, to="ed@example.com", identifiers={"id": "u5"}
    )["delivery_id"]
    settle(mail)
    found = message(mail, delivery_id)
    assert found["failure_message"] == "Variable 'customer.eemail' is missing"
    assert "failed" in found["metrics"] and "sent" not in found["metrics"]
    assert smtp.messages == []


def test_hard_bounce_suppresses_the_address(mail: Api, smtp: SmtpSink) -> None:
    smtp.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    body = {
        "to": "gone@example.com",
        "subject": "Hi",
        "body": "<p>Hi</p>",
        "identifiers": {"email": "gone@example.com"},
    }
    first = send(mail, **body)["delivery_id"]
    settle(mail)
    bounced = message(mail, first)
    assert "bounced" in bounced["metrics"], bounced["failure_message"]
    assert "550" in bounced["failure_message"]
    del smtp.rcpt_replies["gone@example.com"]
    second = send(mail, **body)["delivery_id"]
    settle(mail)
    assert "undeliverable" in message(mail, second)["metrics"]
    assert smtp.messages == []


def test_transient_failure_is_retried_on_the_clock(mail: Api, smtp: SmtpSink) -> None:
    smtp.data_replies.append("451 4.3.0 Try again later")
    mail.app("POST", "/__patron/clock", {"freeze": True})
    delivery_id = send(mail, to="fi@example.com", subject="S", body="<p>B</p>")["delivery_id"]
    settle(mail)
    assert smtp.messages == []
    found = message(mail, delivery_id)
    assert "451" in found["failure_message"] and "sent" not in found["metrics"]
    mail.app("POST", "/__patron/clock", {"advance": 31})
    settle(mail)
    assert len(smtp.wait_for(1)) == 1
    assert "sent" in message(mail, delivery_id)["metrics"]


def test_send_at_waits_for_the_clock_and_drafts_wait_for_release(mail: Api, smtp: SmtpSink) -> None:
    now = mail.app("POST", "/__patron/clock", {"freeze": True}).json()["now"]
    later = send(mail, to="gi@example.com", subject="Later", body="<p>x</p>", send_at=now + 3600)
    assert later["send_at"] == now + 3600
    draft = send(mail, to="gi@example.com", subject="Draft", body="<p>x</p>", queue_draft=True)
    settle(mail)
    assert smtp.messages == []
    assert "drafted" in message(mail, draft["delivery_id"])["metrics"]
    mail.app("POST", "/__patron/clock", {"advance": 3600})
    settle(mail)
    assert [m.message["Subject"] for m in smtp.wait_for(1)] == ["Later"]


def test_languages_and_uncategorized_sends(mail: Api, smtp: SmtpSink) -> None:
    mail.identify("u6", email="hu@example.com", first_name="Hu")
    send(
        mail,
        transactional_message_id=1,
        to="hu@example.com",
        identifiers={"id": "u6"},
        message_data={"token": "t"},
        language="fr",
    )
    settle(mail)
    assert only(smtp).message["Subject"] == "Réinitialisez, Hu"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"subject": "x", "body": "y"}, 400, "to is required"),
        ({"to": "a@example.com", "transactional_message_id": 99}, 400, "99 does not exist"),
        ({"to": "a@example.com", "transactional_message_id": "nope"}, 400, "auto_create"),
        ({"to": "not an address", "subject": "x", "body": "y"}, 400, "to:"),
        (
            {"to": "a@example.com", "subject": "x", "body": "y", "attachments": {"a.txt": "%%"}},
            400,
            'Attachment must be base64 encoded: "a.txt"',
        ),
        (
            {"to": "a@example.com", "subject": "x", "body": "y", "attachments": {"a.exe": "AAAA"}},
            403,
            "Forbidden file type",
        ),
        (
            {
                "to": "a@example.com",
                "subject": "x",
                "body": "y",
                "attachments": {"a.bin": base64.b64encode(b"0" * 2_100_000).decode()},
            },
            413,
            "Total attachment size exceeds the limit",
        ),
        ({"to": "a@example.com", "subject": "x", "body": "y", "send_at": "soon"}, 400, "send_at"),
        (
            {"to": "a@example.com", "subject": "x", "body": "y", "headers": {"Bcc": "x@y.z"}},
            400,
            "headers",
        ),
    ],
)
def test_bad_requests_get_the_send_error_shape(
    mail: Api, body: dict[str, Any], status: int, error: str
) -> None:
    response = mail.app("POST", "/v1/send/email", body)
    assert response.status_code == status, response.text
    assert error in response.json()["meta"]["error"]


def test_auto_create_and_unknown_people_are_created(mail: Api, smtp: SmtpSink) -> None:
    answer = send(
        mail,
        transactional_message_id="Welcome Aboard",
        auto_create=True,
        to="new@example.com",
        identifiers={"email": "new@example.com"},
        **{"from": "x@acme.test"},
        subject="Welcome",
        body="<p>Hi</p>",
    )
    settle(mail)
    assert mail.person("new@example.com", id_type="email") is not None
    listed = mail.app("GET", "/v1/transactional").json()["messages"]
    created = [m for m in listed if m["name"] == "Welcome Aboard"]
    assert len(created) == 1
    assert message(mail, answer["delivery_id"])["message_template_id"] == created[0]["id"]


def test_attachments_arrive_whole(mail: Api, smtp: SmtpSink) -> None:
    data = bytes(range(256)) * 10
    send(
        mail,
        to="at@example.com",
        subject="File",
        body="<p>see</p>",
        cc="cc@example.com",
        attachments={"report.pdf": base64.b64encode(data).decode()},
    )
    settle(mail)
    got = only(smtp)
    assert sorted(got.rcpt_tos) == ["at@example.com", "cc@example.com"]
    assert got.message["Cc"] == "cc@example.com"
    files = [p for p in got.message.iter_attachments()]
    assert [(p.get_filename(), p.get_content_type()) for p in files] == [
        ("report.pdf", "application/pdf")
    ]
    assert files[0].get_content() == data


def test_replayed_request_is_not_sent_twice(mail: Api, smtp: SmtpSink) -> None:
    body = {"to": "re@example.com", "subject": "Once", "body": "<p>x</p>"}
    first = send(mail, **body)
    replay = mail.app("POST", "/v1/send/email", body, headers={"X-Retry-Count": "1"})
    assert replay.json()["delivery_id"] == first["delivery_id"]
    settle(mail)
    assert len(smtp.wait_for(1)) == 1


def test_retention_off_forgets_the_content(mail: Api, smtp: SmtpSink) -> None:
    kept = send(mail, to="k@example.com", subject="Kept", body="<p>secret-1</p>")
    gone = send(
        mail,
        to="k@example.com",
        subject="Gone",
        body="<p>secret-2</p>",
        disable_message_retention=True,
    )
    settle(mail)
    assert len(smtp.wait_for(2)) == 2  # both were sent
    archived = mail.app("GET", f"/v1/messages/{kept['delivery_id']}/archived_message").json()
    assert "secret-1" in archived["archived_message"]["body"]
    assert archived["archived_message"]["forgotten"] is False
    forgotten = mail.app("GET", f"/v1/messages/{gone['delivery_id']}/archived_message").json()
    assert forgotten["archived_message"]["body"] == ""
    assert forgotten["archived_message"]["forgotten"] is True
    assert message(mail, gone["delivery_id"])["forgotten"] is True


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in (1..100000000) %}{{ i }}{% endfor %}",
        "{% for i in (1..3000) %}{% for j in (1..3000) %}x{% endfor %}{% endfor %}",
        "{% if %}",
    ],
)
def test_hostile_liquid_fails_the_delivery_and_the_worker_goes_on(
    mail: Api, smtp: SmtpSink, body: str
) -> None:
    bad = send(mail, to="h@example.com", subject="Bad", body=body)["delivery_id"]
    good = send(mail, to="h@example.com", subject="Good", body="<p>fine</p>")["delivery_id"]
    settle(mail)
    assert [m.message["Subject"] for m in smtp.wait_for(1)] == ["Good"]
    failed = message(mail, bad)
    assert "failed" in failed["metrics"] and failed["failure_message"]
    assert "sent" in message(mail, good)["metrics"]


def test_reported_bounce_and_spam_suppress_the_address(mail: Api, smtp: SmtpSink) -> None:
    first = send(mail, to="sp@example.com", subject="One", body="<p>1</p>")["delivery_id"]
    settle(mail)
    response = mail.track("POST", "/api/v1/metrics", {"delivery_id": first, "metric": "spammed"})
    assert response.status_code == 200, response.text
    second = send(mail, to="SP@example.com", subject="Two", body="<p>2</p>")["delivery_id"]
    settle(mail)
    assert len(smtp.wait_for(1)) == 1
    assert "spammed" in message(mail, first)["metrics"]
    assert "suppressed" in message(mail, second)["failure_message"]


def test_unknown_message_reads_are_404(mail: Api) -> None:
    assert mail.app("GET", "/v1/messages/nope").status_code == 404
    assert mail.app("GET", "/v1/transactional/999").status_code == 404
    assert mail.app("GET", "/v1/transactional/abc").status_code == 404
    assert mail.app("GET", "/v1/messages", params={"metric": "nope"}).status_code == 400


def test_messages_list_filters_and_pages(mail: Api, smtp: SmtpSink) -> None:
    mail.identify("u9", email="li@example.com", first_name="Li")
    ids = [
        send(
            mail,
            transactional_message_id=1,
            to="li@example.com",
            identifiers={"id": "u9"},
            message_data={"token": str(n)},
        )["delivery_id"]
        for n in range(3)
    ]
    send(mail, to="other@example.com", subject="x", body="<p>x</p>")
    settle(mail)
    first = mail.app("GET", "/v1/customers/u9/messages", params={"limit": 2}).json()
    assert [m["id"] for m in first["messages"]] == ids[::-1][:2]
    rest = mail.app(
        "GET", "/v1/customers/u9/messages", params={"limit": 2, "start": first["next"]}
    ).json()
    assert [m["id"] for m in rest["messages"]] == ids[:1] and rest["next"] == ""
    by_template = mail.app("GET", "/v1/transactional/1/messages").json()["messages"]
    assert sorted(m["id"] for m in by_template) == sorted(ids)
    sent = mail.app("GET", "/v1/messages", params={"metric": "sent", "limit": 100}).json()
    assert len(sent["messages"]) == 4
