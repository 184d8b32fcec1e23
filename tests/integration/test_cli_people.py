"""``patron import people``, ``patron export people``, ``patron segment import|apply``: run as a
user runs them, checked through the App API, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from live import patron
from support import Api


def run(db_url: str, api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    return patron(*args, "--database", db_url, "--workspace", api.creds.name)


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def settle(api: Api) -> None:
    response = api.app("POST", "/__patron/settle", {"timeout": 20})
    assert response.json() == {"settled": True}


def members(api: Api, segment_id: int) -> list[str]:
    page = api.app("GET", f"/v1/segments/{segment_id}/membership", params={"limit": 1000})
    return sorted(page.json()["ids"])


def test_import_people_then_export_them(db_url: str, api: Api, tmp_path: Path) -> None:
    api.identify("u1", plan="old", keep="yes")
    source = write_csv(
        tmp_path / "people.csv",
        [
            ["id", "email", "plan", "score", "note"],
            ["u1", "u1@example.com", "pro", "10", ""],
            ["u2", "", "free", "3", 'says "hi", twice'],
            ["", "nobody@example.com", "pro", "1", ""],
            ["u3", "u3@example.com", "x" * 1001, "1", ""],
            ["u4", "u4@example.com", "pro"],
            ["u5", "U5@Example.com", "team", "7", "ok"],
        ],
    )
    rejects = tmp_path / "rejects.csv"
    result = run(db_url, api, "import", "people", str(source), "--rejects", str(rejects))
    assert result.returncode == 1, result.stderr
    assert "3 of 6 rows imported, 3 rejected" in result.stdout
    report = list(csv.reader(rejects.open(encoding="utf-8")))
    assert [r[0] for r in report] == ["line", "4", "5", "6"]
    assert "id cell is empty" in report[1][1]
    assert "plan" in report[2][1] and "1000" in report[2][1]
    assert "cells" in report[3][1]

    u1 = api.person("u1")
    assert u1 is not None
    assert u1["attributes"]["plan"] == "pro" and u1["attributes"]["keep"] == "yes"
    assert u1["identifiers"]["email"] == "u1@example.com" and "note" not in u1["attributes"]
    assert api.person("u3") is None and api.person("u4") is None
    assert api.person("u5@example.com", id_type="email") is not None

    out = tmp_path / "out.csv"
    exported = run(db_url, api, "export", "people", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert "3 people written" in exported.stdout
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ["u1", "u2", "u5"]
    assert list(rows[0]) == ["id", "email", "cio_id", "keep", "note", "plan", "score"]
    assert rows[1]["note"] == 'says "hi", twice' and rows[1]["email"] == ""
    assert rows[0]["cio_id"] == u1["identifiers"]["cio_id"]

    # The export reads back in unchanged: a round trip changes nobody.
    again = run(db_url, api, "import", "people", str(out))
    assert again.returncode == 0 and "3 of 3 rows imported" in again.stdout
    after = api.person("u1")
    assert after is not None and after["attributes"] == u1["attributes"]


def test_export_filters_and_stdout(db_url: str, api: Api, tmp_path: Path) -> None:
    for i, plan in enumerate(["pro", "free", "pro"]):
        api.identify(f"e{i}", plan=plan)
    segment = api.app("POST", "/v1/segments", {"segment": {"name": "chosen"}}).json()["segment"]
    api.track("POST", f"/api/v1/segments/{segment['id']}/add_customers", {"ids": ["e1", "e2"]})
    pro = json.dumps({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}})

    def ids(*args: str) -> list[str]:
        result = run(db_url, api, "export", "people", *args)
        assert result.returncode == 0, result.stderr
        return [r["id"] for r in csv.DictReader(io.StringIO(result.stdout))]

    assert ids() == ["e0", "e1", "e2"]
    assert ids("--filter", pro) == ["e0", "e2"]
    assert ids("--segment", str(segment["id"])) == ["e1", "e2"]
    assert ids("--segment", str(segment["id"]), "--filter", pro) == ["e2"]
    missing = run(db_url, api, "export", "people", "--segment", "999999")
    assert missing.returncode != 0 and "no segment 999999" in missing.stderr
    bad = run(db_url, api, "export", "people", "--filter", "{nope")
    assert bad.returncode != 0 and "not valid JSON" in bad.stderr


def test_segment_import_replaces_or_adds(db_url: str, api: Api, tmp_path: Path) -> None:
    for i in range(4):
        api.identify(f"m{i}", email=f"m{i}@example.com")
    created = api.app("POST", "/v1/segments", {"segment": {"name": "Imported"}})
    sid = created.json()["segment"]["id"]
    api.track("POST", f"/api/v1/segments/{sid}/add_customers", {"ids": ["m3"]})

    by_email = write_csv(
        tmp_path / "emails.csv", [["email"], ["M0@example.com"], ["m1@example.com"], ["x@y.z"]]
    )
    added = run(db_url, api, "segment", "import", str(sid), str(by_email), "--add")
    assert added.returncode == 0, added.stderr
    assert "2 of 3 identifiers matched people; 2 entered, 0 left" in added.stdout
    assert members(api, sid) == ["m0", "m1", "m3"]

    bare = write_csv(tmp_path / "ids.csv", [["m2"], ["m0"]])  # no header: one column of ids
    replaced = run(db_url, api, "segment", "import", "Imported", str(bare))
    assert replaced.returncode == 0, replaced.stderr
    assert "1 entered, 2 left" in replaced.stdout
    assert members(api, sid) == ["m0", "m2"]
    kinds = [a["type"] for a in api.activities("m3")]
    assert kinds[0] == "segment_exited"

    dynamic = api.app(
        "POST",
        "/v1/segments",
        {
            "segment": {
                "name": "auto",
                "conditions": {"attribute": {"field": "a", "operator": "exists"}},
            }
        },
    ).json()["segment"]
    refused = run(db_url, api, "segment", "import", str(dynamic["id"]), str(bare))
    assert refused.returncode != 0 and "data-driven" in refused.stderr
    unknown = run(db_url, api, "segment", "import", "no such segment", str(bare))
    assert unknown.returncode != 0 and "no segment" in unknown.stderr


SEGMENTS_YAML = """
segments:
  - name: Pro users
    description: pays for pro
    conditions:
      attribute: {field: plan, operator: eq, value: pro}
  - name: Hand picked
    tags: [ops]
"""


@pytest.mark.parametrize("dry", [False, True])
def test_segment_apply_is_config_as_code(db_url: str, dev: Api, tmp_path: Path, dry: bool) -> None:
    dev.identify("p1", plan="pro")
    dev.identify("p2", plan="free")
    config = tmp_path / "segments.yaml"
    config.write_text(SEGMENTS_YAML)
    extra = ["--dry-run"] if dry else []
    first = run(db_url, dev, "segment", "apply", str(config), *extra)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == 2
    listed = {s["name"]: s for s in dev.app("GET", "/v1/segments").json()["segments"]}
    if dry:
        assert listed == {} and "nothing was changed" in first.stdout
        return
    assert listed["Pro users"]["type"] == "dynamic" and listed["Hand picked"]["type"] == "manual"
    assert listed["Hand picked"]["tags"] == ["ops"]
    settle(dev)
    assert members(dev, listed["Pro users"]["id"]) == ["p1"]

    second = run(db_url, dev, "segment", "apply", str(config))
    assert second.returncode == 0 and second.stdout.count("unchanged") == 2

    config.write_text(SEGMENTS_YAML.replace("value: pro", "value: free"))
    third = run(db_url, dev, "segment", "apply", str(config))
    assert third.returncode == 0 and "updated" in third.stdout
    settle(dev)
    assert members(dev, listed["Pro users"]["id"]) == ["p2"]
    assert len(dev.app("GET", "/v1/segments").json()["segments"]) == 2

    config.write_text("segments:\n  - name: Pro users\n")  # now manual: a clash, not a change
    clash = run(db_url, dev, "segment", "apply", str(config))
    assert clash.returncode != 0 and "is dynamic" in clash.stderr
    config.write_text("segments:\n  - {name: x, conditions: {bogus: 1}}\n")
    invalid = run(db_url, dev, "segment", "apply", str(config))
    assert invalid.returncode != 0 and "segments[0]" in invalid.stderr
    config.write_text("segments: [")
    broken = run(db_url, dev, "segment", "apply", str(config))
    assert broken.returncode != 0 and "not valid YAML" in broken.stderr


def test_segment_apply_keeps_yaml_boolean_words_as_keys(
    db_url: str, api: Api, tmp_path: Path
) -> None:
    """YAML 1.1 reads a bare ``on:`` key as ``true``; Patron's files keep it the word ``on``,
    stored as the API would store it (before: a crash storing the key ``True``)."""
    config = tmp_path / "segments.yaml"
    config.write_text(
        "segments:\n"
        "  - name: Pro users\n"
        "    conditions:\n"
        "      attribute: {field: plan, operator: eq, value: pro, on: plan}\n"
    )
    applied = run(db_url, api, "segment", "apply", str(config))
    assert applied.returncode == 0, applied.stderr
    [segment] = api.app("GET", "/v1/segments").json()["segments"]
    stored = api.app("GET", f"/v1/segments/{segment['id']}").json()["segment"]
    assert stored["conditions"]["attribute"]["on"] == "plan"
