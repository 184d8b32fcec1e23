"""The dev control plane (``/__patron``): reset, snapshots, seed, clock, request log, faults,
and enforced rate limits, on both databases, through the real app."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from live import LiveServer
from patron.store import exports, schema, segments, snapshots, workspaces
from patron.store.database import Database
from support import Api, in_process, new_workspace, scratch_postgres


def control(api: Api, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    response = api.app(method, f"/__patron/{path}", body, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def event(api: Api, person: str, name: str, **body: Any) -> None:
    response = api.track("POST", f"/api/v1/customers/{person}/events", {"name": name, **body})
    assert response.status_code == 200, response.text


# --- authentication and presence ---------------------------------------------------------


def test_control_plane_is_absent_without_dev_mode(api: Api) -> None:
    response = api.app("POST", "/__patron/reset", {})
    assert response.status_code == 404
    assert api.app("GET", "/__patron/clock").status_code == 404


def test_control_plane_needs_the_app_api_key(dev: Api) -> None:
    assert dev.http.get("/__patron/clock").status_code == 401
    wrong = dev.http.get("/__patron/clock", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"meta": {"error": "Unauthorized request"}}
    # The Track key is not an App API key.
    assert dev.track("GET", "/__patron/clock").status_code == 401


# --- reset --------------------------------------------------------------------------------


def test_reset_empties_only_the_callers_workspace_and_keys_stay_valid(dev: Api, other: Api) -> None:
    dev.identify("u1", email="u1@example.com")
    event(dev, "u1", "signed_up")
    other.identify("o1")
    assert control(dev, "POST", "reset") == {"reset": [dev.creds.workspace_id]}
    assert dev.person("u1") is None
    assert dev.activities() == []
    assert other.person("o1") is not None
    # Same keys still work.
    dev.identify("u2")
    assert dev.person("u2") is not None


def test_reset_all_empties_every_workspace(dev: Api, other: Api) -> None:
    dev.identify("u1")
    other.identify("o1")
    result = control(dev, "POST", "reset", {"all": True})
    assert {dev.creds.workspace_id, other.creds.workspace_id} <= set(result["reset"])
    assert dev.person("u1") is None and other.person("o1") is None


def test_reset_rejects_a_non_boolean_all(dev: Api) -> None:
    response = dev.app("POST", "/__patron/reset", {"all": "yes"})
    assert response.status_code == 400
    assert "all" in response.text


# --- snapshots ----------------------------------------------------------------------------


def _v2(api: Api, *ops: dict[str, Any]) -> None:
    response = api.track("POST", "/api/v2/batch", {"batch": list(ops)})
    assert response.status_code == 200, response.text


def test_snapshot_and_restore_round_trip(dev: Api, other: Api) -> None:
    dev.identify("u1", email="u1@example.com", plan="pro")
    event(dev, "u1", "purchase", data={"amount": 5})
    _v2(
        dev,
        {
            "type": "object",
            "action": "identify",
            "identifiers": {"object_type_id": "1", "object_id": "acme"},
            "attributes": {"tier": "gold"},
            "cio_relationships": [
                {"identifiers": {"id": "u1"}, "relationship_attributes": {"r": 1}}
            ],
        },
    )
    before = dev.person("u1")
    saved = control(dev, "POST", "snapshot", {"name": "seeded"})
    assert saved["name"] == "seeded" and saved["rows"] >= 4
    assert [s["name"] for s in control(dev, "GET", "snapshots")["snapshots"]] == ["seeded"]

    # Change everything, and let another workspace take new primary keys meanwhile.
    dev.identify("u1", plan="free")
    dev.identify("u9")
    dev.track("DELETE", "/api/v1/customers/u1")
    for n in range(5):
        other.identify(f"o{n}")

    restored = control(dev, "POST", "restore", {"name": "seeded"})
    assert restored["rows"] == saved["rows"]
    assert dev.person("u1") == before
    assert dev.person("u9") is None
    names = [a["name"] for a in dev.activities("u1", type="event")]
    assert names == ["purchase"]
    rels = dev.app("GET", "/v1/customers/u1/relationships").json()
    assert [
        (r["identifiers"]["object_id"], r["relationship_attributes"])
        for r in rels["cio_relationships"]
    ] == [("acme", {"r": "1"})]
    obj = dev.app("GET", "/v1/objects/1/acme/attributes").json()
    assert obj["object"]["attributes"]["tier"] == "gold"
    # The other workspace is untouched, and new writes after a restore get fresh keys.
    assert all(other.person(f"o{n}") is not None for n in range(5))
    dev.identify("u10")
    assert dev.person("u10") is not None and dev.person("u1") == before


def _pro_segment(api: Api) -> int:
    condition = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    body = {"segment": {"name": "pro", "conditions": condition}}
    response = api.app("POST", "/v1/segments", body)
    assert response.status_code == 200, response.text
    segment_id: int = response.json()["segment"]["id"]
    return segment_id


def _settled_members(api: Api, segment_id: int) -> list[str]:
    assert control(api, "POST", "settle", {"timeout": 20}) == {"settled": True}
    response = api.app("GET", f"/v1/segments/{segment_id}/membership", params={"limit": 100})
    assert response.status_code == 200, response.text
    return sorted(response.json()["ids"])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live_dev(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The default workspace of a real ``patron serve --dev`` (uvicorn, its workers running)."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'patron.db'}"
        else:
            url = stack.enter_context(scratch_postgres("patron_restore"))
        server = LiveServer(url, tmp_path, args=("--dev",))
        stack.callback(server.stop)
        http = stack.enter_context(httpx.Client(base_url=server.base, timeout=30))
        fields = workspaces.Credentials.__struct_fields__
        creds = workspaces.Credentials(**{k: v for k, v in server.creds.items() if k in fields})
        yield Api(http, creds)  # type: ignore[arg-type]


def test_segments_follow_new_data_after_a_restore(live_dev: Api) -> None:
    dev = live_dev
    pro = _pro_segment(dev)
    dev.identify("a", plan="pro")
    assert _settled_members(dev, pro) == ["a"]
    control(dev, "POST", "snapshot", {"name": "one"})
    # Changes after the snapshot move the worker's change-log cursor on; the restore forgets
    # them (and on SQLite, with them, the change log's highest sequence numbers).
    for n in range(20):
        dev.identify(f"x{n}", plan="pro")
    assert len(_settled_members(dev, pro)) == 21
    control(dev, "POST", "restore", {"name": "one"})
    assert _settled_members(dev, pro) == ["a"]
    dev.identify("b", plan="pro")
    dev.identify("a", plan="free")
    assert _settled_members(dev, pro) == ["b"]


def test_segments_follow_new_data_after_a_reset(live_dev: Api) -> None:
    dev = live_dev
    for n in range(20):
        dev.identify(f"x{n}", plan="pro")
    pro = _pro_segment(dev)
    assert len(_settled_members(dev, pro)) == 20
    control(dev, "POST", "reset")
    pro = _pro_segment(dev)
    assert _settled_members(dev, pro) == []
    dev.identify("b", plan="pro")
    assert _settled_members(dev, pro) == ["b"]


def test_restore_starts_again_the_work_under_way_when_the_snapshot_was_saved(
    database: Database, workspace: workspaces.Credentials
) -> None:
    ws = workspace.workspace_id
    condition = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}

    def saved_mid_work(conn: Connection) -> None:
        segment = segments.create(
            conn, ws, name="pro", description="", tags=None, condition=condition, now=1
        )
        assert segments.claim_build(conn, segment)
        export = exports.create(conn, ws, None, "all", 1)
        assert exports.claim(conn, int(time.time()), 600) == export
        snapshots.save(conn, ws, "busy", 1)
        snapshots.restore(conn, ws, "busy")

    database.write_sync(saved_mid_work)
    try:
        [segment] = database.read_sync(lambda c: segments.all_of(c, ws))
        assert (segment.state, segment.progress) == (segments.BUILD_QUEUED, 0)
        # The export is pending and free for a worker to claim.
        lease = sa.select(schema.exports.c.status, schema.exports.c.lease_until).where(
            schema.exports.c.workspace_id == ws
        )
        assert database.read_sync(lambda c: c.execute(lease).all()) == [(exports.PENDING, None)]
    finally:
        # Leave no work behind: workers (and settle) elsewhere share PostgreSQL's database.
        database.write_sync(lambda c: snapshots.reset(c, ws))


def test_restore_of_an_unknown_snapshot_is_404(dev: Api) -> None:
    response = dev.app("POST", "/__patron/restore", {"name": "nope"})
    assert response.status_code == 404
    assert response.json()["meta"]["error"]


def test_snapshots_belong_to_their_workspace(dev: Api, other: Api) -> None:
    control(dev, "POST", "snapshot", {"name": "mine"})
    assert control(other, "GET", "snapshots") == {"snapshots": []}
    assert other.app("POST", "/__patron/restore", {"name": "mine"}).status_code == 404


# --- seed ---------------------------------------------------------------------------------


def _cio_ids(api: Api, people: list[str]) -> list[str]:
    for person in people:
        api.identify(person)
    return [api.person(p)["identifiers"]["cio_id"] for p in people]  # type: ignore[index]


def test_seed_makes_generated_ids_repeat_after_reset(dev: Api) -> None:
    assert control(dev, "POST", "seed", {"seed": 42}) == {"seed": 42}
    first = _cio_ids(dev, ["a", "b", "c"])
    control(dev, "POST", "reset")
    second = _cio_ids(dev, ["a", "b", "c"])
    assert first == second
    assert len(set(first)) == 3
    control(dev, "POST", "seed", {"seed": None})
    control(dev, "POST", "reset")
    assert _cio_ids(dev, ["a", "b", "c"]) != first


def test_reseeding_without_reset_never_duplicates_a_cio_id(dev: Api) -> None:
    control(dev, "POST", "seed", {"seed": 7})
    first = _cio_ids(dev, ["a", "b"])
    control(dev, "POST", "seed", {"seed": 7})
    again = _cio_ids(dev, ["c", "d"])
    assert len(set(first + again)) == 4


def test_seed_is_per_workspace(dev: Api, other: Api) -> None:
    control(dev, "POST", "seed", {"seed": 1})
    assert control(other, "GET", "seed") == {"seed": None}
    bad = dev.app("POST", "/__patron/seed", {"seed": "x"})
    assert bad.status_code == 400


# --- clock --------------------------------------------------------------------------------


def test_clock_set_and_advance_drive_server_timestamps(dev: Api, other: Api) -> None:
    state = control(dev, "POST", "clock", {"set": 1_700_000_000, "freeze": True})
    assert state == {"now": 1_700_000_000, "offset": state["offset"], "frozen": True}
    dev.identify("u1")
    event(dev, "u1", "first")
    assert dev.person("u1")["timestamps"]["id"] == 1_700_000_000  # type: ignore[index]
    assert control(dev, "POST", "clock", {"advance": "3d"})["now"] == 1_700_000_000 + 3 * 86400
    event(dev, "u1", "later")
    stamps = {a["name"]: a["timestamp"] for a in dev.activities("u1", type="event")}
    assert stamps == {"first": 1_700_000_000, "later": 1_700_000_000 + 3 * 86400}
    # Another workspace keeps real time.
    assert abs(control(other, "GET", "clock")["now"] - time.time()) < 5
    reset = control(dev, "POST", "clock", {"reset": True})
    assert reset["frozen"] is False and abs(reset["now"] - time.time()) < 5


def test_a_running_virtual_clock_keeps_ticking(dev: Api) -> None:
    state = control(dev, "POST", "clock", {"set": 2_000_000_000})
    assert state["frozen"] is False
    assert 2_000_000_000 <= state["now"] <= 2_000_000_002


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"advance": "soon"},
        {"set": -1},
        {"set": "x"},
        {"freeze": "yes"},
        {"reset": 1},
        {"later": 1},
        {"set": 1885625149714463195136},
        {"set": 1e300},
        {"advance": 10**30},
        {"advance": "999999999999d"},
        {"set": 253402300000, "advance": "1d"},
        {"advance": -225540, "set": 100},
        {"set": 1_700_000_000, "advance": "nope"},
    ],
)
def test_clock_rejects_bad_changes(dev: Api, body: dict[str, Any]) -> None:
    before = control(dev, "GET", "clock")
    response = dev.app("POST", "/__patron/clock", body)
    assert response.status_code == 400, body
    assert response.json()["meta"]["error"]
    after = control(dev, "GET", "clock")
    assert after["offset"] == before["offset"] and after["frozen"] == before["frozen"]


# --- request log --------------------------------------------------------------------------


def test_request_log_records_exchanges_newest_first(dev: Api, other: Api) -> None:
    dev.identify("u1", plan="pro")
    bad = dev.track("POST", "/api/v1/customers/u1/events", {"data": {}})
    assert bad.status_code == 400
    other.identify("someone-else")
    log = control(dev, "GET", "requests")["requests"]
    assert [e["path"] for e in log[:2]] == ["/api/v1/customers/u1/events", "/api/v1/customers/u1"]
    newest, identify = log[0], log[1]
    assert newest["status"] == 400 and newest["body"] == {"data": {}}
    assert newest["response_body"] == bad.json()
    assert identify["method"] == "PUT" and identify["body"] == {"plan": "pro"}
    assert identify["identity"] == {"workspace_id": dev.creds.workspace_id, "credential": "track"}
    assert identify["duration_ms"] > 0
    assert all("someone-else" not in e["path"] for e in log)
    # The control plane's own calls are not logged.
    assert all(not e["path"].startswith("/__patron") for e in log)


def test_request_log_filters_and_clears(dev: Api) -> None:
    dev.identify("u1")
    dev.http.put("/api/v1/customers/u2", json={})  # no credentials: 401
    assert [
        e["status"] for e in control(dev, "GET", "requests", params={"status": "4xx"})["requests"]
    ] == [401]
    only = control(dev, "GET", "requests", params={"path": "/api/v1/customers/u1"})["requests"]
    assert [e["status"] for e in only] == [200]
    assert len(control(dev, "GET", "requests", params={"limit": "1"})["requests"]) == 1
    bad_limit = dev.app("GET", "/__patron/requests", params={"limit": "0"})
    assert bad_limit.status_code == 400
    assert list(bad_limit.json()) == ["meta"] and list(bad_limit.json()["meta"]) == ["error"]
    for bad in (
        {"status": "abc"},
        {"status": "4x"},
        {"status": "600"},
        {"status": "40"},
        {"status": ""},
        {"path": "api/v1/*"},
        {"path": ""},
        {"stauts": "4xx"},
    ):
        response = dev.app("GET", "/__patron/requests", params=bad)
        assert response.status_code == 400, bad
        assert list(response.json()) == ["meta"] and list(response.json()["meta"]) == ["error"]
        assert next(iter(bad)) in response.json()["meta"]["error"], bad
    assert control(dev, "GET", "requests", params={"status": "2XX"})["requests"][0]["status"] == 200
    assert control(dev, "DELETE", "requests")["cleared"] == 2
    assert control(dev, "GET", "requests")["requests"] == []


# --- faults -------------------------------------------------------------------------------


def test_fault_answers_with_customerio_body_and_retry_after_a_limited_number_of_times(
    dev: Api, other: Api
) -> None:
    added = control(
        dev,
        "POST",
        "faults",
        {"path": "/api/v1/customers/*", "method": "PUT", "status": 503, "times": 2},
    )["faults"]
    assert added[0]["remaining"] == 2
    for _ in range(2):
        response = dev.track("PUT", "/api/v1/customers/u1", {"plan": "x"})
        assert response.status_code == 503
        assert response.json() == {"meta": {"error": "Service unavailable"}}
        assert response.headers["retry-after"] == "1"
    assert dev.person("u1") is None  # a fault answers instead of the app: nothing written
    dev.identify("u1")  # the third call goes through
    other.identify("o1")  # and other workspaces never saw the fault
    listed = control(dev, "GET", "faults")["faults"]
    assert listed[0]["remaining"] == 0 and listed[0]["matched"] == 2
    assert control(other, "GET", "faults") == {"faults": []}
    # Faults are logged like any other answer.
    assert [
        e["status"]
        for e in control(dev, "GET", "requests", params={"path": "/api/v1/*"})["requests"]
    ][-2:] == [503, 503]


def test_fault_with_custom_body_latency_and_method(dev: Api) -> None:
    control(
        dev,
        "POST",
        "faults",
        [
            {"path": "/v1/customers/*/attributes", "status": 429},
            {"path": "/api/v1/customers/*", "method": "PUT", "status": None, "latency_ms": 150},
            {"path": "/api/v1/events", "status": 500, "body": "boom"},
        ],
    )
    limited = dev.app("GET", "/v1/customers/u1/attributes")
    assert limited.status_code == 429
    assert limited.json() == {"meta": {"error": "Your request is over the 10-per-second limit."}}
    started = time.perf_counter()
    dev.identify("u1")
    assert time.perf_counter() - started >= 0.15
    boom = dev.track("POST", "/api/v1/events", {"name": "x", "anonymous_id": "a"})
    assert (boom.status_code, boom.text) == (500, "boom")


def test_probabilistic_faults_repeat_with_a_seed(dev: Api) -> None:
    def pattern() -> list[int]:
        control(dev, "DELETE", "faults")
        control(dev, "POST", "seed", {"seed": 3})
        control(
            dev,
            "POST",
            "faults",
            {"path": "/api/v1/customers/*", "status": 502, "probability": 0.5},
        )
        return [dev.track("PUT", "/api/v1/customers/p", {}).status_code for _ in range(30)]

    first, second = pattern(), pattern()
    assert first == second
    assert set(first) == {200, 502}


def test_faults_are_cleared_by_id_and_validated(dev: Api) -> None:
    ids_ = [
        r["id"]
        for r in control(dev, "POST", "faults", [{"status": 500}, {"status": 503}])["faults"]
    ]
    assert control(dev, "DELETE", "faults", params={"id": str(ids_[0])}) == {"cleared": 1}
    assert [r["id"] for r in control(dev, "GET", "faults")["faults"]] == ids_[1:]
    for bad in ({"status": 99}, {"probability": 2}, {"unknown": 1}, {"times": -1}, "x"):
        response = dev.app("POST", "/__patron/faults", bad)
        assert response.status_code == 400, bad
    assert control(dev, "DELETE", "faults") == {"cleared": 1}


def test_reset_clears_faults_clock_and_log(dev: Api) -> None:
    control(dev, "POST", "faults", {"path": "/nothing", "status": 500})
    control(dev, "POST", "clock", {"advance": "1d"})
    dev.identify("u1")
    control(dev, "POST", "reset")
    assert control(dev, "GET", "faults") == {"faults": []}
    assert control(dev, "GET", "clock")["offset"] == 0
    assert control(dev, "GET", "requests")["requests"] == []


# --- enforced rate limits -----------------------------------------------------------------


def test_enforced_app_api_limit_answers_429_with_retry_after(database: Database) -> None:
    creds = new_workspace(database)
    with in_process(database, enforce_limits="customerio") as http:
        # The limiter reads a clock the test moves, so slow requests cannot refill the bucket.
        now = [0.0]
        http.app.state.runtime.dev.limits.clock = lambda: now[0]  # type: ignore[attr-defined]
        api = Api(http, creds)
        statuses = [api.app("GET", "/v1/customers/u1/attributes").status_code for _ in range(12)]
        assert statuses[:10] == [404] * 10
        assert statuses[10:] == [429, 429]
        limited = api.app("GET", "/v1/customers/u1/attributes")
        assert limited.json() == {
            "meta": {"error": "Your request is over the 10-per-second limit."}
        }
        assert int(limited.headers["retry-after"]) >= 1
        # Track calls have their own, larger bucket; the control plane is not mounted.
        api.identify("u1")
        assert api.app("GET", "/__patron/clock").status_code in (404, 429)
        now[0] += 1.1
        assert api.app("GET", "/v1/customers/u1/attributes").status_code == 200


def test_people_lists_the_workspace_in_creation_order_with_paging(dev: Api, other: Api) -> None:
    for person in ("a", "b", "c"):
        dev.identify(person, email=f"{person}@example.com")
    other.identify("not-mine")
    first = control(dev, "GET", "people", params={"limit": "2"})
    assert [p["id"] for p in first["people"]] == ["a", "b"]
    assert first["people"][0] == dev.person("a")
    rest = control(dev, "GET", "people", params={"limit": "2", "start": first["next"]})
    assert [p["id"] for p in rest["people"]] == ["c"] and rest["next"] is None
    assert dev.app("GET", "/__patron/people", params={"start": "x"}).status_code == 400
