"""A transactional message's content and metrics on the App API: contents, content and
language updates (then sent as updated), metrics series and link metrics from real sends,
clicks and the dev clock; SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
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
            "name": "Password Reset",
            "from": "Acme <noreply@acme.test>",
            "reply_to": "help@acme.test",
            "subject": "Reset, {{ customer.first_name }}",
            "preheader": "One minute",
            "body": (
                "<p>Hi {{ customer.first_name }}</p>"
                "<a href='https://acme.test/reset?t={{ trigger.t }}'>Reset</a> "
                "<a href='https://acme.test/help'>Help</a>"
            ),
            "headers": {"X-Kind": "reset"},
            "languages": {"fr": {"subject": "Réinitialisez, {{ customer.first_name }}"}},
        },
        {"id": 2, "name": "push one", "channel": "push", "title": "Hi", "message": "There"},
    ]
}
DAY = 86400
T0 = 1_800_000_000 - 1_800_000_000 % DAY + 12 * 3600  # noon UTC


@pytest.fixture
def tx(database: Database) -> Iterator[Api]:
    creds = new_workspace(database)
    with in_process(database, dev=True, public_url="http://patron.test") as http:
        api = Api(http, creds)
        assert api.app("POST", "/__patron/apply", DOC).status_code == 200
        yield api


def ok(api: Api, method: str, path: str, body: Any = None, **params: Any) -> Any:
    response = api.app(method, path, body, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def send(api: Api, **body: Any) -> str:
    delivery_id: str = ok(api, "POST", "/v1/send/email", body)["delivery_id"]
    return delivery_id


def settle(api: Api) -> None:
    assert ok(api, "POST", "/__patron/settle", {"timeout": 20}) == {"settled": True}


def captured(api: Api, delivery_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(api, "GET", f"/__patron/messages/{delivery_id}")
    return found


def test_contents_one_variant_per_language(tx: Api) -> None:
    contents = ok(tx, "GET", "/v1/transactional/1/contents")["contents"]
    assert [c["language"] for c in contents] == ["", "fr"]
    default, french = contents
    assert isinstance(default["id"], int) and default["id"] != french["id"]
    assert set(default) == {
        "id", "name", "created", "updated", "body", "language", "type", "from", "from_id",
        "reply_to", "reply_to_id", "preprocessor", "recipient", "subject", "cc", "bcc",
        "fake_bcc", "preheader_text", "body_amp", "headers",
    }  # fmt: skip
    assert default["name"] == "Password Reset"
    assert default["type"] == "email"
    assert default["from"] == "Acme <noreply@acme.test>"
    assert default["reply_to"] == "help@acme.test"
    assert default["subject"] == "Reset, {{ customer.first_name }}"
    assert default["preheader_text"] == "One minute"
    assert default["preprocessor"] == "premailer"
    assert default["from_id"] is None and default["reply_to_id"] is None
    assert default["fake_bcc"] is None and default["body_amp"] is None
    assert json.loads(default["headers"]) == [{"name": "X-Kind", "value": "reset"}]
    assert isinstance(default["created"], int) and isinstance(default["updated"], int)
    # A language shows what is sent in it: its own fields over the default's.
    assert french["subject"].startswith("Réinitialisez")
    assert french["body"] == default["body"]
    missing = tx.app("GET", "/v1/transactional/99/contents")
    assert missing.status_code == 404
    assert missing.json() == {"meta": {"error": "The transactional message does not exist."}}


def test_put_content_overwrites_the_variant_and_is_sent(tx: Api) -> None:
    default_id = ok(tx, "GET", "/v1/transactional/1/contents")["contents"][0]["id"]
    body = {
        "subject": "New subject for {{ customer.first_name }}",
        "body": "<p>New body</p>",
        "from": "Team <team@acme.test>",
        "preheader_text": "Fresh",
        "recipient": "{{ customer.email }}",
        "headers": [{"name": "X-Version", "value": "2"}],
        "from_id": 3,  # Patron has no sender identities: ignored
        "id": default_id,  # read-only fields sent back as read are ignored
    }
    answer = ok(tx, "PUT", f"/v1/transactional/1/content/{default_id}", body)
    [variant] = answer["content"]
    assert variant["id"] == default_id and variant["language"] == ""
    assert variant["subject"] == body["subject"]
    assert variant["from"] == "Team <team@acme.test>"
    assert variant["reply_to"] == ""  # fully overwritten: not in the body, so gone
    assert variant["recipient"] == "{{ customer.email }}"
    assert json.loads(variant["headers"]) == [{"name": "X-Version", "value": "2"}]
    assert ok(tx, "GET", "/v1/transactional/1/contents")["contents"][0] == variant
    tx.identify("u1", email="ann@example.com", first_name="Ann")
    sent = send(tx, transactional_message_id=1, to="ann@example.com", identifiers={"id": "u1"})
    settle(tx)
    got = captured(tx, sent)
    assert got["subject"] == "New subject for Ann"
    assert got["from"] == "Team <team@acme.test>"
    assert got["reply_to"] is None
    assert ["X-Version", "2"] in got["headers"]
    assert "New body" in got["html"]
    # Headers as an object work too; a PUT that changes nothing keeps the update time.
    again = ok(
        tx,
        "PUT",
        f"/v1/transactional/1/content/{default_id}",
        {**body, "headers": {"X-Version": "2"}},
    )["content"][0]
    assert again == variant


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/v1/transactional/1/content/999999", {"body": "x"}, 404, "do not exist"),
        ("/v1/transactional/99/content/1", {"body": "x"}, 404, "do not exist"),
        ("/v1/transactional/x/content/1", {"body": "x"}, 404, "do not exist"),
        ("/v1/transactional/1/content/{id}", {"body": 5}, 400, "body must be a string"),
        ("/v1/transactional/1/content/{id}", {"bodi": "x"}, 400, "unknown field 'bodi'"),
        ("/v1/transactional/1/content/{id}", {"headers": "nope"}, 400, "headers"),
        ("/v1/transactional/1/content/{id}", {"headers": {"Bcc": "a@b.c"}}, 400, "headers"),
        ("/v1/transactional/2/language/fr", {"body": "x"}, 400, "push message"),
        ("/v1/transactional/1/language/x", {"body": "x"}, 400, "language"),
    ],
)
def test_bad_updates(tx: Api, path: str, body: Any, status: int, error: str) -> None:
    default_id = ok(tx, "GET", "/v1/transactional/1/contents")["contents"][0]["id"]
    response = tx.app("PUT", path.format(id=default_id), body)
    assert response.status_code == status, response.text
    assert error in response.json()["meta"]["error"]
    assert ok(tx, "GET", "/v1/transactional/1/contents")["contents"][0]["body"].startswith("<p>Hi")


def test_languages_read_and_created(tx: Api) -> None:
    [french] = ok(tx, "GET", "/v1/transactional/1/language/fr")["content"]
    assert french["language"] == "fr" and french["subject"].startswith("Réinitialisez")
    unknown = tx.app("GET", "/v1/transactional/1/language/de")
    assert unknown.status_code == 400
    assert unknown.json() == {"meta": {"error": "The `language` in your request does not exist."}}
    assert tx.app("GET", "/v1/transactional/99/language/fr").status_code == 404
    [german] = ok(
        tx,
        "PUT",
        "/v1/transactional/1/language/de",
        {"subject": "Zurücksetzen, {{ customer.first_name }}", "body": "<p>Hallo</p>"},
    )["content"]
    assert german["language"] == "de" and isinstance(german["id"], int)
    assert german["from"] == "Acme <noreply@acme.test>"  # the default's, where de has none
    assert ok(tx, "GET", "/v1/transactional/1/language/de")["content"] == [german]
    languages = [c["language"] for c in ok(tx, "GET", "/v1/transactional/1/contents")["contents"]]
    assert languages == ["", "de", "fr"]
    tx.identify("u1", email="ann@example.com", first_name="Ann")
    sent = send(
        tx,
        transactional_message_id=1,
        to="ann@example.com",
        identifiers={"id": "u1"},
        language="de",
    )
    settle(tx)
    got = captured(tx, sent)
    assert got["subject"] == "Zurücksetzen, Ann"
    assert "Hallo" in got["html"]


def click_first_link(api: Api, delivery_id: str) -> None:
    link = captured(api, delivery_id)["links"][0]
    assert link["tracked"], link
    assert api.http.get(urlsplit(link["href"]).path, follow_redirects=False).status_code == 302


def test_metrics_count_per_period_and_link_metrics(tx: Api) -> None:
    ok(tx, "POST", "/__patron/clock", {"set": T0, "freeze": True})
    for n, name in enumerate(("Ann", "Bo", "Cy")):
        tx.identify(f"u{n}", email=f"{name.lower()}@example.com", first_name=name)

    def reset(n: int, **extra: Any) -> str:
        who = {"id": f"u{n}"}
        to = f"{('ann', 'bo', 'cy')[n]}@example.com"
        data = {"t": "abc"[n]}
        return send(
            tx, transactional_message_id=1, to=to, identifiers=who, message_data=data, **extra
        )

    first = reset(0)
    second = reset(1)
    send(tx, to="x@example.com", subject="not this template", body="<p>x</p>")
    settle(tx)
    click_first_link(tx, first)
    click_first_link(tx, first)
    ok(tx, "POST", "/__patron/clock", {"advance": DAY})
    click_first_link(tx, second)
    third = reset(2, send_at=T0 + DAY + 60)
    settle(tx)
    ok(tx, "POST", "/__patron/clock", {"advance": 120})
    settle(tx)
    series = ok(tx, "GET", "/v1/transactional/1/metrics", period="days", steps=3)["metric"][
        "series"
    ]
    assert series["created"] == [0, 2, 1]
    assert series["sent"] == [0, 2, 1]
    assert series["clicked"] == [0, 1, 1]  # each delivery counts once per metric
    assert series["opened"] == [0, 0, 0]
    assert set(series) >= {"delivered", "bounced", "failed", "undeliverable", "unsubscribed"}
    default = ok(tx, "GET", "/v1/transactional/1/metrics")["metric"]["series"]
    assert len(default["sent"]) == 45 and default["sent"][-2:] == [2, 1]
    hours = ok(tx, "GET", "/v1/transactional/1/metrics", period="hours", steps=24)
    assert sum(hours["metric"]["series"]["sent"]) == 1  # the third, a day after the others
    links = ok(tx, "GET", "/v1/transactional/1/metrics/links", period="days", steps=3)
    assert links == {
        "links": [
            {
                "link": {"id": 1, "href": "https://acme.test/reset?t=b"},
                "metric": {"series": {"clicked": [0, 2, 1]}},
            }
        ]
    }
    unique = ok(
        tx, "GET", "/v1/transactional/1/metrics/links", period="days", steps=3, unique="true"
    )
    assert unique["links"][0]["metric"]["series"]["clicked"] == [0, 1, 1]
    assert third  # sent on the second day
    v2 = ok(
        tx,
        "GET",
        "/v1/transactional/1/metrics",
        version="2",
        res="daily",
        start=str(T0 - 12 * 3600),
        end=str(T0 + DAY + 12 * 3600),
    )
    assert v2["start"] == "2027-01-15 00:00:00 +0000 UTC"
    assert v2["end"] == "2027-01-17 00:00:00 +0000 UTC"
    assert v2["res"] == "days"
    assert v2["metric"]["series"]["sent"] == [2, 1]
    new_york = ok(
        tx,
        "GET",
        "/v1/transactional/1/metrics",
        version="2",
        res="days",
        start=str(T0 - 12 * 3600),
        end=str(T0 + DAY + 12 * 3600),
        tz="America/New_York",
    )
    assert new_york["start"].endswith("-0500 EST")
    assert sum(new_york["metric"]["series"]["sent"]) == 3


@pytest.mark.parametrize(
    "params",
    [
        {"period": "years"},
        {"period": "hours", "steps": "25"},
        {"period": "days", "steps": "0"},
        {"steps": "x"},
        {"version": "2"},
        {"version": "2", "res": "days", "start": "10", "end": "5"},
        {"version": "2", "res": "minutes", "start": "0", "end": "5"},
        {"version": "2", "res": "hours", "start": "0", "end": str(20 * 366 * DAY)},
        {"version": "2", "res": "hours", "start": "0", "end": str(3 * 366 * DAY)},
        {"version": "2", "res": "days", "start": "0", "end": "5", "tz": "Mars/Base"},
    ],
)
def test_bad_metrics_requests(tx: Api, params: dict[str, str]) -> None:
    response = tx.app("GET", "/v1/transactional/1/metrics", params=params)
    assert response.status_code == 400, response.text
    assert "meta" in response.json()


def test_metrics_of_an_unknown_message(tx: Api) -> None:
    for path in ("/v1/transactional/99/metrics", "/v1/transactional/99/metrics/links"):
        response = tx.app("GET", path)
        assert response.status_code == 404
        assert response.json() == {"meta": {"error": "The transactional message does not exist."}}


def test_other_workspaces_see_nothing(tx: Api, database: Database) -> None:
    other = Api(tx.http, new_workspace(database))
    assert other.app("GET", "/v1/transactional/1/contents").status_code == 404
    default_id = ok(tx, "GET", "/v1/transactional/1/contents")["contents"][0]["id"]
    ok(other, "POST", "/__patron/apply", {"transactional": [{"id": 1, "name": "x", "body": "b"}]})
    response = other.app("PUT", f"/v1/transactional/1/content/{default_id}", {"body": "stolen"})
    assert response.status_code == 404
    assert ok(tx, "GET", "/v1/transactional/1/contents")["contents"][0]["body"].startswith("<p>Hi")


@pytest.mark.parametrize(
    "params",
    [
        {"end_ts": str(2**70)},
        {"transactional_id": "-" + "9" * 30},
        {"start": base64.urlsafe_b64encode(b"9" * 30).decode()},
    ],
)
def test_message_listings_refuse_numbers_no_key_can_hold(tx: Api, params: dict[str, str]) -> None:
    for path in ("/v1/messages", "/v1/transactional/1/messages", "/v1/customers/u1/messages"):
        tx.identify("u1")
        response = tx.app("GET", path, params=params)
        assert response.status_code == 400, (path, response.text)
        assert "meta" in response.json()
