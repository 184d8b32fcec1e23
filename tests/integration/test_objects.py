"""Objects and relationships through Track v1/v2, read back through the App API."""

from __future__ import annotations

from typing import Any

from support import Api


def v2(api: Api, *ops: dict[str, Any]) -> Any:
    response = api.track("POST", "/api/v2/batch", {"batch": list(ops)})
    assert response.status_code == 200, response.text
    return response


def obj(action: str, object_id: str, type_id: str = "1", **extra: Any) -> dict[str, Any]:
    ident = {"object_type_id": type_id, "object_id": object_id}
    return {"type": "object", "action": action, "identifiers": ident, **extra}


def rel(ident: dict[str, Any], **attrs: Any) -> dict[str, Any]:
    return {"identifiers": ident, "relationship_attributes": attrs}


def get_object(api: Api, object_id: str, type_id: str = "1") -> dict[str, Any] | None:
    response = api.app("GET", f"/v1/objects/{type_id}/{object_id}/attributes")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["object"]
    return found


def related_people(api: Api, object_id: str, type_id: str = "1") -> list[dict[str, Any]]:
    response = api.app("GET", f"/v1/objects/{type_id}/{object_id}/relationships")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["cio_relationships"]
    return items


def related_objects(api: Api, person: str) -> list[dict[str, Any]]:
    response = api.app("GET", f"/v1/customers/{person}/relationships")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["cio_relationships"]
    return items


def test_object_identify_with_relationships(api: Api) -> None:
    v2(
        api,
        obj(
            "identify",
            "acme",
            attributes={"name": "Acme", "seats": 10},
            cio_relationships=[rel({"id": "u1"}, role="admin"), rel({"email": "b@x.co"})],
        ),
    )
    found = get_object(api, "acme")
    assert found is not None
    assert found["attributes"] == {"name": "Acme", "seats": "10"}
    assert found["cio_object_id"].startswith("ob")
    people = related_people(api, "acme")
    assert [(p["identifiers"]["id"], p["identifiers"]["email"]) for p in people] == [
        ("u1", None),
        (None, "b@x.co"),
    ]
    assert people[0]["relationship_attributes"] == {"role": "admin"}
    # The related people were created, and see the object from their side.
    (mine,) = related_objects(api, "u1")
    assert (
        mine["identifiers"]["object_id"] == "acme" and mine["identifiers"]["object_type_id"] == "1"
    )
    types = api.app("GET", "/v1/object_types").json()["types"]
    assert [t["id"] for t in types] == ["1"]


def test_object_updates_by_cio_object_id_and_removal(api: Api) -> None:
    v2(api, obj("identify", "acme", attributes={"name": "Acme", "tier": "gold"}))
    found = get_object(api, "acme")
    assert found is not None
    cio = found["cio_object_id"]
    update = {"type": "object", "action": "identify", "identifiers": {"cio_object_id": cio},
              "attributes": {"tier": None, "city": "Oslo"}}  # fmt: skip
    v2(api, update)
    found = get_object(api, "acme")
    assert found is not None and found["attributes"] == {"name": "Acme", "city": "Oslo"}
    by_cio = api.app("GET", f"/v1/objects/1/{cio}/attributes", params={"id_type": "cio_object_id"})
    assert by_cio.json()["object"]["object_id"] == "acme"
    unknown = {"type": "object", "action": "identify", "identifiers": {"cio_object_id": "obnope"}}
    response = api.track("POST", "/api/v2/batch", {"batch": [unknown]})
    assert response.status_code == 207 and response.json()["errors"][0]["reason"] == "not_found"


def test_a_removed_attribute_leaves_the_timestamps_of_objects_as_of_people(api: Api) -> None:
    api.identify("u1", name="Ann", tier="gold")
    api.identify("u1", tier=None)
    v2(api, obj("identify", "acme", attributes={"name": "Acme", "tier": "gold"}))
    v2(api, obj("identify", "acme", attributes={"tier": None}))
    person, found = api.person("u1"), get_object(api, "acme")
    assert person is not None and found is not None
    assert "tier" not in person["timestamps"] and "name" in person["timestamps"]
    assert found["attributes"] == {"name": "Acme"}
    assert set(found["timestamps"]) == {"name"}


def test_add_and_delete_relationships_both_sides(api: Api) -> None:
    api.identify("u1")
    v2(
        api,
        {"type": "person", "action": "add_relationships", "identifiers": {"id": "u1"},
         "cio_relationships": [rel({"object_type_id": "2", "object_id": "team-a"}, lead=True)]},
        obj("add_relationships", "acme", cio_relationships=[rel({"id": "u1"})]),
    )  # fmt: skip
    objs = {
        (o["identifiers"]["object_type_id"], o["identifiers"]["object_id"])
        for o in related_objects(api, "u1")
    }
    assert objs == {("2", "team-a"), ("1", "acme")}
    v2(
        api,
        {"type": "person", "action": "delete_relationships", "identifiers": {"id": "u1"},
         "cio_relationships": [{"identifiers": {"object_type_id": "2", "object_id": "team-a"}}]},
        obj("delete_relationships", "acme", cio_relationships=[rel({"id": "u1"})]),
    )  # fmt: skip
    assert related_objects(api, "u1") == []


def test_v1_identify_cio_relationships(api: Api) -> None:
    body = {
        "plan": "pro",
        "cio_relationships": {
            "action": "add_relationships",
            "relationships": [rel({"object_type_id": "1", "object_id": "acme"}, role="owner")],
        },
    }
    assert api.track("PUT", "/api/v1/customers/u1", body).status_code == 200
    (mine,) = related_objects(api, "u1")
    assert mine["relationship_attributes"] == {"role": "owner"}
    person = api.person("u1")
    assert person is not None and "cio_relationships" not in person["attributes"]
    acme = {"identifiers": {"object_type_id": "1", "object_id": "acme"}}
    remove = {"cio_relationships": {"action": "delete_relationships", "relationships": [acme]}}
    api.track("PUT", "/api/v1/customers/u1", remove)
    assert related_objects(api, "u1") == []
    bad = api.track("PUT", "/api/v1/customers/u1", {"cio_relationships": {"action": "hug"}})
    assert bad.status_code == 400


def test_delete_object_and_person_remove_relationships(api: Api) -> None:
    v2(api, obj("identify", "acme", cio_relationships=[rel({"id": "u1"}), rel({"id": "u2"})]))
    v2(api, obj("delete", "acme"))
    assert get_object(api, "acme") is None
    assert related_objects(api, "u1") == []
    v2(api, obj("identify", "beta", cio_relationships=[rel({"id": "u1"}), rel({"id": "u2"})]))
    api.track("DELETE", "/api/v1/customers/u1")
    assert [p["identifiers"]["id"] for p in related_people(api, "beta")] == ["u2"]


def test_merge_moves_relationships(api: Api) -> None:
    v2(
        api,
        obj(
            "identify",
            "acme",
            cio_relationships=[
                rel({"id": "p"}, side="primary"),
                rel({"id": "s"}, side="secondary"),
            ],
        ),
        obj("identify", "beta", cio_relationships=[rel({"id": "s"})]),
    )
    api.track("POST", "/api/v1/merge_customers", {"primary": {"id": "p"}, "secondary": {"id": "s"}})
    mine = {
        o["identifiers"]["object_id"]: o["relationship_attributes"]
        for o in related_objects(api, "p")
    }
    assert mine == {"acme": {"side": "primary"}, "beta": {}}
    assert len(related_people(api, "acme")) == 1


def test_anonymous_relationships_move_to_the_person(api: Api) -> None:
    v2(
        api,
        {"type": "object", "action": "identify_anonymous",
         "identifiers": {"object_type_id": "1", "object_id": "cart-9"},
         "attributes": {"total": 5},
         "cio_relationships": [rel({"anonymous_id": "anon-obj"}, step="checkout")]},
    )  # fmt: skip
    (anon,) = related_people(api, "cart-9")
    assert anon["identifiers"] == {"anonymous_id": "anon-obj"}
    api.identify("buyer", anonymous_id="anon-obj")
    (mine,) = related_objects(api, "buyer")
    assert mine["identifiers"]["object_id"] == "cart-9"
    assert mine["relationship_attributes"] == {"step": "checkout"}


def test_object_validation_errors(api: Api) -> None:
    response = api.track(
        "POST",
        "/api/v2/batch",
        {"batch": [
            obj("identify", "ok"),
            {"type": "object", "action": "identify",
             "identifiers": {"object_type_id": "x", "object_id": "a"}},
            {"type": "object", "action": "identify", "identifiers": {"object_type_id": "1"}},
            obj("identify", "big", attributes={"v": "x" * 1001}),
            obj("add_relationships", "ok"),
            obj("identify", "ok2", cio_relationships=[rel({"id": "a", "email": "a@x.co"})]),
        ]},
    )  # fmt: skip
    assert response.status_code == 207
    assert [e["batch_index"] for e in response.json()["errors"]] == [1, 2, 3, 4, 5]
    assert get_object(api, "ok") is not None
    assert api.app("GET", "/v1/objects/1/nope/attributes").status_code == 404


def test_object_search(api: Api) -> None:
    v2(
        api,
        obj("identify", "a", attributes={"plan": "pro", "region": "eu"}),
        obj("identify", "b", attributes={"plan": "free", "region": "eu"}),
        obj("identify", "c", attributes={"plan": "pro"}),
        obj("identify", "other-type", type_id="2", attributes={"plan": "pro"}),
    )

    def search(filt: Any, **params: Any) -> dict[str, Any]:
        response = api.app(
            "POST", "/v1/objects", {"object_type_id": "1", "filter": filt}, params=params
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    pro = {"object_attribute": {"field": "plan", "operator": "eq", "value": "pro", "type_id": "1"}}
    assert search(pro)["ids"] == ["a", "c"]
    eu = {"object_attribute": {"field": "region", "operator": "exists", "type_id": "1"}}
    assert search({"and": [pro, eu]})["ids"] == ["a"]
    assert search({"or": [{"not": pro}, eu]})["ids"] == ["a", "b"]
    first = search(pro, limit=1)
    assert first["ids"] == ["a"] and first["next"]
    second = search(pro, limit=1, start=first["next"])
    assert second["ids"] == ["c"] and second["next"] == ""
    bad = api.app("POST", "/v1/objects", {"object_type_id": "1", "filter": {"maybe": 1}})
    assert bad.status_code == 400 and "meta" in bad.json()


def test_golden_rudderstack_group_call(api: Api) -> None:
    # RudderStack's Customer.io destination turns a Segment `group` into an object identify
    # with the user in cio_relationships (written from the spec's shapes).
    group = {
        "type": "object",
        "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "company-42"},
        "attributes": {"name": "Initech", "industry": "software", "employees": 250},
        "cio_relationships": [
            {"identifiers": {"id": "user-7"}, "relationship_attributes": {"role": "member"}}
        ],
    }
    assert api.track("POST", "/api/v2/entity", group).status_code == 200
    found = get_object(api, "company-42")
    assert found is not None and found["attributes"]["employees"] == "250"
    (member,) = related_people(api, "company-42")
    assert member["identifiers"]["id"] == "user-7" and member["relationship_attributes"] == {
        "role": "member"
    }


def test_relationship_attributes_are_capped_at_300_after_merging(api: Api) -> None:
    first = {f"a{i}": i for i in range(200)}
    more = {f"b{i}": i for i in range(150)}
    v2(api, obj("identify", "acme", cio_relationships=[rel({"id": "u1"}, **first)]))
    response = api.track(
        "POST", "/api/v2/batch", {"batch": [obj("add_relationships", "acme",
                                                cio_relationships=[rel({"id": "u1"}, **more)])]}
    )  # fmt: skip
    assert response.status_code == 207 and "300" in response.json()["errors"][0]["message"]
    (kept,) = related_people(api, "acme")
    assert set(kept["relationship_attributes"]) == set(first)
