"""Customer exports: queued, built by the export worker, downloaded through a signed link —
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from patron.domain import signed_urls
from patron.store.database import Database
from patron.store.schema import exports
from support import Api, in_process


def settle(api: Api) -> None:
    response = api.app("POST", "/__patron/settle", {"timeout": 20})
    assert response.json() == {"settled": True}


def start_export(api: Api, filters: Any) -> dict[str, Any]:
    response = api.app("POST", "/v1/exports/customers", {"filters": filters})
    assert response.status_code == 200, response.text
    export: dict[str, Any] = response.json()["export"]
    return export


def download(api: Api, export_id: int) -> list[dict[str, str]]:
    link = api.app("GET", f"/v1/exports/{export_id}/download")
    assert link.status_code == 200, link.text
    url = urlsplit(link.json()["url"])
    assert url.scheme == "http" and url.netloc == "patron.test"
    response = api.http.get(f"{url.path}?{url.query}")  # no credentials: the link is enough
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_export_lifecycle(dev: Api) -> None:
    dev.identify("a1", email="a1@example.com", plan="pro", score=12, vip=True)
    dev.identify("a2", plan="pro", note='has "quotes", commas\nand lines')
    dev.identify("a3", plan="free", score=3)
    assert dev.app("GET", "/v1/exports").json() == {"exports": []}

    export = start_export(dev, {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}})
    assert export["status"] == "pending" and export["type"] == "customers"
    assert export["failed"] is False and export["downloads"] == 0
    settle(dev)
    done = dev.app("GET", f"/v1/exports/{export['id']}").json()["export"]
    assert done["status"] == "done" and done["total"] == 2
    assert [e["id"] for e in dev.app("GET", "/v1/exports").json()["exports"]] == [export["id"]]

    rows = download(dev, export["id"])
    assert [r["id"] for r in rows] == ["a1", "a2"]
    assert list(rows[0]) == ["id", "email", "cio_id", "note", "plan", "score", "vip"]
    assert rows[0]["email"] == "a1@example.com" and rows[0]["score"] == "12"
    assert rows[0]["vip"] == "true" and rows[0]["note"] == ""
    assert rows[1]["note"] == 'has "quotes", commas\nand lines'
    person = dev.person("a2")
    assert person is not None and rows[1]["cio_id"] == person["identifiers"]["cio_id"]
    again = dev.app("GET", f"/v1/exports/{export['id']}").json()["export"]
    assert again["downloads"] == 1


def test_export_of_a_segment_and_of_nobody(dev: Api) -> None:
    for i in range(3):
        dev.identify(f"s{i}")
    segment = dev.app("POST", "/v1/segments", {"segment": {"name": "picked"}}).json()["segment"]
    added = dev.track(
        "POST", f"/api/v1/segments/{segment['id']}/add_customers", {"ids": ["s0", "s2"]}
    )
    assert added.status_code == 200
    picked = start_export(dev, {"segment": {"id": segment["id"]}})
    nobody = start_export(dev, {"attribute": {"field": "missing", "operator": "exists"}})
    settle(dev)
    assert [r["id"] for r in download(dev, picked["id"])] == ["s0", "s2"]
    assert download(dev, nobody["id"]) == []
    empty = dev.app("GET", f"/v1/exports/{nobody['id']}").json()["export"]
    assert empty["status"] == "done" and empty["total"] == 0


def test_export_of_a_segment_that_does_not_exist_matches_nobody(dev: Api, other: Api) -> None:
    """As on Customer.io (customerio-node's live suite sends segment 0); a segment of another
    workspace does not exist in this one."""
    dev.identify("u1")
    theirs = other.app("POST", "/v1/segments", {"segment": {"name": "theirs"}}).json()["segment"]
    unknown = [{"or": [{"segment": {"id": 0}}]}, {"segment": {"id": 987654}}]
    started = [start_export(dev, f) for f in [*unknown, {"segment": {"id": theirs["id"]}}]]
    settle(dev)
    for export in started:
        assert download(dev, export["id"]) == []
        assert dev.app("GET", f"/v1/exports/{export['id']}").json()["export"]["status"] == "done"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"filters": None},
        {"filters": {"bogus": {}}},
        {"filters": {"attribute": {"field": "a"}}},
        {"filters": {"attribute": {"field": "a", "operator": "exists"}}, "description": 5},
    ],
)
def test_bad_export_requests_are_400(dev: Api, body: Any) -> None:
    response = dev.app("POST", "/v1/exports/customers", body)
    assert response.status_code == 400
    assert response.json()["meta"]["error"]


def test_export_errors_and_isolation(dev: Api, other: Api) -> None:
    dev.identify("i1")
    export = start_export(dev, {"attribute": {"field": "id", "operator": "exists"}})
    assert dev.app("GET", "/v1/exports/99999").status_code == 404
    assert dev.app("GET", "/v1/exports/abc").status_code == 404
    assert other.app("GET", f"/v1/exports/{export['id']}").status_code == 404
    assert other.app("GET", f"/v1/exports/{export['id']}/download").status_code == 404
    assert other.app("GET", "/v1/exports").json() == {"exports": []}
    assert dev.app("GET", "/v1/exports").status_code == 200
    no_key = dev.http.get("/v1/exports")
    assert no_key.status_code == 401


def test_pending_export_has_no_link(database: Database, workspace: Any) -> None:
    # No export worker in this process: the export stays pending, as while another builds it.
    with in_process(database, dev=True, export_worker=False) as http:
        api = Api(http, workspace)
        api.identify("p1")
        export = start_export(api, {"attribute": {"field": "id", "operator": "exists"}})
        time.sleep(0.2)
        response = api.app("GET", f"/v1/exports/{export['id']}/download")
        assert response.status_code == 400 and "pending" in response.json()["meta"]["error"]
        assert api.app("GET", f"/v1/exports/{export['id']}").json()["export"]["status"] == "pending"
    # A worker that starts later builds it.
    with in_process(database, dev=True) as http:
        api = Api(http, workspace)
        settle(api)
        assert api.app("GET", f"/v1/exports/{export['id']}").json()["export"]["status"] == "done"


def test_links_are_signed_and_expire(dev: Api, database: Database) -> None:
    dev.identify("l1", plan="x")
    export = start_export(dev, {"attribute": {"field": "plan", "operator": "exists"}})
    settle(dev)
    url = urlsplit(dev.app("GET", f"/v1/exports/{export['id']}/download").json()["url"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert dev.http.get(url.path, params=query).status_code == 200

    tampered = {**query, "signature": "0" * 64}
    assert dev.http.get(url.path, params=tampered).status_code == 403
    later = {**query, "expires": str(int(query["expires"]) + 60)}
    assert dev.http.get(url.path, params=later).status_code == 403
    assert dev.http.get(url.path).status_code == 403
    assert dev.http.get("/downloads/exports/999999", params=query).status_code == 403

    secret = database.read_sync(
        lambda c: c.execute(
            sa.select(exports.c.secret).where(exports.c.id == export["id"])
        ).scalar_one()
    )
    subject = str(export["id"])
    past = int(time.time()) - 1
    expired = {"expires": str(past), "signature": signed_urls.signature(secret, subject, past)}
    assert dev.http.get(url.path, params=expired).status_code == 403
    ahead = int(time.time()) + 60
    fresh = {"expires": str(ahead), "signature": signed_urls.signature(secret, subject, ahead)}
    assert dev.http.get(url.path, params=fresh).status_code == 200


def test_gzip_clients_get_the_stored_file(dev: Api) -> None:
    dev.identify("g1", plan="x")
    export = start_export(dev, {"attribute": {"field": "plan", "operator": "exists"}})
    settle(dev)
    url = dev.app("GET", f"/v1/exports/{export['id']}/download").json()["url"]
    raw = dev.http.get(url, headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.text.splitlines()[0] == "id,email,cio_id,plan"
    plain = dev.http.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.text.splitlines()[1].startswith("g1,,")
