"""App API reads: lookups, bulk attributes, activities with paging."""

from __future__ import annotations

import httpx2 as httpx

from support import Api


def test_bearer_auth(api: Api) -> None:
    for headers in [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}]:
        response = api.http.get("/v1/customers", params={"email": "a@b.co"}, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"meta": {"error": "Unauthorized request"}}


def test_unknown_person_is_404_in_meta_error_shape(api: Api) -> None:
    response = api.app("GET", "/v1/customers/nobody/attributes")
    assert response.status_code == 404
    assert response.json() == {"meta": {"error": "The customer_id does not exist."}}


def test_id_types(api: Api) -> None:
    api.identify("u1", email="u1@example.com")
    person = api.person("u1")
    assert person is not None
    cio = person["identifiers"]["cio_id"]
    assert api.person("u1@example.com", "email") == person
    assert api.person(cio, "cio_id") == person
    bad = api.app("GET", "/v1/customers/u1/attributes", params={"id_type": "phone"})
    assert bad.status_code == 400 and "phone" in bad.json()["meta"]["error"]
    bad = api.app("GET", "/v1/customers/u1/attributes", params={"id_type": "shoe"})
    assert bad.status_code == 400


def test_bulk_attributes(api: Api) -> None:
    api.identify("u1", a=1)
    api.identify("u2", a=2)
    response = api.app("POST", "/v1/customers/attributes", {"ids": ["u1", "u2", "missing"]})
    assert response.status_code == 200
    customers = response.json()["customers"]
    assert sorted(c["customer"]["id"] for c in customers) == ["u1", "u2"]
    too_many = api.app("POST", "/v1/customers/attributes", {"ids": [str(i) for i in range(101)]})
    assert too_many.status_code == 400
    assert api.app("POST", "/v1/customers/attributes", {"ids": []}).status_code == 400


def test_activities_paging_and_filters(api: Api) -> None:
    for i in range(7):
        api.track(
            "POST", "/api/v1/customers/u1/events", {"name": f"e{i % 2}", "timestamp": 1000 + i}
        )
    seen: list[str] = []
    start = ""
    pages = 0
    while True:
        params = {"limit": 3, "type": "event"}
        if start:
            params["start"] = start
        body = api.app("GET", "/v1/customers/u1/activities", params=params).json()
        seen += [a["id"] for a in body["activities"]]
        pages += 1
        start = body["next"]
        if not start:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    timestamps = [a["timestamp"] for a in api.activities("u1", type="event", limit=10)]
    assert timestamps == sorted(timestamps, reverse=True)
    assert {a["name"] for a in api.activities("u1", name="e1")} == {"e1"}
    bad = api.app("GET", "/v1/customers/u1/activities", params={"start": "!!"})
    assert bad.status_code == 400
    assert api.app("GET", "/v1/activities", params={"limit": 0}).status_code == 400


def test_workspace_activities_filter_by_customer(api: Api) -> None:
    api.track("POST", "/api/v1/customers/u1/events", {"name": "mine"})
    api.track("POST", "/api/v1/customers/u2/events", {"name": "theirs"})
    person = api.person("u1")
    assert person is not None
    by_id = api.activities(None, customer_id="u1", type="event")
    assert [a["name"] for a in by_id] == ["mine"]
    by_cio = api.activities(
        None, customer_id="cio_" + person["identifiers"]["cio_id"], type="event"
    )
    assert [a["name"] for a in by_cio] == ["mine"]
    everything = {a.get("name") for a in api.activities(None, type="event")}
    assert everything == {"mine", "theirs"}


def test_non_ascii_digits_are_not_numbers(api: Api) -> None:
    for limit in ("²", "٣", "1 0", "-1"):
        response = api.app("GET", "/v1/activities", params={"limit": limit})
        assert response.status_code == 400, limit


BIG = 123456789012345678901234567890
PAST_INT64 = -9223372036854775809
PAST_UINT64 = 18446744073709551616


def test_integers_past_64_bits_keep_every_digit(api: Api) -> None:
    """orjson reads integers past 64 bits as floats (and cannot write them): every path keeps
    the number as sent, to the App API's strings and to activity data."""
    attrs = {"big": BIG, "low": PAST_INT64, "high": PAST_UINT64, "nested": {"n": [BIG]}}
    api.identify("v1", **attrs)
    v2 = {"type": "person", "identifiers": {"id": "v2"}, "action": "identify", "attributes": attrs}
    assert api.track("POST", "/api/v2/entity", v2).status_code == 200
    body = b'{"userId":"p1","traits":{"big":%d,"low":%d,"high":%d,"nested":{"n":[%d]}}}' % (
        BIG,
        PAST_INT64,
        PAST_UINT64,
        BIG,
    )
    assert api.creds.pipelines_write_key is not None
    pipelines = api.http.post(
        "/v1/identify",
        content=body,
        auth=httpx.BasicAuth(api.creds.pipelines_write_key, ""),
        headers={"Content-Type": "application/json"},
    )
    assert pipelines.status_code == 200, pipelines.text
    for person in ("v1", "v2", "p1"):
        customer = api.person(person)
        assert customer is not None
        shown = customer["attributes"]
        assert shown["big"] == "123456789012345678901234567890", person
        assert shown["low"] == "-9223372036854775809", person
        assert shown["high"] == "18446744073709551616", person
        assert shown["nested"] == '{"n":[123456789012345678901234567890]}', person
    event = {"name": "paid", "data": {"amount": BIG}}
    assert api.track("POST", "/api/v1/customers/v1/events", event).status_code == 200
    [paid] = api.activities("v1", type="event")
    assert paid["data"] == {"amount": BIG}
