"""Pipelines clients, unmodified, against a real `patron serve`: PyPI
`customerio-cdp-analytics` and `segment-analytics-python` (own virtualenv), and npm
`customerio-node`'s PipelinesClient and `@segment/analytics-node`."""

from __future__ import annotations

from pathlib import Path

from compat_env import node_dir, pipelines_python
from live import LiveServer

HERE = Path(__file__).parent


def _names(server: LiveServer, who: str, kind: str) -> list[str]:
    return sorted(a["name"] for a in server.activities(who, limit=1000) if a["type"] == kind)


def test_python_pipelines_clients(live: LiveServer) -> None:
    server = live
    out = server.run_client([pipelines_python(), str(HERE / "drive_pipelines.py")])
    assert out["errors"] == []

    first = server.person("cdp-py-1")
    assert first is not None
    assert first["identifiers"]["email"] == "cdp1@example.com"
    assert first["attributes"]["plan"] == "pro"
    assert first["attributes"]["created_at"] == "1704164645"
    assert _names(server, "cdp-py-1", "event") == ["Order Completed"]  # de-duplicated
    assert _names(server, "cdp-py-1", "page") == ["Intro"]
    assert _names(server, "cdp-py-1", "screen") == ["Settings"]
    rels = server.app_get("/v1/customers/cdp-py-1/relationships").json()["cio_relationships"]
    assert [(r["identifiers"]["object_id"], r["relationship_attributes"]) for r in rels] == [
        ("cdp-acme", {"role": "owner"})
    ]

    second = server.person("cdp-py-2")
    assert second is not None and second["attributes"]["legacy"] == "true"
    assert server.person("cdp-py-old") is None
    assert _names(server, "cdp-py-2", "event") == ["Browsed"]
    assert _names(server, "cdp-py-2", "page") == ["https://example.com/pricing"]

    assert len(server.activities("cdp-py-bulk", type="event", limit=1000)) == 250
    assert server.person("cdp-stranger") is None

    seg = server.person("seg-py-1")
    assert seg is not None and seg["identifiers"]["email"] == "seg1@example.com"
    assert _names(server, "seg-py-1", "event") == ["Segment Event"]
    assert len(server.activities("seg-py-bulk", type="event", limit=1000)) == 120


def test_node_pipelines_clients(live: LiveServer) -> None:
    server = live
    out = server.run_client(["node", "drive_pipelines.mjs"], cwd=node_dir())
    assert out["identify"] == {} and out["track"] == {} and out["batch"] == {}
    assert out["lenientBadKey"] == {}
    assert out["strictBadKey"]["statusCode"] == 401
    assert out["strictInvalid"]["statusCode"] == 400
    assert "previousId is required" in out["strictInvalid"]["message"]
    assert out["segmentErrors"] == []

    first = server.person("node-cdp-1")
    assert first is not None and first["attributes"]["plan"] == "team"
    assert first["identifiers"]["email"] == "node-cdp@example.com"
    assert _names(server, "node-cdp-1", "event") == ["Checkout"]
    assert _names(server, "node-cdp-1", "page") == ["Home"]
    assert _names(server, "node-cdp-1", "screen") == ["Inbox"]
    org = server.app_get("/v1/objects/1/node-cdp-org/attributes").json()
    assert org["object"]["attributes"]["name"] == "Org"
    second = server.person("node-cdp-2")
    assert second is not None and second["attributes"]["old"] == "true"
    assert _names(server, "node-cdp-2", "event") == ["Looked"]
    assert _names(server, "node-cdp-3", "event") == ["Batched"]

    seg = server.person("seg-node-1")
    assert seg is not None and seg["identifiers"]["email"] == "seg-node@example.com"
    assert len(server.activities("seg-node-1", type="event", limit=1000)) == 25
    rels = server.app_get("/v1/customers/seg-node-1/relationships").json()["cio_relationships"]
    assert [r["identifiers"]["object_id"] for r in rels] == ["seg-node-org"]
