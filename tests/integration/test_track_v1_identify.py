"""Track v1 identify: identity rules of wire spec §2.2, on SQLite and PostgreSQL."""

from __future__ import annotations

from support import Api, quote


def test_identify_creates_and_reads_back(api: Api) -> None:
    api.identify("u1", email="Ann@Example.com", plan="pro", score=3, vip=True, tags=["a"])
    person = api.person("u1")
    assert person is not None
    attrs = person["attributes"]
    assert attrs["plan"] == "pro"
    assert attrs["score"] == "3"
    assert attrs["vip"] == "true"
    assert attrs["tags"] == '["a"]'
    assert attrs["email"] == "Ann@Example.com"
    assert attrs["id"] == "u1"
    assert person["identifiers"]["cio_id"] == attrs["cio_id"]
    assert set(person["timestamps"]) >= {"plan", "score", "email", "id", "cio_id"}
    assert person["unsubscribed"] is False


def test_success_body_and_headers(api: Api) -> None:
    response = api.track("PUT", "/api/v1/customers/u1", {"a": 1})
    assert response.status_code == 200
    assert response.json() == {}
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_email_is_case_insensitive_and_unique(api: Api) -> None:
    api.identify("ann@example.com", plan="a")
    api.identify("ANN@EXAMPLE.COM", score=2)
    found = api.app("GET", "/v1/customers", params={"email": "Ann@Example.Com"}).json()["results"]
    assert len(found) == 1
    person = api.person("ann@example.com", "email")
    assert person is not None
    assert person["attributes"]["plan"] == "a"
    assert person["attributes"]["score"] == "2"


def test_path_unknown_body_identifier_known_assigns_path_identifier(api: Api) -> None:
    api.identify("u1", plan="x")
    api.track("PUT", f"/api/v1/customers/{quote('new@example.com')}", {"id": "u1", "n": 1})
    person = api.person("u1")
    assert person is not None
    assert person["identifiers"]["email"] == "new@example.com"
    assert person["attributes"]["n"] == "1"
    assert api.person("new@example.com", "email") == person


def test_conflict_between_two_people_changes_nothing_and_records_failure(api: Api) -> None:
    api.identify("u1", email="one@example.com")
    api.identify("u2", email="two@example.com")
    response = api.track("PUT", "/api/v1/customers/u1", {"email": "two@example.com", "x": 1})
    assert response.status_code == 200
    one, two = api.person("u1"), api.person("u2")
    assert one is not None and two is not None
    assert one["identifiers"]["email"] == "one@example.com"
    assert "x" not in one["attributes"]
    assert two["identifiers"]["email"] == "two@example.com"
    failures = api.activities("u1", type="failed_attribute_change")
    assert len(failures) == 1
    assert "different people" in failures[0]["data"]["reason"]


def test_changing_identifiers_needs_cio_id(api: Api) -> None:
    api.identify("u1", email="old@example.com")
    api.track("PUT", "/api/v1/customers/u1", {"email": "new@example.com"})
    person = api.person("u1")
    assert person is not None
    assert person["identifiers"]["email"] == "old@example.com"
    cio = person["identifiers"]["cio_id"]
    api.track("PUT", f"/api/v1/customers/cio_{cio}", {"email": "new@example.com", "id": "u9"})
    changed = api.person(cio, "cio_id")
    assert changed is not None
    assert changed["identifiers"] == {"id": "u9", "email": "new@example.com", "cio_id": cio}
    assert api.person("u1") is None


def test_unknown_cio_id_is_dropped(api: Api) -> None:
    response = api.track("PUT", "/api/v1/customers/cio_nosuch", {"a": 1})
    assert response.status_code == 200
    assert api.person("nosuch", "cio_id") is None


def test_update_only_never_creates(api: Api) -> None:
    api.track("PUT", "/api/v1/customers/ghost", {"_update": True, "a": 1})
    assert api.person("ghost") is None
    api.identify("real", a=1)
    api.track("PUT", "/api/v1/customers/real", {"_update": True, "a": 2})
    person = api.person("real")
    assert person is not None and person["attributes"]["a"] == "2"


def test_older_timestamp_never_overwrites_newer(api: Api) -> None:
    api.identify("u1", plan="new", _timestamp=2000)
    api.identify("u1", plan="old", other="set", _timestamp=1000)
    person = api.person("u1")
    assert person is not None
    assert person["attributes"]["plan"] == "new"
    assert person["attributes"]["other"] == "set"
    assert person["timestamps"]["plan"] == 2000


def test_null_or_empty_removes_attribute(api: Api) -> None:
    api.identify("u1", a="1", b="2", c="3")
    api.track("PUT", "/api/v1/customers/u1", {"a": None, "b": ""})
    person = api.person("u1")
    assert person is not None
    assert "a" not in person["attributes"] and "b" not in person["attributes"]
    assert person["attributes"]["c"] == "3"


def test_unsubscribed_parsing(api: Api) -> None:
    for ident, value, expected in [
        ("a", "TRUE", True),
        ("b", 1, True),
        ("c", "1", True),
        ("d", "no", False),
        ("e", True, True),
    ]:
        api.identify(ident, unsubscribed=value)
        person = api.person(ident)
        assert person is not None and person["unsubscribed"] is expected, ident


def test_created_at_is_unix_seconds(api: Api) -> None:
    api.identify("u1", created_at="1700000000")
    person = api.person("u1")
    assert person is not None and person["attributes"]["created_at"] == "1700000000"
    bad = api.track("PUT", "/api/v1/customers/u1", {"created_at": "yesterday"})
    assert bad.status_code == 400
    assert "created_at" in bad.json()["meta"]["errors"][0]


def test_subscription_preferences_merge_and_dot_notation(api: Api) -> None:
    api.identify("u1", cio_subscription_preferences={"topics": {"topic_1": True, "topic_2": True}})
    api.track(
        "PUT",
        "/api/v1/customers/u1",
        {"cio_subscription_preferences.topics.topic_2": False},
    )
    api.identify("u1", cio_subscription_preferences={"topics": {"topic_3": True}})
    person = api.person("u1")
    assert person is not None
    import json

    prefs = json.loads(person["attributes"]["cio_subscription_preferences"])
    assert prefs == {"topics": {"topic_1": True, "topic_2": False, "topic_3": True}}


def test_numeric_identifiers_are_decimal_strings(api: Api) -> None:
    api.track("PUT", f"/api/v1/customers/{quote('a@b.co')}", {"id": 432})
    person = api.person("432")
    assert person is not None and person["identifiers"]["email"] == "a@b.co"


def test_percent_encoded_path_segments(api: Api) -> None:
    api.identify("u 1/x", a=1)
    person = api.person("u 1/x")
    assert person is not None and person["id"] == "u 1/x"
    api.identify("ünï", a=1)
    assert api.person("ünï") is not None


def test_anonymous_events_merge_into_person(api: Api) -> None:
    for i in range(3):
        response = api.track(
            "POST", "/api/v1/events", {"name": f"visit{i}", "anonymous_id": "anon-1"}
        )
        assert response.status_code == 200
    api.identify("u1", anonymous_id="anon-1")
    names = {a["name"] for a in api.activities("u1", type="event")}
    assert names == {"visit0", "visit1", "visit2"}
    # Later anonymous events with a linked id go straight to the person.
    api.track("POST", "/api/v1/events", {"name": "later", "anonymous_id": "anon-1"})
    assert any(a["name"] == "later" for a in api.activities("u1", type="event"))
    # An anonymous id is not reusable by another person.
    api.identify("u2", anonymous_id="anon-1")
    assert api.activities("u2", type="event") == []
    assert api.activities("u2", type="failed_attribute_change")


def test_anonymous_events_older_than_30_days_stay_anonymous(api: Api) -> None:
    import time

    old = int(time.time()) - 31 * 24 * 3600
    api.track("POST", "/api/v1/events", {"name": "ancient", "anonymous_id": "a2", "timestamp": old})
    api.track("POST", "/api/v1/events", {"name": "recent", "anonymous_id": "a2"})
    api.identify("u1", anonymous_id="a2")
    assert [a["name"] for a in api.activities("u1", type="event")] == ["recent"]


def test_workspaces_are_isolated(api: Api, database: object) -> None:
    from support import new_workspace

    other = Api(api.http, new_workspace(database))  # type: ignore[arg-type]
    api.identify("shared", plan="mine")
    assert other.person("shared") is None
    other.identify("shared", plan="theirs")
    mine = api.person("shared")
    assert mine is not None and mine["attributes"]["plan"] == "mine"
    # A key of one workspace with the site id of another is refused.
    assert other.creds.track_api_key
    mixed = api.http.put(
        "/api/v1/customers/x", json={}, auth=(api.creds.site_id, other.creds.track_api_key)
    )
    assert mixed.status_code == 401
