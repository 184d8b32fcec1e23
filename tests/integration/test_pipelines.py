"""Data Pipelines API (Segment spec) on SQLite and PostgreSQL, checked through the App API."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from typing import Any

import httpx2 as httpx
import orjson
import pytest

from support import Api

STRICT = {"X-Strict-Mode": "1"}


def cdp(api: Api, path: str, body: Any, *, key: str | None = None, **kw: Any) -> httpx.Response:
    """A Pipelines call with Basic ``write_key:`` auth."""
    write_key = api.creds.pipelines_write_key if key is None else key
    assert write_key is not None
    if not isinstance(body, bytes):
        body = orjson.dumps(body)
    headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
    return api.http.post(
        f"/v1/{path}", content=body, auth=httpx.BasicAuth(write_key, ""), headers=headers, **kw
    )


def sent(api: Api, path: str, body: Any, **kw: Any) -> None:
    response = cdp(api, path, body, **kw)
    assert response.status_code == 200, response.text
    assert response.json() == {}
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def rejected_calls(api: Api) -> list[dict[str, Any]]:
    return api.activities(type="rejected_call")


def names(api: Api, who: str, kind: str) -> list[str]:
    return sorted(a["name"] for a in api.activities(who) if a["type"] == kind)


def test_identify_sets_attributes_email_and_created_at(api: Api) -> None:
    sent(
        api,
        "identify",
        {
            "userId": "p1",
            "traits": {
                "email": "P1@Example.com",
                "createdAt": "2024-01-02T03:04:05.000Z",
                "plan": "pro",
                "address": {"city": "Oslo"},
                "id": "ignored",
            },
            "messageId": str(uuid.uuid4()),
            "timestamp": "2024-06-01T00:00:00Z",
            "context": {"library": {"name": "test"}},
        },
    )
    found = api.person("p1")
    assert found is not None
    assert found["identifiers"]["email"] == "P1@Example.com"
    attrs = found["attributes"]
    assert attrs["plan"] == "pro" and attrs["created_at"] == "1704164645"
    assert json.loads(attrs["address"]) == {"city": "Oslo"}
    assert "createdAt" not in attrs
    # the body timestamp orders updates: an older identify does not overwrite
    sent(api, "identify", {"userId": "p1", "traits": {"plan": "old"}, "timestamp": "2020-01-01"})
    found = api.person("p1")
    assert found is not None and found["attributes"]["plan"] == "pro"


def test_track_page_screen_with_dedup_by_message_id(api: Api) -> None:
    message = str(uuid.uuid4())
    call = {
        "userId": "p2",
        "event": "Order Completed",
        "properties": {"total": 9.5},
        "messageId": message,
        "timestamp": "2024-05-05T05:05:05.123+00:00",
    }
    sent(api, "track", call)
    sent(api, "track", call)  # a retry of the same message
    sent(api, "page", {"userId": "p2", "name": "Pricing", "properties": {"url": "https://x.co/p"}})
    sent(api, "page", {"userId": "p2", "properties": {"url": "https://x.co/docs?q=1#top"}})
    sent(api, "screen", {"userId": "p2", "name": "Home", "category": "main"})
    events = [a for a in api.activities("p2") if a["type"] == "event"]
    assert [e["name"] for e in events] == ["Order Completed"]
    assert events[0]["timestamp"] == 1714885505 and events[0]["data"] == {"total": 9.5}
    assert names(api, "p2", "page") == ["Pricing", "https://x.co/docs"]
    screens = [a for a in api.activities("p2") if a["type"] == "screen"]
    assert screens[0]["name"] == "Home" and screens[0]["data"]["category"] == "main"


def test_anonymous_journey_then_identify_then_alias(api: Api) -> None:
    anon = "anon-" + uuid.uuid4().hex
    sent(api, "page", {"anonymousId": anon, "properties": {"url": "https://x.co/"}})
    sent(api, "track", {"anonymousId": anon, "event": "Viewed Product"})
    sent(api, "identify", {"anonymousId": anon, "traits": {"color": "blue", "email": "a@x.co"}})
    assert api.person("a@x.co", "email") is None  # still anonymous
    sent(api, "identify", {"userId": "u-anon", "anonymousId": anon, "traits": {"plan": "free"}})
    found = api.person("u-anon")
    assert found is not None
    assert found["attributes"]["color"] == "blue" and found["attributes"]["plan"] == "free"
    assert found["identifiers"]["email"] == "a@x.co"
    assert names(api, "u-anon", "event") == ["Viewed Product"]
    assert names(api, "u-anon", "page") == ["https://x.co/"]
    # later anonymous calls with the linked id go straight to the person
    sent(api, "track", {"anonymousId": anon, "event": "Came Back"})
    sent(api, "identify", {"anonymousId": anon, "traits": {"color": "red"}})
    found = api.person("u-anon")
    assert found is not None and found["attributes"]["color"] == "red"
    assert "Came Back" in names(api, "u-anon", "event")
    # alias merges a second profile into the person
    sent(api, "identify", {"userId": "u-old", "traits": {"legacy": True, "plan": "legacy"}})
    sent(api, "track", {"userId": "u-old", "event": "Old Event"})
    sent(api, "alias", {"userId": "u-anon", "previousId": "u-old"})
    assert api.person("u-old") is None
    found = api.person("u-anon")
    assert found is not None
    assert found["attributes"]["legacy"] == "true" and found["attributes"]["plan"] == "free"
    assert "Old Event" in names(api, "u-anon", "event")


def test_anonymous_traits_lose_to_newer_person_values(api: Api) -> None:
    anon = "anon-" + uuid.uuid4().hex
    sent(api, "identify", {"userId": "u-t", "traits": {"plan": "paid"}})
    sent(
        api,
        "identify",
        {"anonymousId": anon, "traits": {"plan": "trial", "seen": 1}, "timestamp": "2001-01-01"},
    )
    sent(api, "identify", {"userId": "u-t", "anonymousId": anon})
    found = api.person("u-t")
    assert found is not None
    assert found["attributes"]["plan"] == "paid" and found["attributes"]["seen"] == "1"


def test_alias_with_anonymous_previous_id_links_it(api: Api) -> None:
    anon = "anon-" + uuid.uuid4().hex
    sent(api, "track", {"anonymousId": anon, "event": "Before"})
    sent(api, "alias", {"userId": "u-alias", "previousId": anon})
    sent(api, "track", {"anonymousId": anon, "event": "After"})
    assert names(api, "u-alias", "event") == ["After", "Before"]


def test_group_creates_object_and_relationship(api: Api) -> None:
    sent(
        api,
        "group",
        {
            "userId": "g1",
            "groupId": "acme",
            "traits": {
                "name": "Acme",
                "objectTypeId": "2",
                "relationshipAttributes": {"role": "admin"},
            },
        },
    )
    attrs = api.app("GET", "/v1/objects/2/acme/attributes").json()
    assert attrs["object"]["attributes"]["name"] == "Acme"
    rels = api.app("GET", "/v1/customers/g1/relationships").json()["cio_relationships"]
    assert rels[0]["identifiers"]["object_id"] == "acme"
    assert rels[0]["relationship_attributes"] == {"role": "admin"}
    sent(api, "group", {"userId": "g1", "groupId": "beta"})  # default object type 1
    assert api.app("GET", "/v1/objects/1/beta/attributes").status_code == 200
    sent(
        api,
        "track",
        {
            "userId": "g1",
            "event": "Relationship Deleted",
            "properties": {"objectId": "acme", "objectTypeId": 2},
        },
    )
    rels = api.app("GET", "/v1/customers/g1/relationships").json()["cio_relationships"]
    assert [r["identifiers"]["object_id"] for r in rels] == ["beta"]
    sent(
        api,
        "track",
        {"anonymousId": "x", "event": "Object Deleted", "properties": {"objectId": "beta"}},
    )
    assert api.app("GET", "/v1/objects/1/beta/attributes").status_code == 404


def test_semantic_events(api: Api) -> None:
    device = {"device": {"token": "tok-1", "type": "ios"}}
    sent(
        api,
        "track",
        {
            "userId": "s1",
            "event": "Device Created or Updated",
            "context": device,
            "properties": {"app_version": "2.0"},
        },
    )
    found = api.person("s1")
    assert found is not None
    assert [(d["id"], d["platform"]) for d in found["devices"]] == [("tok-1", "ios")]
    sent(api, "track", {"userId": "s1", "event": "Device Deleted", "context": device})
    found = api.person("s1")
    assert found is not None and found["devices"] == []
    sent(
        api,
        "track",
        {"event": "Report Delivery Event", "properties": {"deliveryId": "d1", "metric": "opened"}},
    )
    sent(api, "track", {"userId": "s1", "event": "User Suppressed"})
    assert api.person("s1") is None
    sent(api, "identify", {"userId": "s1", "traits": {"back": True}})
    assert api.person("s1") is None  # suppressed identifiers stay out
    sent(api, "track", {"userId": "s1", "event": "User Unsuppressed"})
    sent(api, "identify", {"userId": "s1", "traits": {"back": True}})
    assert api.person("s1") is not None
    sent(api, "track", {"userId": "s1", "event": "User Deleted"})
    assert api.person("s1") is None
    assert rejected_calls(api) == []


def test_batch_mixed_with_shared_context_and_gzip(api: Api) -> None:
    batch = {
        "batch": [
            {"type": "identify", "userId": "b1", "traits": {"email": "b1@x.co"}},
            {"type": "track", "userId": "b1", "event": "Signed Up"},
            {"type": "track", "userId": "b1", "event": "Device Created or Updated"},
            {"type": "page", "userId": "b1", "name": "Home"},
            {"type": "bogus", "userId": "b1"},
        ],
        "context": {"device": {"token": "shared-token", "type": "android"}},
        "sentAt": "2024-01-01T00:00:00Z",
    }
    sent(api, "batch", gzip.compress(orjson.dumps(batch)), headers={"Content-Encoding": "gzip"})
    found = api.person("b1")
    assert found is not None and found["identifiers"]["email"] == "b1@x.co"
    assert [d["id"] for d in found["devices"]] == ["shared-token"]
    assert names(api, "b1", "event") == ["Signed Up"]
    rejected = rejected_calls(api)
    assert len(rejected) == 1
    assert (
        rejected[0]["data"]["batch_index"] == 4 and rejected[0]["data"]["reason"] == "invalid_type"
    )


def test_permissive_mode_records_what_it_cannot_apply(api: Api) -> None:
    sent(api, "track", {"event": "No One"})
    sent(api, "identify", b"{not json")
    sent(api, "track", {"userId": "big", "event": "Big", "properties": {"x": "y" * 40_000}})
    sent(api, "alias", {"userId": "only"})
    reasons = sorted((a["name"], a["data"]["reason"]) for a in rejected_calls(api))
    assert reasons == [
        ("alias", "required"),
        ("identify", "malformed"),
        ("track", "required"),
        ("track", "too_large"),
    ]
    assert api.person("big") is None
    # unknown and missing keys are accepted and dropped, as Customer.io does
    response = cdp(api, "identify", {"userId": "nokey"}, key="testsecret")
    assert response.status_code == 200 and response.json() == {}
    assert api.http.post("/v1/track", json={"userId": "x", "event": "e"}).status_code == 200
    assert api.person("nokey") is None


def test_strict_mode_errors(api: Api) -> None:
    response = cdp(api, "identify", {"userId": "st"}, key="wrong", headers=STRICT)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] and body["message"] and body["meta"]["error"]
    response = cdp(api, "identify", b"[1,", headers=STRICT)
    assert response.status_code == 400 and response.json()["code"] == "malformed"
    response = cdp(api, "track", {"event": "x"}, headers=STRICT)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "userId"
    response = cdp(api, "identify", {"userId": "x", "traits": {"a": "b" * 33_000}}, headers=STRICT)
    assert response.status_code == 400 and response.json()["code"] == "too_large"
    # one bad call rejects the whole strict batch, nothing applied
    batch = {"batch": [{"type": "identify", "userId": "st-ok"}, {"type": "track", "userId": "x"}]}
    response = cdp(api, "batch", batch, headers=STRICT)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "batch_index": 1,
            "reason": "invalid_value",
            "field": "name",
            "message": response.json()["errors"][0]["message"],
        }
    ]
    assert api.person("st-ok") is None
    # a rule that only the store can check (300 attributes on a person) rolls back too
    api.identify("st-full", **{f"a{i}": i for i in range(300)})
    batch = {
        "batch": [
            {"type": "identify", "userId": "st-ok"},
            {"type": "identify", "userId": "st-full", "traits": {"one_more": 1}},
        ]
    }
    response = cdp(api, "batch", batch, headers=STRICT)
    assert response.status_code == 400 and response.json()["errors"][0]["batch_index"] == 1
    assert api.person("st-ok") is None
    assert (
        cdp(
            api, "batch", batch["batch"][:1] and {"batch": batch["batch"][:1]}, headers=STRICT
        ).status_code
        == 200
    )
    assert api.person("st-ok") is not None
    assert rejected_calls(api) == []


def test_bearer_and_body_write_key(api: Api) -> None:
    key = api.creds.pipelines_write_key
    response = api.http.post(
        "/v1/identify",
        json={"userId": "bearer"},
        headers={"Authorization": f"Bearer {key}", **STRICT},
    )
    assert response.status_code == 200
    response = api.http.post(
        "/v1/batch", json={"batch": [{"type": "identify", "userId": "body"}], "writeKey": key}
    )
    assert response.status_code == 200
    assert api.person("bearer") is not None and api.person("body") is not None
    # an App API key is not a write key
    response = api.http.post(
        "/v1/identify",
        json={"userId": "app"},
        headers={"Authorization": f"Bearer {api.creds.app_api_key}", **STRICT},
    )
    assert response.status_code == 401


def test_lookup_by_hashed_email(api: Api) -> None:
    sent(api, "identify", {"userId": "h1", "traits": {"email": " Hash@Example.com"}})
    digest = hashlib.sha256(b"hash@example.com").hexdigest()
    response = api.app("GET", "/v1/customers", params={"email_sha256": digest})
    assert response.status_code == 200
    assert response.json()["results"] == [
        {
            "id": "h1",
            "email": "Hash@Example.com",
            "cio_id": api.person("h1")["identifiers"]["cio_id"],
        }
    ]  # type: ignore[index]
    assert api.app("GET", "/v1/customers", params={"email_sha256": "0" * 64}).json() == {
        "results": []
    }


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"batch": "nope"},
        {"batch": [None, 5, "x", []]},
        {"batch": [{"type": "identify", "userId": {"a": 1}}]},
        {
            "batch": [
                {"type": "group", "userId": "u", "groupId": "g", "traits": {"objectTypeId": "zero"}}
            ]
        },
        {"batch": [{"type": "track", "userId": "u", "event": "e", "timestamp": "yesterday"}]},
    ],
)
def test_nonsense_never_errors_in_permissive_mode(api: Api, body: Any) -> None:
    sent(api, "batch", body)
    assert rejected_calls(api)
