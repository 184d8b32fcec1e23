"""Subscription topics, channels, a person's preferences, and the hosted subscription center
(token, page, form), next to the preferences page of a delivery; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from patron.store.database import Database
from support import Api, in_process, new_workspace

DOC: dict[str, Any] = {
    "subscription_topics": [
        {"id": 1, "name": "Product news", "description": "What we ship"},
        {"id": 2, "name": "Offers", "subscribed_by_default": False},
    ]
}
BAD_REQUEST = {"errors": [{"detail": "bad request", "status": "400"}]}


@pytest.fixture
def center(database: Database) -> Iterator[Api]:
    creds = new_workspace(database)
    with in_process(database, dev=True, public_url="http://patron.test") as http:
        api = Api(http, creds)
        assert api.app("POST", "/__patron/apply", DOC).status_code == 200
        yield api


def prefs(api: Api, person: str) -> dict[str, Any]:
    found = api.person(person)
    assert found is not None
    value: dict[str, Any] = json.loads(found["attributes"]["cio_subscription_preferences"])
    return value


def test_topics_and_channels(center: Api) -> None:
    assert center.app("GET", "/v1/subscription_topics").json() == {
        "topics": [
            {
                "id": 1,
                "identifier": "topic_1",
                "name": "Product news",
                "description": "What we ship",
                "subscribed_by_default": True,
            },
            {
                "id": 2,
                "identifier": "topic_2",
                "name": "Offers",
                "description": "",
                "subscribed_by_default": False,
            },
        ]
    }
    channels = center.app("GET", "/v1/subscription_channels").json()["channels"]
    assert channels[0] == {
        "id": 1,
        "name": "Email",
        "description": "Email messages",
        "subscribed_by_default": True,
        "type": "email",
    }
    assert [(c["id"], c["type"]) for c in channels] == [
        (1, "email"),
        (2, "twilio"),
        (3, "push"),
        (4, "in_app"),
    ]
    assert (
        center.app(
            "GET", "/v1/subscription_topics", headers={"Authorization": "Bearer x"}
        ).status_code
        == 401
    )


def test_a_persons_preferences_apply_defaults_and_choices(center: Api) -> None:
    center.identify(
        "u1",
        email="ann@example.com",
        cio_subscription_preferences={"topics": {"topic_1": False}, "channels": {"twilio": False}},
    )
    center.identify("u2")
    answer = center.app("GET", "/v1/customers/u1/subscription_preferences").json()["customer"]
    assert answer["id"] == "u1"
    assert answer["identifiers"]["email"] == "ann@example.com"
    assert answer["unsubscribed"] is False
    assert [(t["id"], t["identifier"], t["name"], t["subscribed"]) for t in answer["topics"]] == [
        (1, "topic_1", "Product news", False),
        (2, "topic_2", "Offers", False),
    ]
    assert answer["topics"][0]["description"] == "What we ship"
    assert [(c["type"], c["subscribed"]) for c in answer["channels"]] == [
        ("email", True),
        ("twilio", False),
        ("push", True),
        ("in_app", True),
    ]
    by_email = center.app(
        "GET",
        "/v1/customers/ann%40example.com/subscription_preferences",
        params={"id_type": "email", "language": "fr"},
    )
    assert by_email.json()["customer"]["topics"] == answer["topics"]
    defaults = center.app("GET", "/v1/customers/u2/subscription_preferences").json()["customer"]
    assert [t["subscribed"] for t in defaults["topics"]] == [True, False]
    missing = center.app("GET", "/v1/customers/nobody/subscription_preferences")
    assert missing.status_code == 404
    assert missing.json() == {"meta": {"error": "The customer_id does not exist."}}


def token_for(api: Api, person: str, **params: Any) -> dict[str, Any]:
    response = api.app("GET", f"/v1/subscription_center/{person}/token", params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def checked(page: str) -> dict[str, bool]:
    boxes = re.findall(r"<input type='checkbox' name='(\w+)'( checked)?>", page)
    return {name: bool(on) for name, on in boxes}


def test_subscription_center_token_page_and_form(center: Api) -> None:
    center.identify("u1", email="ann@example.com")
    answer = token_for(center, "u1")
    assert set(answer) == {"token", "url"}
    assert answer["url"] == f"http://patron.test/u/i/{answer['token']}/"
    path = urlsplit(answer["url"]).path
    page = center.http.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert checked(page.text) == {"topic_1": True, "topic_2": False, "unsubscribed": False}
    assert "Product news" in page.text and "What we ship" in page.text
    refused = center.http.post(path, json={"topic_1": "on"})  # not what the form sends
    assert refused.status_code == 400
    saved = center.http.post(path, data={"topic_2": "on"})
    assert saved.status_code == 200 and "saved" in saved.text
    assert prefs(center, "u1") == {"topics": {"topic_1": False, "topic_2": True}}
    assert checked(center.http.get(path).text) == {
        "topic_1": False,
        "topic_2": True,
        "unsubscribed": False,
    }
    # The API reads what the form wrote; a language in the path only labels the page.
    topics = center.app("GET", "/v1/customers/u1/subscription_preferences").json()["customer"]
    assert [t["subscribed"] for t in topics["topics"]] == [False, True]
    french = center.http.get(path + "fr")
    assert french.status_code == 200 and "<html lang='fr'>" in french.text
    center.http.post(path + "fr", data={"unsubscribed": "on"})
    person = center.person("u1")
    assert person is not None and person["unsubscribed"] is True
    by_cio = token_for(center, person["identifiers"]["cio_id"], id_type="cio_id")
    assert center.http.get(urlsplit(by_cio["url"]).path).status_code == 200


def test_tokens_expire_and_cannot_be_forged(center: Api, database: Database) -> None:
    center.identify("u1")
    now = center.app("POST", "/__patron/clock", {"freeze": True}).json()["now"]
    token = token_for(center, "u1")["token"]
    payload, sig = token.split(".")
    for bad in (f"{payload}.{'0' * len(sig)}", f"{payload}x.{sig}", "nonsense", f"{sig}.{payload}"):
        assert center.http.get(f"/u/i/{bad}/").status_code == 404, bad
        assert center.http.post(f"/u/i/{bad}/", data={"topic_1": "on"}).status_code == 404
    # A token of another workspace does not open this one's people, and the reverse.
    other = Api(center.http, new_workspace(database))
    other.identify("u1")
    theirs = token_for(other, "u1")["token"]
    forged = theirs.split(".")[0] + "." + sig
    assert center.http.get(f"/u/i/{forged}/").status_code == 404
    center.app("POST", "/__patron/clock", {"set": now + 24 * 3600 - 1})
    assert center.http.get(f"/u/i/{token}/").status_code == 200
    center.app("POST", "/__patron/clock", {"set": now + 24 * 3600})
    assert center.http.get(f"/u/i/{token}/").status_code == 404


def test_token_errors_use_the_errors_shape(center: Api) -> None:
    for path, params in (
        ("/v1/subscription_center/nobody/token", {}),
        ("/v1/subscription_center/u1/token", {"id_type": "bogus"}),
    ):
        response = center.app("GET", path, params=params)
        assert response.status_code == 400
        assert response.json() == BAD_REQUEST
    unauthorized = center.http.get("/v1/subscription_center/u1/token")
    assert unauthorized.status_code == 401


def test_the_delivery_preferences_page_shares_the_form(center: Api) -> None:
    center.identify(
        "u1", email="ann@example.com", cio_subscription_preferences={"topics": {"topic_1": "false"}}
    )
    delivery_id = center.app(
        "POST",
        "/v1/send/email",
        {"to": "ann@example.com", "identifiers": {"id": "u1"}, "subject": "S", "body": "<p>x</p>"},
    ).json()["delivery_id"]
    page = center.http.get(f"/preferences/{delivery_id}")
    assert page.status_code == 200
    # "false" as a string reads as false, as the sender reads it.
    assert checked(page.text) == {"topic_1": False, "topic_2": False, "unsubscribed": False}
    center.http.post(f"/preferences/{delivery_id}", data={"topic_1": "on", "topic_2": "on"})
    assert prefs(center, "u1") == {"topics": {"topic_1": True, "topic_2": True}}
    assert center.http.get("/preferences/unknown").status_code == 404
    assert center.http.get("/preferences/%FF").status_code == 400
