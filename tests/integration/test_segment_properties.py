"""Incremental membership equals a full rebuild, for every kind of condition, after random
sequences of writes (identify, events, devices, relationships, merges, deletes, manual
membership, clock moves) — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from patron.domain import clock
from patron.store import segment_sql, segments
from patron.store.database import Database
from patron.store.schema import segment_members
from support import Api, new_workspace

NOW = 1_800_000_000
DAY = 86400
IDS = ["a", "b", "c", "d"]


def attr(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"attribute": {"field": field, "operator": operator, "value": value}}


# One segment per operator and condition kind; "manual" (created first) is segment MANUAL.
DEFINITIONS: list[Any] = [
    attr("plan", "eq", "pro"),
    attr("plan", "neq", "pro"),
    attr("plan", "exists"),
    attr("plan", "not_exists"),
    attr("plan", "contains", "r"),
    attr("plan", "starts_with", "f"),
    attr("plan", "in", ["free", "team"]),
    attr("score", "gt", 5),
    attr("score", "gte", 5),
    attr("score", "lt", 5),
    attr("score", "lte", 5),
    attr("seen", "within_last", "2d"),
    attr("seen", "more_than_ago", "2d"),
    {"event": {"name": "buy"}},
    {"event": {"name": "buy", "at_least": 2, "within": "3d"}},
    {"event": {"name": "buy", "at_most": 1}},
    {"event": {"name": "buy", "operator": "not_performed"}},
    {"event": {"name": "buy", "data": [attr("amount", "gt", 10)]}},
    {"device": {}},
    {"device": {"platform": "ios"}},
    {"relationship": {"object_type_id": 1, "attributes": [attr("tier", "eq", "gold")]}},
    {"or": [{"segment": {"id": "MANUAL"}}, attr("score", "gte", 8)]},
    {"and": [{"segment": {"id": "FIRST"}}, {"not": {"device": {}}}]},
]

who = st.sampled_from(IDS)
write = st.one_of(
    st.tuples(
        st.just("identify"),
        who,
        st.fixed_dictionaries(
            {},
            optional={
                "plan": st.sampled_from(["pro", "free", "team", None]),
                "score": st.one_of(st.integers(0, 10), st.sampled_from(["3", "7.5", "x"])),
                "seen": st.integers(NOW - 5 * DAY, NOW),
            },
        ),
    ),
    st.tuples(st.just("event"), who, st.integers(0, 30), st.integers(0, 4)),
    st.tuples(st.just("device"), who, st.sampled_from(["ios", "android"])),
    st.tuples(st.just("undevice"), who, st.sampled_from(["ios", "android"])),
    st.tuples(st.just("relate"), who, st.sampled_from(["o1", "o2"])),
    st.tuples(st.just("tier"), st.sampled_from(["o1", "o2"]), st.sampled_from(["gold", "tin"])),
    st.tuples(st.just("merge"), who, who),
    st.tuples(st.just("delete"), who),
    st.tuples(st.just("add"), who),
    st.tuples(st.just("remove"), who),
    st.tuples(st.just("clock"), st.integers(1, 2 * DAY)),
)


def _write(api: Api, manual: int, step: tuple[Any, ...]) -> None:
    kind, *args = step
    if kind == "identify":
        ident, attributes = args
        response = api.track("PUT", f"/api/v1/customers/{ident}", attributes)
    elif kind == "event":
        ident, amount, days_ago = args
        body = {"name": "buy", "data": {"amount": amount}, "timestamp": NOW - days_ago * DAY}
        response = api.track("POST", f"/api/v1/customers/{ident}/events", body)
    elif kind == "device":
        ident, platform = args
        device = {"device": {"id": f"{ident}-{platform}", "platform": platform}}
        response = api.track("PUT", f"/api/v1/customers/{ident}/devices", device)
    elif kind == "undevice":
        ident, platform = args
        response = api.track("DELETE", f"/api/v1/customers/{ident}/devices/{ident}-{platform}")
    elif kind == "relate":
        ident, obj = args
        related = {"identifiers": {"object_type_id": "1", "object_id": obj}}
        op = {"type": "person", "action": "add_relationships", "identifiers": {"id": ident},
              "cio_relationships": [related]}  # fmt: skip
        response = api.track("POST", "/api/v2/entity", op)
    elif kind == "tier":
        obj, tier = args
        op = {"type": "object", "action": "identify", "attributes": {"tier": tier},
              "identifiers": {"object_type_id": "1", "object_id": obj}}  # fmt: skip
        response = api.track("POST", "/api/v2/entity", op)
    elif kind == "merge":
        primary, secondary = args
        body = {"primary": {"id": primary}, "secondary": {"id": secondary}}
        response = api.track("POST", "/api/v1/merge_customers", body)
    elif kind == "delete":
        response = api.track("DELETE", f"/api/v1/customers/{args[0]}")
    elif kind in ("add", "remove"):
        path = f"/api/v1/segments/{manual}/{kind}_customers"
        response = api.track("POST", path, {"ids": [args[0]]})
    else:
        response = api.app("POST", "/__patron/clock", {"advance": args[0]})
    assert response.status_code == 200, (step, response.text)


def _resolve(raw: Any, manual: int, first: int) -> Any:
    if isinstance(raw, dict):
        return {k: _resolve(v, manual, first) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_resolve(v, manual, first) for v in raw]
    return {"MANUAL": manual, "FIRST": first}.get(raw, raw) if isinstance(raw, str) else raw


def _compare(database: Database, ws: int) -> None:
    def check(conn: sa.Connection) -> list[str]:
        wrong = []
        now = clock.now(ws)
        for segment in segments.all_of(conn, ws, kind=segments.DYNAMIC):
            stored = set(
                conn.execute(
                    sa.select(segment_members.c.person_pk).where(
                        segment_members.c.segment_id == segment.id
                    )
                ).scalars()
            )
            query = segment_sql.matching(conn.dialect.name, ws, segment.condition, now)
            rebuilt = set(conn.execute(query).scalars())
            if stored != rebuilt:
                wrong.append(f"{segment.conditions}: kept {stored}, rebuild {rebuilt}")
        return wrong

    assert database.read_sync(check) == []


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(write, min_size=1, max_size=25))
def test_incremental_membership_equals_a_full_rebuild(
    dev_http: TestClient, database: Database, steps: list[tuple[Any, ...]]
) -> None:
    api = Api(dev_http, new_workspace(database))
    api.app("POST", "/__patron/clock", {"set": NOW, "freeze": True})
    manual = api.app("POST", "/v1/segments", {"segment": {"name": "manual"}}).json()["segment"]
    first = 0
    for index, raw in enumerate(DEFINITIONS):
        body = {"segment": {"name": f"s{index}", "conditions": _resolve(raw, manual["id"], first)}}
        created = api.app("POST", "/v1/segments", body)
        assert created.status_code == 200, created.text
        first = first or created.json()["segment"]["id"]
    for step in steps:
        _write(api, manual["id"], step)
    settled = api.app("POST", "/__patron/settle", {"timeout": 30}).json()
    assert settled == {"settled": True}
    _compare(database, api.creds.workspace_id)
