"""The dev inbox (``/__patron/messages``): what the capture provider kept, listed, filtered,
waited for and read in detail, on SQLite and PostgreSQL; and reset, snapshots and restore
carry it along with the deliveries."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from patron.store.database import Database
from support import Api, in_process, new_workspace

DOC: dict[str, Any] = {
    "transactional": [
        {
            "id": 1,
            "name": "welcome",
            "from": "Acme <hello@acme.test>",
            "reply_to": "help@acme.test",
            "subject": "Welcome, {{ customer.first_name }}",
            "body": (
                "<p>Hi {{ customer.first_name }}, your code is {{ trigger.code }}.</p>"
                "<p><a href='https://acme.test/start?c={{ trigger.code }}'>Start</a> "
                "<a class='untracked' href='https://acme.test/help'>Help</a> "
                "<a href='mailto:help@acme.test'>Mail us</a></p>"
            ),
        }
    ]
}


@pytest.fixture
def inbox(database: Database) -> Iterator[Api]:
    """A dev-mode Patron whose email goes to the capture provider (no SMTP URL)."""
    creds = new_workspace(database)
    with in_process(database, dev=True, public_url="http://patron.test") as http:
        api = Api(http, creds)
        assert api.app("POST", "/__patron/apply", DOC).status_code == 200
        yield api


def send(api: Api, **body: Any) -> str:
    response = api.app("POST", "/v1/send/email", body)
    assert response.status_code == 200, response.text
    delivery_id: str = response.json()["delivery_id"]
    return delivery_id


def settle(api: Api) -> None:
    assert api.app("POST", "/__patron/settle", {"timeout": 20}).json() == {"settled": True}


def listed(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = api.app("GET", "/__patron/messages", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["messages"]
    return items


def welcome(api: Api, person: str, email: str, name: str, code: str, **extra: Any) -> str:
    api.identify(person, email=email, first_name=name)
    return send(
        api,
        transactional_message_id=1,
        to=email,
        identifiers={"id": person},
        message_data={"code": code},
        **extra,
    )


def test_list_is_newest_first_and_filters(inbox: Api) -> None:
    first = welcome(inbox, "u1", "ann@example.com", "Ann", "A1")
    settle(inbox)
    second = welcome(inbox, "u2", "bo@example.com", "Bo", "B2", bcc="audit@acme.test")
    third = send(inbox, to="Cy <cy@example.com>", subject="Receipt 42", body="<p>Paid: 9.50</p>")
    settle(inbox)
    items = listed(inbox)
    assert {i["delivery_id"] for i in items} == {first, second, third}
    assert items[-1]["delivery_id"] == first  # newest first
    one = next(i for i in items if i["delivery_id"] == second)
    assert one["channel"] == "email"
    assert one["to"] == ["bo@example.com"]
    assert sorted(one["recipients"]) == ["audit@acme.test", "bo@example.com"]
    assert one["from"] == "Acme <hello@acme.test>"
    assert one["subject"] == "Welcome, Bo"
    assert one["snippet"].startswith("Hi Bo, your code is B2.")
    assert isinstance(one["created"], int)
    assert [i["delivery_id"] for i in listed(inbox, to="ANN@")] == [first]
    assert [i["delivery_id"] for i in listed(inbox, to="audit@acme.test")] == [second]
    assert [i["delivery_id"] for i in listed(inbox, subject="receipt")] == [third]
    assert [i["delivery_id"] for i in listed(inbox, text="paid: 9.50")] == [third]
    # text looks in the HTML part too (the tracked link's markup is only there)
    assert {i["delivery_id"] for i in listed(inbox, text="class=")} == {first, second}
    assert [i["delivery_id"] for i in listed(inbox, delivery_id=second)] == [second]
    assert len(listed(inbox, limit=2)) == 2
    assert listed(inbox, subject="welcome", to="cy@") == []
    for bad in ({"limit": "0"}, {"limit": "x"}, {"wait": "31"}, {"wait": "soon"}):
        response = inbox.app("GET", "/__patron/messages", params=bad)
        assert response.status_code == 400, bad
        assert "meta" in response.json()


def test_detail_headers_parts_links_and_attachments(inbox: Api) -> None:
    data = b"%PDF-1.4 " + bytes(range(256))
    delivery_id = welcome(
        inbox,
        "u1",
        "ann@example.com",
        "Ann",
        "Z9",
        attachments={"terms.pdf": base64.b64encode(data).decode()},
        headers={"X-Campaign": "onboarding"},
    )
    settle(inbox)
    response = inbox.app("GET", f"/__patron/messages/{delivery_id}")
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["delivery_id"] == delivery_id
    assert got["subject"] == "Welcome, Ann"
    assert got["reply_to"] == "help@acme.test"
    headers = dict((name.lower(), value) for name, value in got["headers"])
    assert headers["x-campaign"] == "onboarding"
    assert headers["x-cio-delivery-id"] == delivery_id
    assert all(isinstance(pair, list) and len(pair) == 2 for pair in got["headers"])
    assert "Hi Ann, your code is Z9." in got["text"]
    assert 'href="https://acme.test/help"' in got["html"]
    assert got["raw"].startswith(got["headers"][0][0] + ":")
    assert f"X-CIO-Delivery-ID: {delivery_id}" in got["raw"]
    assert got["attachments"] == [
        {"name": "terms.pdf", "content_type": "application/pdf", "size": len(data)}
    ]
    assert got["list_unsubscribe"] == f"<http://patron.test/unsubscribe/{delivery_id}>"
    assert got["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
    links = got["links"]
    assert [(link["tracked"], link["url"], link["link_id"]) for link in links] == [
        (True, "https://acme.test/start?c=Z9", 1),
        (False, None, None),
        (False, None, None),
    ]
    assert links[0]["href"].startswith("http://patron.test/e/c/")
    assert [link["href"] for link in links[1:]] == [
        "https://acme.test/help",
        "mailto:help@acme.test",
    ]
    # The decoded URL is where the tracked link really goes.
    clicked = inbox.http.get(urlsplit(links[0]["href"]).path, follow_redirects=False)
    assert clicked.headers["location"] == links[0]["url"]
    missing = inbox.app("GET", "/__patron/messages/nope")
    assert missing.status_code == 404
    assert "nope" in missing.json()["meta"]["error"]


def test_a_tampered_tracking_link_is_not_reported_as_tracked(inbox: Api) -> None:
    href = "http://patron.test/e/c/eyJlbWFpbF9pZCI6IngiLCJocmVmIjoiaHR0cHM6Ly9ldmlsLnRlc3QiLCJsaW5rX2lkIjoxfQ/00"
    send(inbox, to="x@example.com", subject="S", body=f"<a href='{href}'>x</a>", tracked=False)
    settle(inbox)
    [item] = listed(inbox)
    [link] = inbox.app("GET", f"/__patron/messages/{item['delivery_id']}").json()["links"]
    assert link == {"href": href, "tracked": False, "url": None, "link_id": None}


def test_wait_blocks_until_a_match_arrives(inbox: Api) -> None:
    started = time.monotonic()
    assert listed(inbox, wait="0.3s", to="late@") == []
    assert 0.3 <= time.monotonic() - started < 5
    answers: list[list[dict[str, Any]]] = []

    def wait_for_it() -> None:
        answers.append(listed(inbox, wait=20, to="late@example.com"))

    waiter = threading.Thread(target=wait_for_it)
    started = time.monotonic()
    waiter.start()
    time.sleep(0.3)
    send(inbox, to="other@example.com", subject="Not this one", body="<p>x</p>")
    settle(inbox)
    time.sleep(0.2)
    assert waiter.is_alive()  # a message that does not match does not end the wait
    delivery_id = send(inbox, to="late@example.com", subject="Late", body="<p>x</p>")
    waiter.join(timeout=20)
    assert not waiter.is_alive()
    assert [i["delivery_id"] for i in answers[0]] == [delivery_id]
    assert time.monotonic() - started < 15


def test_delete_clears_only_this_workspace(inbox: Api, database: Database) -> None:
    other = Api(inbox.http, new_workspace(database))
    send(inbox, to="a@example.com", subject="Mine", body="<p>x</p>")
    send(other, to="b@example.com", subject="Theirs", body="<p>x</p>")
    settle(inbox)
    settle(other)
    assert [i["subject"] for i in listed(inbox)] == ["Mine"]
    assert [i["subject"] for i in listed(other)] == ["Theirs"]
    assert inbox.app("DELETE", "/__patron/messages").json() == {"cleared": 1}
    assert listed(inbox) == []
    assert [i["subject"] for i in listed(other)] == ["Theirs"]


def test_reset_snapshot_and_restore_carry_messages_and_deliveries(inbox: Api) -> None:
    kept = send(inbox, to="a@example.com", subject="Kept", body="<p>x</p>")
    settle(inbox)
    assert inbox.app("POST", "/__patron/snapshot", {"name": "one"}).status_code == 200
    send(inbox, to="a@example.com", subject="Later", body="<p>x</p>")
    settle(inbox)
    assert len(listed(inbox)) == 2
    assert inbox.app("POST", "/__patron/restore", {"name": "one"}).status_code == 200
    assert [i["delivery_id"] for i in listed(inbox)] == [kept]
    messages = inbox.app("GET", "/v1/messages").json()["messages"]
    assert [m["id"] for m in messages] == [kept]
    assert inbox.app("GET", f"/__patron/messages/{kept}").json()["subject"] == "Kept"
    assert inbox.app("POST", "/__patron/reset", {}).status_code == 200
    assert listed(inbox) == []
    assert inbox.app("GET", "/v1/messages").json()["messages"] == []


def test_the_inbox_exists_in_dev_mode_only(database: Database) -> None:
    creds = new_workspace(database)
    with in_process(database) as http:
        api = Api(http, creds)
        assert api.app("GET", "/__patron/messages").status_code == 404
        assert api.app("DELETE", "/__patron/messages").status_code == 404
