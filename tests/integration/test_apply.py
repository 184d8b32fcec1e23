"""``patron apply`` and ``POST /__patron/apply``: one document makes a workspace's topics,
transactional messages and segments; applying twice changes nothing; dry runs change nothing;
``--prune`` deletes what the document leaves out; ``${VAR}``; YAML 1.1 words as keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from live import patron
from support import Api

DOC = """
subscription_topics:
  - {id: 1, name: Product news, subscribed_by_default: false}
  - {id: 2, name: Tips}
transactional:
  - id: 10
    name: Password Reset
    from: ${APPLY_FROM}
    subject: "Reset, {{ customer.first_name }}"
    body: "<p>Hi</p>"
    topic: 1
    languages:
      fr: {subject: "Réinitialiser"}
  - id: 11
    name: receipt
    channel: sms
    body: "Paid {{ trigger.amount }}"
segments:
  - name: Pro
    conditions: {attribute: {field: plan, operator: eq, value: pro}}
"""


def apply_file(db_url: str, api: Api, path: Path, *flags: str) -> dict[str, Any]:
    result = patron(
        "apply",
        str(path),
        "--database",
        db_url,
        "--workspace",
        api.creds.name,
        "--json",
        *flags,
        env={"APPLY_FROM": "Acme <hi@acme.test>"},
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def actions(out: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["section"], c["name"]): c["action"] for c in out["changes"]}


def test_apply_is_idempotent_and_dry_runs_change_nothing(
    db_url: str, dev: Api, tmp_path: Path
) -> None:
    doc = tmp_path / "workspace.yaml"
    doc.write_text(DOC, encoding="utf-8")
    dry = apply_file(db_url, dev, doc, "--dry-run")
    assert dry["dry_run"] is True
    assert set(actions(dry).values()) == {"created"}
    assert dev.app("GET", "/v1/transactional").json()["messages"] == []

    first = apply_file(db_url, dev, doc)
    assert actions(first) == {
        ("subscription_topics", "Product news"): "created",
        ("subscription_topics", "Tips"): "created",
        ("transactional", "Password Reset"): "created",
        ("transactional", "receipt"): "created",
        ("segments", "Pro"): "created",
    }
    listed = {m["id"]: m for m in dev.app("GET", "/v1/transactional").json()["messages"]}
    assert listed[10]["name"] == "Password Reset" and listed[10]["subscription_topic_id"] == 1
    assert listed[11]["type"] == "sms"
    assert listed[10]["send_to_unsubscribed"] is True and listed[10]["open_tracking"] is True

    again = apply_file(db_url, dev, doc)
    assert set(actions(again).values()) == {"unchanged"}

    doc.write_text(DOC.replace("Réinitialiser", "Changer"), encoding="utf-8")
    changed = apply_file(db_url, dev, doc)
    assert actions(changed)[("transactional", "Password Reset")] == "updated"
    assert actions(changed)[("transactional", "receipt")] == "unchanged"


def test_prune_deletes_what_the_document_leaves_out(db_url: str, dev: Api, tmp_path: Path) -> None:
    doc = tmp_path / "workspace.yaml"
    doc.write_text(DOC, encoding="utf-8")
    apply_file(db_url, dev, doc)
    doc.write_text("subscription_topics:\n  - {id: 2, name: Tips}\ntransactional: []\n")
    kept = apply_file(db_url, dev, doc)  # without --prune nothing goes
    assert "deleted" not in actions(kept).values()
    assert len(dev.app("GET", "/v1/transactional").json()["messages"]) == 2
    pruned = apply_file(db_url, dev, doc, "--prune")
    assert actions(pruned)[("subscription_topics", "Product news")] == "deleted"
    assert actions(pruned)[("transactional", "receipt")] == "deleted"
    assert ("segments", "Pro") not in actions(pruned)  # no segments section: untouched
    assert [s["name"] for s in dev.app("GET", "/v1/segments").json()["segments"]] == ["Pro"]
    assert dev.app("GET", "/v1/transactional").json()["messages"] == []


def test_http_apply_takes_yaml_and_json(dev: Api) -> None:
    yaml_doc = "subscription_topics:\n  - {id: 3, name: 'on', description: yes}\n"
    # A YAML 1.1 boolean word as a key means the word (here inside a segment condition).
    yaml_doc += (
        "segments:\n  - name: Words\n    conditions: {attribute: {field: 'on', operator: exists}}\n"
    )
    response = dev.app(
        "POST",
        "/__patron/apply",
        content=yaml_doc.encode(),
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 400  # description: yes is a boolean, not text
    yaml_doc = yaml_doc.replace("description: yes", "description: 'yes'")
    response = dev.app(
        "POST",
        "/__patron/apply",
        content=yaml_doc.encode(),
        headers={"content-type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    dry = dev.app("POST", "/__patron/apply?dry_run=true", {"subscription_topics": []})
    assert dry.json() == {"dry_run": True, "changes": []}


def test_bad_documents_are_refused_whole(dev: Api) -> None:
    cases = [
        ({"newsletters": []}, "not supported"),
        ({"nonsense": 1}, "unknown section"),
        ({"transactional": [{"id": 1}]}, "name is required"),
        ({"transactional": [{"id": 1, "name": "a", "bogus": 1}]}, "'bogus' is not a field"),
        ({"transactional": [{"id": 1, "name": "a", "topic": 9}]}, "topic 9 does not exist"),
        ({"transactional": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}, "declared twice"),
        ({"transactional": [{"id": 1, "name": "a"}, {"id": 2, "name": "A"}]}, "used twice"),
        ({"subscription_topics": [{"id": 0, "name": "x"}]}, "positive integer"),
    ]
    for doc, error in cases:
        response = dev.app("POST", "/__patron/apply", doc)
        assert response.status_code == 400, (doc, response.text)
        assert error in response.json()["meta"]["error"], (doc, response.text)
    # One bad entry: nothing of the document was applied.
    mixed = {"subscription_topics": [{"id": 5, "name": "ok"}], "newsletters": []}
    assert dev.app("POST", "/__patron/apply", mixed).status_code == 400
    assert (
        dev.app(
            "POST", "/__patron/apply?dry_run=1", {"subscription_topics": [{"id": 5, "name": "ok"}]}
        ).json()["changes"][0]["action"]
        == "created"
    )


def test_unset_variable_is_an_error(db_url: str, dev: Api, tmp_path: Path) -> None:
    doc = tmp_path / "w.yaml"
    doc.write_text("transactional:\n  - {id: 1, name: a, from: '${NOT_SET_ANYWHERE}'}\n")
    result = patron("apply", str(doc), "--database", db_url, "--workspace", dev.creds.name)
    assert result.returncode != 0
    assert "NOT_SET_ANYWHERE is not set" in result.stderr
