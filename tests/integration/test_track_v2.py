"""Track API v2 entity and batch for people and deliveries, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from patron.store.database import Database
from support import Api


def entity(api: Api, op: dict[str, Any]) -> Any:
    return api.track("POST", "/api/v2/entity", op)


def batch(api: Api, ops: list[Any]) -> Any:
    return api.track("POST", "/api/v2/batch", {"batch": ops})


def person(action: str, ident: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "person", "action": action, "identifiers": ident, **extra}


def test_entity_person_actions(api: Api) -> None:
    response = entity(
        api, person("identify", {"id": "v2"}, attributes={"plan": "pro", "email": "v2@x.co"})
    )
    assert response.status_code == 200 and response.json() == {}
    entity(api, person("event", {"id": "v2"}, name="bought", attributes={"price": 3}, id="evt-1"))
    entity(api, person("page", {"email": "v2@x.co"}, name="/home"))
    entity(api, person("screen", {"id": "v2"}, name="Settings", timestamp=1600000000))
    entity(
        api,
        person(
            "add_device", {"id": "v2"}, device={"token": "tok", "platform": "ios", "last_used": 5}
        ),
    )
    found = api.person("v2")
    assert found is not None
    assert found["attributes"]["plan"] == "pro" and found["identifiers"]["email"] == "v2@x.co"
    assert [d["id"] for d in found["devices"]] == ["tok"]
    kinds = {
        (a["type"], a["name"])
        for a in api.activities("v2")
        if a["type"] in ("event", "page", "screen")
    }
    assert kinds == {("event", "bought"), ("page", "/home"), ("screen", "Settings")}
    entity(api, person("delete_device", {"id": "v2"}, device={"token": "tok"}))
    found = api.person("v2")
    assert found is not None and found["devices"] == []
    cio = found["identifiers"]["cio_id"]
    entity(api, person("identify", {"cio_id": cio}, attributes={"email": "new@x.co"}))
    changed = api.person("v2")
    assert changed is not None and changed["identifiers"]["email"] == "new@x.co"
    entity(api, person("suppress", {"id": "v2"}))
    assert api.person("v2") is None
    entity(api, person("unsuppress", {"id": "v2"}))
    entity(api, person("identify", {"id": 42}, attributes={"n": 1}))
    assert api.person("42") is not None
    entity(api, person("delete", {"id": 42}))
    assert api.person("42") is None


def test_identify_timestamp_and_update_only(api: Api) -> None:
    entity(api, person("identify", {"id": "t"}, attributes={"a": "new"}, timestamp=2000))
    entity(api, person("identify", {"id": "t"}, attributes={"a": "old"}, timestamp=1000))
    entity(api, person("identify", {"id": "ghost"}, attributes={"_update": True, "a": 1}))
    found = api.person("t")
    assert found is not None and found["attributes"]["a"] == "new"
    assert api.person("ghost") is None


def test_merge(api: Api) -> None:
    api.identify("p", a="1")
    api.identify("s", b="2")
    response = entity(
        api, {"type": "person", "action": "merge", "primary": {"id": "p"}, "secondary": {"id": "s"}}
    )
    assert response.status_code == 200
    found = api.person("p")
    assert found is not None and found["attributes"]["b"] == "2"
    assert api.person("s") is None


def test_batch_applies_in_order(api: Api) -> None:
    response = batch(
        api,
        [
            person("identify", {"id": "new"}, attributes={"email": "new@x.co"}),
            person("event", {"email": "new@x.co"}, name="first"),
            person("identify", {"id": "new"}, attributes={"step": 3}),
        ],
    )
    assert response.status_code == 200 and response.json() == {}
    found = api.person("new")
    assert found is not None and found["attributes"]["step"] == "3"
    assert [a["name"] for a in api.activities("new", type="event")] == ["first"]
    # One person, not two.
    assert len(api.app("GET", "/v1/customers", params={"email": "new@x.co"}).json()["results"]) == 1


def test_batch_partial_success_207(api: Api) -> None:
    ops: list[Any] = [
        person("identify", {"id": "ok1"}, attributes={"a": 1}),  # 0 ok
        person("identify", {"id": "a", "email": "a@x.co"}),  # 1 two identifiers
        person("event", {"id": "ok1"}),  # 2 no name
        {"type": "robot", "action": "identify"},  # 3 bad type
        person("fly", {"id": "x"}),  # 4 bad action
        "not an object",  # 5
        person("identify", {"phone": "+15551234567"}),  # 6 phone not enabled
        person("identify", {"id": "ok2"}, attributes={"big": "x" * 1001}),  # 7 value too long
        person("event", {"id": "ok2"}, name="valid-event"),  # 8 ok
        {"type": "delivery", "action": "event", "identifiers": {"id": "d1"}, "name": "opened"},  # 9
        {
            "type": "delivery",
            "action": "event",
            "identifiers": {"id": "d1"},
            "name": "opened",
            "attributes": {"device_token": "tok"},
        },  # 10 ok
        person("identify", {"id": "ok3"}, attributes={f"k{i}": "v" * 110 for i in range(300)}),
    ]  # fmt: skip (index 11 is over 32 KB)
    response = batch(api, ops)
    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [e["batch_index"] for e in errors] == [1, 2, 3, 4, 5, 6, 7, 9, 11]
    by_index = {e["batch_index"]: e for e in errors}
    assert by_index[1]["reason"] == "invalid_identifiers"
    assert by_index[2]["field"] == "name"
    assert by_index[3]["reason"] == "invalid_type"
    assert by_index[4]["reason"] == "invalid_action"
    assert by_index[6]["reason"] == "not_enabled"
    assert by_index[7]["field"] == "big" and "1000 bytes" in by_index[7]["message"]
    assert by_index[9]["field"] == "attributes.device_token"
    assert by_index[11]["reason"] == "too_large"
    assert all(set(e) == {"batch_index", "reason", "field", "message"} for e in errors)
    # Every valid operation was applied.
    assert api.person("ok1") is not None
    assert [a["name"] for a in api.activities("ok2", type="event")] == ["valid-event"]
    assert api.person("ok3") is None


def test_rule_broken_at_apply_time_is_reported_by_index(api: Api) -> None:
    api.track("PUT", "/api/v1/customers/full", {f"a{i}": i for i in range(295)})
    response = batch(
        api,
        [
            person("identify", {"id": "before"}),
            person("identify", {"id": "full"}, attributes={f"b{i}": i for i in range(10)}),
            person("identify", {"id": "after"}),
        ],
    )
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["batch_index"] == 1 and "300" in error["message"]
    assert api.person("before") is not None and api.person("after") is not None
    full = api.person("full")
    assert full is not None and "b0" not in full["attributes"]


def test_anonymous_events_from_routers(api: Api) -> None:
    # RudderStack sends anonymous events as identifiers: {"anonymous_id": …}.
    entity(api, person("event", {"anonymous_id": "rs-anon"}, name="Viewed"))
    entity(api, person("page", {"anonymous_id": "rs-anon"}, name="/landing"))
    entity(api, person("identify", {"id": "rs-user"}, attributes={"anonymous_id": "rs-anon"}))
    names = {a["name"] for a in api.activities("rs-user") if a["type"] in ("event", "page")}
    assert names == {"Viewed", "/landing"}


def test_delivery_event_is_recorded(api: Api, database: Database) -> None:
    op = {
        "type": "delivery",
        "action": "event",
        "identifiers": {"id": "dlv-9"},
        "name": "delivered",
        "attributes": {"device_token": "tok"},
        "timestamp": 1700000000,
    }
    assert entity(api, op).status_code == 200
    from patron.store.schema import delivery_metrics

    rows = database.read_sync(
        lambda c: list(
            c.execute(
                sa.select(delivery_metrics.c.metric, delivery_metrics.c.timestamp).where(
                    delivery_metrics.c.workspace_id == api.creds.workspace_id
                )
            )
        )
    )
    assert [(r.metric, r.timestamp) for r in rows] == [("delivered", 1700000000)]


def test_whole_request_errors_are_400(api: Api) -> None:
    for content in (b"{nope", b"[]", b'{"batch": []}', b'{"batch": {}}', b""):
        response = api.track("POST", "/api/v2/batch", content=content)
        assert response.status_code == 400, content
        (error,) = response.json()["errors"]
        assert error["reason"] in ("malformed", "invalid_type") and error["message"]
    too_big = {
        "batch": [
            person("identify", {"id": f"u{i}"}, attributes={"v": "x" * 900}) for i in range(600)
        ]
    }
    response = api.track("POST", "/api/v2/batch", content=json.dumps(too_big).encode())
    assert response.status_code == 400 and response.json()["errors"][0]["reason"] == "too_large"
    big_entity = person(
        "identify", {"id": "big"}, attributes={f"k{i}": "v" * 200 for i in range(200)}
    )
    response = entity(api, big_entity)
    assert response.status_code == 400 and response.json()["errors"][0]["reason"] == "too_large"
    invalid = entity(api, person("identify", {}))
    assert invalid.status_code == 400 and invalid.json()["errors"][0]["field"] == "identifiers"
    assert api.person("big") is None


def test_v2_auth(api: Api) -> None:
    response = api.http.post("/api/v2/batch", json={"batch": [person("identify", {"id": "x"})]})
    assert response.status_code == 401
    assert response.json() == {"meta": {"error": "Unauthorized request"}}


def test_golden_posthog_and_reverse_etl_person_calls(api: Api) -> None:
    # Shapes written from the spec as PostHog's Customer.io destination and reverse-ETL tools
    # send them: identify with attributes and timestamp, events with ULID ids.
    posthog = {
        "type": "person",
        "action": "identify",
        "identifiers": {"email": "ph@example.com"},
        "attributes": {"first_name": "Pat", "$browser": "Firefox", "created_at": 1700000000},
        "timestamp": 1700000100,
    }
    etl = {
        "batch": [
            {"type": "person", "action": "identify", "identifiers": {"id": "etl-1"},
             "attributes": {"plan": "team", "seats": 12, "churned": None, "_update": False}},
            {"type": "person", "action": "event", "identifiers": {"id": "etl-1"},
             "name": "Order Completed", "id": "01HQ3Z6V6X6K3Z1T5Q1W0C9H7N",
             "timestamp": 1700000200, "attributes": {"total": 99.5, "items": [{"sku": "a"}]}},
        ]
    }  # fmt: skip
    assert entity(api, posthog).status_code == 200
    assert api.track("POST", "/api/v2/batch", etl).status_code == 200
    ph = api.person("ph@example.com", "email")
    assert ph is not None and ph["attributes"]["$browser"] == "Firefox"
    assert ph["timestamps"]["first_name"] == 1700000100
    (order,) = api.activities("etl-1", type="event")
    assert (
        order["data"] == {"total": 99.5, "items": [{"sku": "a"}]}
        and order["timestamp"] == 1700000200
    )
