"""npm `customerio-node` 5.2.0, unmodified, against a real `patron serve`."""

from __future__ import annotations

import csv
import io

from compat_env import node_dir
from live import LiveServer


def test_track_and_api_clients(live: LiveServer) -> None:
    folder = node_dir()
    server = live
    out = server.run_client(["node", "drive_track.mjs"], cwd=folder)

    assert out["region"] == {
        "url": server.base,
        "region": "us",
        "environment_id": server.creds["workspace_id"],
    }
    assert out["identify"] == {}
    assert out["form"] == {}  # 204 resolves to {}
    assert out["metric"] == {} and out["push"] == {}
    assert out["unsubscribeError"]["statusCode"] == 400
    assert out["limitError"]["statusCode"] == 400
    assert (
        "value for attribute 'big' cannot be longer than 1000 bytes" in out["limitError"]["message"]
    )
    assert out["authError"] == {"statusCode": 401, "message": "Unauthorized request"}
    assert out["apiAuthError"] == {"statusCode": 401, "message": "Unauthorized request"}
    assert out["attributesMissing"]["statusCode"] == 404

    (found,) = out["byEmail"]["results"]
    assert found["id"] == "node 1/x" and found["email"] == "node1@example.com"
    assert out["byEmailMissing"] == {"results": []}
    customer = out["attributes"]["customer"]
    assert customer["attributes"]["tier"] == "gold"
    assert customer["attributes"]["created_at"] == "1700000000"
    assert "plan" not in customer["attributes"]
    assert [(d["id"], d["platform"]) for d in customer["devices"]] == [("tok-node", "ios")]
    assert customer["devices"][0]["attributes"] == {"app_version": "1.2"}

    acts = server.activities("node 1/x", limit=100)
    assert [a["name"] for a in acts if a["type"] == "event"] == ["purchase"]
    assert [a["name"] for a in acts if a["type"] == "page"] == ["/docs"]
    assert [a["name"] for a in server.activities("node2", type="event")] == ["browsed"]
    assert server.person("node-del") is None and server.person("node-sup") is None
    merged = server.person("node-merge-a")
    assert merged is not None and merged["attributes"]["b"] == "2"
    assert out["entity"] == {} and out["objectEntity"] == {}
    assert out["objectAttributes"]["object"]["attributes"] == {"name": "Acme"}
    relationships = server.app_get("/v1/customers/node-v2/relationships").json()[
        "cio_relationships"
    ]
    assert [r["identifiers"]["object_id"] for r in relationships] == ["node-acme"]
    # A 207 resolves with the parsed body: the second operation named two identifiers.
    assert [e["batch_index"] for e in out["batch"]["errors"]] == [1]
    v2 = server.person("node-v2")
    assert v2 is not None and v2["attributes"]["plan"] == "v2"
    assert [a["name"] for a in server.activities("node-v2", type="event")] == ["batched"]
    form_person = server.person("form@example.com", "email")
    assert form_person is not None and form_person["attributes"]["message"] == "hi"


def test_segment_search_and_membership_calls(live: LiveServer) -> None:
    out = live.run_client(["node", "drive_segments.mjs"], cwd=node_dir())
    manual = out["manual"]
    assert manual["type"] == "manual" and manual["description"] == "from node"
    assert out["add"] == {} and out["addByEmail"] == {} and out["remove"] == {}
    assert out["count"] == {"count": 2}
    first, rest = out["membership"], out["membershipNext"]
    assert first["ids"] == ["seg-a"] and first["next"]
    assert rest["ids"] == ["seg-c"] and rest["next"] == ""
    assert [i["email"] for i in first["identifiers"] + rest["identifiers"]] == [
        "seg-a@example.com",
        "seg-c@example.com",
    ]
    assert [s["id"] for s in out["customerSegments"]["segments"]] == [manual["id"]]
    assert out["get"]["segment"]["name"] == "node manual"
    assert out["usedBy"]["used_by"]["segments"] == []
    assert out["dynamicCreated"]["type"] == "dynamic"
    assert out["dynamicCount"] == 2 and out["dynamicCountAfter"] == 3
    names = [s["name"] for s in out["list"]["segments"]]
    assert "node manual" in names and "node pro" in names
    assert out["search"]["ids"] == ["seg-a", "seg-c"]
    assert out["deleted"] == {}  # 204 resolves to {}
    assert out["afterDelete"] == 404


def test_export_calls(live: LiveServer) -> None:
    out = live.run_client(["node", "drive_exports.mjs"], cwd=node_dir())
    created, done = out["created"], out["done"]
    assert created["type"] == "customers" and created["status"] == "pending"
    assert done["id"] == created["id"] and done["status"] == "done" and done["total"] == 2
    assert created["id"] in out["list"]
    assert out["linkKeys"] == ["url"]
    assert out["status"] == 200 and out["contentType"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(out["csv"])))
    assert [r["id"] for r in rows] == ["exp-a", "exp-c"]
    assert rows[0]["email"] == "exp-a@example.com" and rows[0]["plan"] == "pro"
    assert out["tampered"] == 403
    assert out["unknown"] == 404
