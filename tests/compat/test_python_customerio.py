"""PyPI `customerio` 3.2.0, unmodified, against a real `patron serve` (own virtualenv)."""

from __future__ import annotations

from pathlib import Path

from compat_env import customerio_python
from live import LiveServer

HERE = Path(__file__).parent


def test_every_track_v1_method(live: LiveServer) -> None:
    python = customerio_python()
    server = live
    out = server.run_client([python, str(HERE / "drive_customerio.py")])

    person = server.person("py 1/x")
    assert person is not None
    assert person["attributes"]["plan"] == "pro"
    assert person["attributes"]["created_at"] == "1577836800"
    assert "nothing" not in person["attributes"]
    assert person["identifiers"]["email"] == "py1@example.com"
    assert [(d["id"], d["platform"], d["last_used"]) for d in person["devices"]] == [
        ("tok-py", "ios", 1700000000)
    ]
    assert person["devices"][0]["attributes"] == {"app_version": "1.0"}

    acts = server.activities("py 1/x", limit=100)
    events = [(a["type"], a["name"]) for a in acts if a["type"] in ("event", "page")]
    assert events.count(("event", "purchase")) == 1  # the repeated id was ignored
    assert ("page", "/pricing") in events
    backfill = next(a for a in acts if a.get("name") == "old-signup")
    assert backfill["timestamp"] == 1600000000 and backfill["data"] == {"source": "import"}

    assert [a["name"] for a in server.activities("py2", type="event")] == ["browsed"]
    assert server.person("py-del") is None
    restored = server.person("py-sup")
    assert restored is None  # suppression deleted it; the ignored identify did not recreate it

    merged = server.person("py-merge-a")
    assert merged is not None
    assert merged["attributes"]["b"] == "2"
    assert merged["identifiers"]["email"] == "merge-b@example.com"
    assert server.person("py-merge-b") is None

    assert out["batch_status"] == 207
    assert [(e["batch_index"], e["field"]) for e in out["batch_errors"]] == [(2, "name")]
    v2 = server.person("py-v2")
    assert v2 is not None and v2["attributes"]["plan"] == "v2"
    assert [a["name"] for a in server.activities("py-v2", type="event")] == ["batched"]

    assert "400" in out["limit_error"] and "cannot be longer than 1000 bytes" in out["limit_error"]
    assert out["auth_error"].startswith("401") and "Unauthorized request" in out["auth_error"]
