"""Segments: manual ones (App API + Track v1 membership), data-driven ones kept exact by the
segment worker, and people search — on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from patron.domain import conditions
from patron.store import segment_sql
from patron.store.database import Database
from patron.store.schema import changes, people
from support import Api, quote


def settle(api: Api) -> None:
    response = api.app("POST", "/__patron/settle", {"timeout": 20})
    assert response.json() == {"settled": True}


def create(api: Api, name: str, cond: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, **extra}
    if cond is not None:
        body["conditions"] = cond
    response = api.app("POST", "/v1/segments", {"segment": body})
    assert response.status_code == 200, response.text
    segment: dict[str, Any] = response.json()["segment"]
    return segment


def members(api: Api, segment_id: int) -> list[str | None]:
    found: list[str | None] = []
    start = ""
    while True:
        params = {"limit": 2, **({"start": start} if start else {})}
        page = api.app("GET", f"/v1/segments/{segment_id}/membership", params=params).json()
        found += page["ids"]
        start = page["next"]
        if not start:
            return sorted(found, key=str)


def search(api: Api, filt: Any) -> list[str | None]:
    response = api.app("POST", "/v1/customers", {"filter": filt}, params={"limit": 1000})
    assert response.status_code == 200, response.text
    return sorted(response.json()["ids"], key=str)


def attr(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"field": field, "operator": operator}
    if value is not None:
        body["value"] = value
    return {"attribute": body}


# --- manual segments ---------------------------------------------------------------------


def test_manual_segment_lifecycle(dev: Api) -> None:
    created = create(dev, "VIPs", description="hand picked", tags=["a", "b"])
    assert created["type"] == "manual" and created["state"] == "finished"
    assert created["deduplicate_id"] == f"{created['id']}:{created['updated_at']}"
    assert created["description"] == "hand picked" and created["tags"] == ["a", "b"]
    sid = created["id"]
    listed = dev.app("GET", "/v1/segments").json()["segments"]
    assert [s["id"] for s in listed] == [sid]
    assert dev.app("GET", f"/v1/segments/{sid}").json()["segment"] == created

    for i in range(5):
        dev.identify(f"m{i}", email=f"m{i}@example.com")
    add = dev.track(
        "POST", f"/api/v1/segments/{sid}/add_customers", {"ids": ["m0", "m1", "m2", "ghost"]}
    )
    assert add.status_code == 200 and add.json() == {}
    by_email = dev.track(
        "POST",
        f"/api/v1/segments/{sid}/add_customers",
        {"ids": ["M3@example.com"]},
        params={"id_type": "email"},
    )
    assert by_email.status_code == 200
    assert dev.app("GET", f"/v1/segments/{sid}/customer_count").json() == {"count": 4}
    assert members(dev, sid) == ["m0", "m1", "m2", "m3"]

    cio = dev.person("m1")
    assert cio is not None
    remove = dev.track(
        "POST",
        f"/api/v1/segments/{sid}/remove_customers",
        {"ids": [cio["identifiers"]["cio_id"], "nobody"]},
        params={"id_type": "cio_id"},
    )
    assert remove.status_code == 200
    assert members(dev, sid) == ["m0", "m2", "m3"]
    mine = dev.app("GET", "/v1/customers/m0/segments").json()["segments"]
    assert [s["id"] for s in mine] == [sid]
    assert dev.app("GET", "/v1/customers/m1/segments").json() == {"segments": []}
    kinds = [a["type"] for a in dev.activities("m1")]
    assert kinds[:2] == ["segment_exited", "segment_entered"]

    used = dev.app("GET", f"/v1/segments/{sid}/used_by").json()["used_by"]
    assert used["campaigns"] == [] and used["segments"] == []
    assert dev.app("DELETE", f"/v1/segments/{sid}").status_code == 204
    assert dev.app("GET", f"/v1/segments/{sid}").status_code == 404
    assert dev.app("GET", "/v1/customers/m0/segments").json() == {"segments": []}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"segment": {}}, 400),
        ({"segment": {"name": ""}}, 400),
        ({"segment": {"name": "x", "tags": "nope"}}, 400),
        ({"segment": {"name": "x", "conditions": {"attribute": {"field": "a"}}}}, 400),
        ({"segment": {"name": "x", "conditions": {"bogus": {}}}}, 400),
        ({"segment": {"name": "x", "conditions": {"segment": {"id": 999}}}}, 400),
    ],
)
def test_bad_segment_definitions_are_400(dev: Api, body: Any, status: int) -> None:
    response = dev.app("POST", "/v1/segments", body)
    assert response.status_code == status
    assert response.json()["meta"]["error"]


def test_membership_errors(dev: Api, other: Api) -> None:
    sid = create(dev, "m")["id"]
    dynamic = create(dev, "d", attr("plan", "exists"))["id"]
    path = f"/api/v1/segments/{sid}/add_customers"
    assert dev.track("POST", path, {"ids": []}).status_code == 400
    assert dev.track("POST", path, {"ids": ["x"] * 1001}).status_code == 400
    assert dev.track("POST", path, {"ids": ["x"]}, params={"id_type": "nope"}).status_code == 400
    unknown = dev.track("POST", "/api/v1/segments/99999/add_customers", {"ids": ["x"]})
    assert unknown.status_code == 404 and unknown.json()["meta"]["error"]
    assert (
        dev.track("POST", "/api/v1/segments/abc/add_customers", {"ids": ["x"]}).status_code == 404
    )
    to_dynamic = dev.track("POST", f"/api/v1/segments/{dynamic}/add_customers", {"ids": ["x"]})
    assert to_dynamic.status_code == 400
    # Another workspace's key cannot see or change this workspace's segment.
    assert other.track("POST", path, {"ids": ["x"]}).status_code == 404
    assert other.app("GET", f"/v1/segments/{sid}").status_code == 404
    assert dev.http.post(path, json={"ids": ["x"]}).status_code == 401


# --- data-driven segments: every operator --------------------------------------------------

NOW = 1_800_000_000
DAY = 86400

PEOPLE: dict[str, dict[str, Any]] = {
    "p1": {"plan": "pro", "score": 10, "seen": NOW - 1 * DAY, "tags": "red,blue", "flag": True},
    "p2": {"plan": "free", "score": "25", "seen": NOW - 10 * DAY, "tags": "blue"},
    "p3": {"plan": "Pro", "score": 7.5, "seen": str(NOW - 40 * DAY)},
    "p4": {"score": "n/a", "email": "Four@Example.com"},
}

CASES: list[tuple[Any, list[str]]] = [
    (attr("plan", "eq", "pro"), ["p1"]),
    (attr("plan", "neq", "pro"), ["p2", "p3", "p4"]),
    (attr("plan", "exists"), ["p1", "p2", "p3"]),
    (attr("plan", "not_exists"), ["p4"]),
    (attr("plan", "contains", "ro"), ["p1", "p3"]),
    (attr("plan", "starts_with", "P"), ["p3"]),
    (attr("plan", "in", ["free", "Pro"]), ["p2", "p3"]),
    (attr("score", "gt", 10), ["p2"]),
    (attr("score", "gte", 10), ["p1", "p2"]),
    (attr("score", "lt", 10), ["p3"]),
    (attr("score", "lte", "7.5"), ["p3"]),
    (attr("score", "eq", 25), ["p2"]),
    (attr("score", "eq", "25"), ["p2"]),
    (attr("flag", "eq", True), ["p1"]),
    (attr("seen", "within_last", "7d"), ["p1"]),
    (attr("seen", "more_than_ago", "30d"), ["p3"]),
    (attr("email", "eq", "four@example.COM"), ["p4"]),
    (attr("id", "starts_with", "p"), ["p1", "p2", "p3", "p4"]),
    ({"not": attr("score", "exists")}, []),
    ({"or": [attr("plan", "eq", "free"), attr("score", "lt", 8)]}, ["p2", "p3"]),
    ({"and": [attr("tags", "contains", "blue"), {"not": attr("plan", "eq", "pro")}]}, ["p2"]),
    ({"event": {"name": "buy"}}, ["p1", "p2"]),
    ({"event": {"name": "buy", "at_least": 2}}, ["p1"]),
    ({"event": {"name": "buy", "at_most": 1}}, ["p2", "p3", "p4"]),
    ({"event": {"name": "buy", "operator": "not_performed"}}, ["p3", "p4"]),
    ({"event": {"name": "buy", "within": "5d"}}, ["p1"]),
    ({"event": {"name": "buy", "data": [attr("amount", "gte", 50)]}}, ["p2"]),
    ({"event": {"name": "/pricing", "type": "page"}}, ["p3"]),
    ({"event": {"name": "/pricing"}}, []),
    ({"device": {}}, ["p1", "p2"]),
    ({"device": {"platform": "android"}}, ["p2"]),
    ({"relationship": {"object_type_id": 1}}, ["p1", "p3"]),
    ({"relationship": {"object_type_id": "1", "attributes": [attr("tier", "eq", "gold")]}}, ["p1"]),
    (
        {
            "relationship": {
                "object_type_id": 1,
                "relationship_attributes": [attr("role", "eq", "admin")],
            }
        },
        ["p3"],
    ),
]


def _populate(api: Api) -> None:
    api.app("POST", "/__patron/clock", {"set": NOW, "freeze": True})
    for ident, attributes in PEOPLE.items():
        api.identify(ident, **attributes)
    events = [
        ("p1", "buy", NOW - DAY, 10),
        ("p1", "buy", NOW - 9 * DAY, 20),
        ("p2", "buy", NOW - 8 * DAY, 70),
    ]
    for ident, name, ts, amount in events:
        body = {"name": name, "timestamp": ts, "data": {"amount": amount}}
        assert api.track("POST", f"/api/v1/customers/{ident}/events", body).status_code == 200
    page = {"name": "/pricing", "type": "page", "timestamp": NOW - DAY}
    assert api.track("POST", "/api/v1/customers/p3/events", page).status_code == 200
    for ident, token, platform in [("p1", "t1", "ios"), ("p2", "t2", "android")]:
        device = {"device": {"id": token, "platform": platform}}
        assert api.track("PUT", f"/api/v1/customers/{ident}/devices", device).status_code == 200
    batch = [
        {"type": "object", "action": "identify",
         "identifiers": {"object_type_id": "1", "object_id": "acme"},
         "attributes": {"tier": "gold"},
         "cio_relationships": [{"identifiers": {"id": "p1"}}]},
        {"type": "object", "action": "identify",
         "identifiers": {"object_type_id": "1", "object_id": "initech"},
         "attributes": {"tier": "silver"},
         "cio_relationships": [{"identifiers": {"id": "p3"},
                                "relationship_attributes": {"role": "admin"}}]},
    ]  # fmt: skip
    assert api.track("POST", "/api/v2/batch", {"batch": batch}).status_code == 200


def test_every_operator_in_segments_and_search(dev: Api) -> None:
    _populate(dev)
    ids = [create(dev, f"s{i}", cond)["id"] for i, (cond, _) in enumerate(CASES)]
    settle(dev)
    for sid, (cond, expected) in zip(ids, CASES, strict=True):
        assert members(dev, sid) == expected, cond
        assert search(dev, cond) == expected, cond
        segment = dev.app("GET", f"/v1/segments/{sid}").json()["segment"]
        assert segment["state"] == "finished" and segment["type"] == "dynamic"
        assert segment["conditions"] == cond


def test_search_takes_customerios_own_filter_and_pages(dev: Api) -> None:
    for i in range(5):
        dev.identify(f"s{i}", plan="pro" if i != 2 else "free")
    filt = {"and": [{"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}]}
    first = dev.app("POST", "/v1/customers", {"filter": filt}, params={"limit": 3}).json()
    assert first["ids"] == ["s0", "s1", "s3"] and first["next"]
    assert [i["id"] for i in first["identifiers"]] == first["ids"]
    rest = dev.app(
        "POST", "/v1/customers", {"filter": filt}, params={"limit": 3, "start": first["next"]}
    ).json()
    assert rest["ids"] == ["s4"] and rest["next"] == ""
    assert dev.app("POST", "/v1/customers", {}).status_code == 400
    assert dev.app("POST", "/v1/customers", {"filter": {"x": 1}}).status_code == 400
    assert (
        dev.app("POST", "/v1/customers", {"filter": filt}, params={"start": "!!"}).status_code
        == 400
    )


# --- staying exact as data arrives ---------------------------------------------------------


def test_search_for_a_segment_that_does_not_exist_matches_nobody(dev: Api, other: Api) -> None:
    """As on Customer.io: customerio-node's live suite searches for segment 0."""
    dev.identify("a")
    dev.identify("b")
    theirs = create(other, "theirs")["id"]
    for missing in (0, 987654, theirs, "0"):
        assert search(dev, {"or": [{"segment": {"id": missing}}]}) == []
        assert search(dev, {"not": {"segment": {"id": missing}}}) == ["a", "b"]
    # Defining a segment on one that does not exist stays an error.
    body = {"segment": {"name": "x", "conditions": {"segment": {"id": 0}}}}
    assert dev.app("POST", "/v1/segments", body).status_code == 400


def test_membership_follows_writes(dev: Api) -> None:
    pro = create(dev, "pro", attr("plan", "eq", "pro"))["id"]
    buyers = create(dev, "buyers", {"event": {"name": "buy", "at_least": 2}})["id"]
    both = create(
        dev, "pro buyers", {"and": [{"segment": {"id": pro}}, {"segment": {"id": buyers}}]}
    )["id"]
    dev.identify("a", plan="pro")
    dev.identify("b", plan="free")
    settle(dev)
    assert members(dev, pro) == ["a"] and members(dev, both) == []
    for _ in range(2):
        dev.track("POST", "/api/v1/customers/a/events", {"name": "buy"})
    dev.identify("b", plan="pro")
    settle(dev)
    assert members(dev, buyers) == ["a"]
    assert members(dev, pro) == ["a", "b"]
    assert members(dev, both) == ["a"]
    dev.identify("a", plan="free")
    settle(dev)
    assert members(dev, pro) == ["b"] and members(dev, both) == []
    used = dev.app("GET", f"/v1/segments/{pro}/used_by").json()["used_by"]["segments"]
    assert used == [both]
    assert dev.app("DELETE", f"/v1/segments/{pro}").status_code == 400  # still referred to
    types = [a["type"] for a in dev.activities("a") if a["type"].startswith("segment_")]
    assert types.count("segment_entered") == 3 and types.count("segment_exited") == 2


def test_delete_and_merge_move_or_drop_memberships(dev: Api, database: Database) -> None:
    manual = create(dev, "manual")["id"]
    pro = create(dev, "pro", attr("plan", "eq", "pro"))["id"]
    dev.identify("keep", plan="free")
    dev.identify("gone", plan="pro")
    dev.identify("dup", email="dup@example.com", plan="pro")
    dev.track("POST", f"/api/v1/segments/{manual}/add_customers", {"ids": ["gone", "dup"]})
    settle(dev)
    assert members(dev, pro) == ["dup", "gone"]
    gone_pk = database.read_sync(
        lambda c: c.execute(sa.select(people.c.pk).where(people.c.external_id == "gone")).scalar()
    )
    assert dev.track("DELETE", "/api/v1/customers/gone").status_code == 200
    merge = {"primary": {"id": "keep"}, "secondary": {"email": "dup@example.com"}}
    assert dev.track("POST", "/api/v1/merge_customers", merge).status_code == 200
    settle(dev)
    # keep inherited dup's manual membership; dup's plan did not override keep's own.
    assert members(dev, manual) == ["keep"]
    assert members(dev, pro) == []
    exits = database.read_sync(
        lambda c: (
            c.execute(
                sa.select(changes.c.segment_id)
                .where(changes.c.person_pk == gone_pk, changes.c.kind == "segment_exited")
                .order_by(changes.c.segment_id)
            )
            .scalars()
            .all()
        )
    )
    assert exits == [manual, pro]


def test_object_changes_reach_related_people(dev: Api) -> None:
    gold = create(
        dev,
        "gold",
        {"relationship": {"object_type_id": 1, "attributes": [attr("tier", "eq", "gold")]}},
    )["id"]
    op = {"type": "object", "action": "identify",
          "identifiers": {"object_type_id": "1", "object_id": "acme"},
          "attributes": {"tier": "silver"},
          "cio_relationships": [{"identifiers": {"id": "r1"}},
                                {"identifiers": {"id": "r2"}}]}  # fmt: skip
    assert dev.track("POST", "/api/v2/entity", op).status_code == 200
    settle(dev)
    assert members(dev, gold) == []
    op["attributes"] = {"tier": "gold"}
    op.pop("cio_relationships")
    assert dev.track("POST", "/api/v2/entity", op).status_code == 200
    settle(dev)
    assert members(dev, gold) == ["r1", "r2"]
    delete = {"type": "object", "action": "delete", "identifiers": op["identifiers"]}
    assert dev.track("POST", "/api/v2/entity", delete).status_code == 200
    settle(dev)
    assert members(dev, gold) == []


def test_time_relative_conditions_follow_the_clock(dev: Api) -> None:
    dev.app("POST", "/__patron/clock", {"set": NOW, "freeze": True})
    recent = create(dev, "recent", attr("seen", "within_last", "7d"))["id"]
    lapsed = create(dev, "lapsed", attr("seen", "more_than_ago", "7d"))["id"]
    active = create(dev, "active", {"event": {"name": "login", "within": "3d"}})["id"]
    dev.identify("t1", seen=NOW - DAY)
    dev.identify("t2", seen=NOW - 5 * DAY)
    dev.track("POST", "/api/v1/customers/t1/events", {"name": "login", "timestamp": NOW - DAY})
    settle(dev)
    assert members(dev, recent) == ["t1", "t2"] and members(dev, lapsed) == []
    assert members(dev, active) == ["t1"]
    dev.app("POST", "/__patron/clock", {"advance": "3d"})
    settle(dev)
    assert members(dev, recent) == ["t1"] and members(dev, lapsed) == ["t2"]
    assert members(dev, active) == []
    dev.app("POST", "/__patron/clock", {"advance": "-3d"})  # back in time: rebuilt
    settle(dev)
    assert members(dev, recent) == ["t1", "t2"] and members(dev, active) == ["t1"]


def test_redefining_a_segment_rebuilds_it(dev: Api) -> None:
    for i in range(6):
        dev.identify(f"r{i}", score=i)
    sid = create(dev, "high", attr("score", "gte", 4))["id"]
    settle(dev)
    assert members(dev, sid) == ["r4", "r5"]
    changed = dev.app(
        "PUT",
        f"/v1/segments/{sid}",
        {"segment": {"conditions": attr("score", "lt", 2), "description": "low"}},
    )
    assert changed.status_code == 200 and changed.json()["segment"]["description"] == "low"
    assert changed.json()["segment"]["state"] == "build_queued"
    settle(dev)
    assert members(dev, sid) == ["r0", "r1"]
    self_ref = dev.app(
        "PUT", f"/v1/segments/{sid}", {"segment": {"conditions": {"segment": {"id": sid}}}}
    )
    assert self_ref.status_code == 400
    manual = create(dev, "manual")["id"]
    bad = dev.app("PUT", f"/v1/segments/{manual}", {"segment": {"conditions": attr("a", "exists")}})
    assert bad.status_code == 400


def test_a_build_over_many_people_in_steps(database: Database, dev: Api) -> None:
    batch = [
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": f"b{i}"},
            "attributes": {"n": i},
        }
        for i in range(300)
    ]
    assert dev.track("POST", "/api/v2/batch", {"batch": batch}).status_code == 200
    sid = create(dev, "even", {"or": [attr("n", "lt", 10), attr("n", "gte", 295)]})["id"]
    settle(dev)
    assert len(members(dev, sid)) == 15
    assert dev.app("GET", f"/v1/segments/{sid}/customer_count").json() == {"count": 15}


def test_incremental_and_full_evaluation_agree_for_every_case(dev: Api, database: Database) -> None:
    """The same condition compiled for everyone and, as the worker asks it, for a few
    candidates (correlated; every case at once, one answer column each)."""
    _populate(dev)
    ws = dev.creds.workspace_id
    keys = database.read_sync(
        lambda c: (
            c.execute(sa.select(people.c.pk).where(people.c.workspace_id == ws)).scalars().all()
        )
    )
    parsed = [conditions.parse(cond) for cond, _ in CASES]

    def both(conn: sa.Connection) -> tuple[list[set[int]], list[set[int]]]:
        dialect = conn.dialect.name
        full = [
            set(conn.execute(segment_sql.matching(dialect, ws, p, NOW)).scalars()) for p in parsed
        ]
        query = segment_sql.outcomes(dialect, ws, tuple((p, NOW) for p in parsed))
        some: list[set[int]] = [set() for _ in parsed]
        for pk, *answers in conn.execute(query, {"candidates": list(keys)}):
            for index, answer in enumerate(answers):
                if answer:
                    some[index].add(pk)
        return full, some

    full, some = database.read_sync(both)
    for (cond, _), everyone, candidates in zip(CASES, full, some, strict=True):
        assert everyone == candidates, cond


def test_settle_reports_when_the_worker_cannot_finish(dev: Api) -> None:
    assert dev.app("POST", "/__patron/settle", {"timeout": 0}).status_code == 400
    assert dev.app("POST", "/__patron/settle", {"timeout": "x"}).status_code == 400
    started = time.monotonic()
    assert dev.app("POST", "/__patron/settle", {}).json() == {"settled": True}
    assert time.monotonic() - started < 5


def test_person_segments_for_unknown_person_is_404(dev: Api) -> None:
    assert dev.app("GET", f"/v1/customers/{quote('no one')}/segments").status_code == 404
