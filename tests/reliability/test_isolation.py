"""Workspace isolation: workspace B's keys can neither read nor change workspace A's people,
events, objects, relationships or control plane — whatever B sends. On both databases."""

from __future__ import annotations

from typing import Any

from support import Api


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def seed_workspace_a(a: Api) -> dict[str, Any]:
    a.identify("shared-id", email="shared@example.com", plan="a-plan")
    ok(a.track("POST", "/api/v1/customers/shared-id/events", {"name": "a-event", "id": "ev-a"}))
    ok(
        a.track(
            "PUT",
            "/api/v1/customers/shared-id/devices",
            {"device": {"id": "tok-a", "platform": "ios"}},
        )
    )
    ok(
        a.track(
            "POST",
            "/api/v2/entity",
            {
                "type": "object",
                "action": "identify",
                "identifiers": {"object_type_id": "1", "object_id": "acme"},
                "attributes": {"owner": "a"},
                "cio_relationships": [{"identifiers": {"id": "shared-id"}}],
            },
        )
    )
    ok(a.app("POST", "/__patron/snapshot", {"name": "a-snap"}))
    ok(a.app("POST", "/__patron/faults", {"path": "/nowhere", "status": 500}))
    ok(a.app("POST", "/__patron/clock", {"set": 1_600_000_000, "freeze": True}))
    ok(a.app("POST", "/__patron/seed", {"seed": 5}))
    person = a.person("shared-id")
    assert person is not None
    return person


def test_b_cannot_read_a(dev: Api, other: Api) -> None:
    a, b = dev, other
    person = seed_workspace_a(a)
    cio = person["identifiers"]["cio_id"]
    assert b.person("shared-id") is None
    assert b.person("shared@example.com", "email") is None
    assert b.person(cio, "cio_id") is None
    assert ok(b.app("GET", "/v1/customers", params={"email": "shared@example.com"})) == {
        "results": []
    }
    assert ok(b.app("POST", "/v1/customers/attributes", {"ids": ["shared-id"]})) == {
        "customers": []
    }
    assert b.activities() == []
    assert b.app("GET", "/v1/objects/1/acme/attributes").status_code == 404
    assert b.app("GET", "/v1/customers/shared-id/relationships").status_code == 404
    assert ok(b.app("POST", "/v1/objects", {"object_type_id": "1"}))["ids"] == []
    # Control plane: B sees only its own state.
    assert ok(b.app("GET", "/__patron/people"))["people"] == []
    assert ok(b.app("GET", "/__patron/snapshots")) == {"snapshots": []}
    assert ok(b.app("GET", "/__patron/faults")) == {"faults": []}
    assert ok(b.app("GET", "/__patron/seed")) == {"seed": None}
    assert ok(b.app("GET", "/__patron/clock"))["frozen"] is False
    seen = ok(b.app("GET", "/__patron/requests", params={"limit": "1000"}))["requests"]
    assert seen and {e["identity"]["workspace_id"] for e in seen} == {b.creds.workspace_id}


def test_b_cannot_change_a(dev: Api, other: Api) -> None:
    a, b = dev, other
    before = seed_workspace_a(a)
    cio = before["identifiers"]["cio_id"]
    # Writes naming A's identifiers create or change B's own people only.
    b.identify("shared-id", email="shared@example.com", plan="b-plan")
    ok(b.track("PUT", f"/api/v1/customers/cio_{cio}", {"plan": "hijack"}))
    ok(b.track("POST", "/api/v1/customers/shared-id/suppress"))
    ok(b.track("DELETE", "/api/v1/customers/shared-id"))
    ok(b.track("DELETE", "/api/v1/customers/shared-id/devices/tok-a"))
    ok(
        b.track(
            "POST",
            "/api/v1/merge_customers",
            {"primary": {"id": "x"}, "secondary": {"id": "shared-id"}},
        )
    )
    ok(
        b.track(
            "POST",
            "/api/v2/entity",
            {
                "type": "object",
                "action": "delete",
                "identifiers": {"object_type_id": "1", "object_id": "acme"},
            },
        )
    )
    ok(b.track("POST", "/api/v1/customers/shared-id/events", {"name": "b-event", "id": "ev-a"}))
    # Control plane: B's reset, restore, fault clearing and clock changes touch only B.
    ok(b.app("POST", "/__patron/reset", {}))
    assert b.app("POST", "/__patron/restore", {"name": "a-snap"}).status_code == 404
    ok(b.app("DELETE", "/__patron/faults"))
    ok(b.app("DELETE", "/__patron/requests"))
    ok(b.app("POST", "/__patron/clock", {"advance": "30d"}))
    ok(b.app("POST", "/__patron/seed", {"seed": None}))

    assert a.person("shared-id") == before
    assert [e["name"] for e in a.activities("shared-id", type="event")] == ["a-event"]
    assert ok(a.app("GET", "/v1/objects/1/acme/attributes"))["object"]["attributes"] == {
        "owner": "a"
    }
    assert len(ok(a.app("GET", "/__patron/faults"))["faults"]) == 1
    assert ok(a.app("GET", "/__patron/clock"))["now"] == 1_600_000_000
    assert ok(a.app("GET", "/__patron/seed")) == {"seed": 5}
    assert ok(a.app("GET", "/__patron/requests"))["requests"] != []
    assert [s["name"] for s in ok(a.app("GET", "/__patron/snapshots"))["snapshots"]] == ["a-snap"]


def test_keys_of_one_kind_never_work_as_another(dev: Api) -> None:
    creds = dev.creds
    track_as_app = dev.http.get(
        "/v1/customers/x/attributes", headers={"Authorization": f"Bearer {creds.track_api_key}"}
    )
    assert track_as_app.status_code == 401
    app_as_track = dev.http.put(
        "/api/v1/customers/x", json={}, auth=(creds.site_id, creds.app_api_key or "")
    )
    assert app_as_track.status_code == 401
    control_with_track = dev.http.get(
        "/__patron/clock", auth=(creds.site_id, creds.track_api_key or "")
    )
    assert control_with_track.status_code == 401
