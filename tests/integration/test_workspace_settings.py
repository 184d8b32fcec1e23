"""Workspace settings: phone identifiers and strict object types, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from patron.domain import clock
from patron.store import objects as objects_store
from patron.store import workspaces
from patron.store.database import Database
from support import Api, quote


def v2(api: Api, *ops: dict[str, Any]) -> Any:
    return api.track("POST", "/api/v2/batch", {"batch": list(ops)})


def person(action: str, ident: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "person", "action": action, "identifiers": ident, **extra}


def set_settings(db: Database, api: Api, **changes: Any) -> None:
    db.write_sync(lambda c: workspaces.change_settings(c, api.creds.name, **changes))


def by_phone(api: Api, phone: str) -> dict[str, Any] | None:
    return api.person(phone, "phone")


def test_phone_identifiers_are_off_by_default(api: Api) -> None:
    response = v2(api, person("identify", {"phone": "+15551230000"}, attributes={"a": 1}))
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["reason"] == "not_enabled" and error["batch_index"] == 0
    response = api.app("GET", f"/v1/customers/{quote('+15551230000')}/attributes?id_type=phone")
    assert response.status_code == 400
    assert "not enabled" in response.json()["meta"]["error"]
    # a phone attribute is a plain attribute here
    api.identify("plain", phone="+15551230000")
    found = api.person("plain")
    assert found is not None and "phone" not in found["identifiers"]
    assert found["attributes"]["phone"] == "+15551230000"


def test_phone_identifiers_when_enabled(database: Database, api: Api) -> None:
    set_settings(database, api, phone_identifiers=True)
    response = v2(
        api,
        person("identify", {"phone": "+1 (555) 123-0001"}, attributes={"plan": "sms"}),
        person("event", {"phone": "+15551230001"}, name="texted"),
        person("identify", {"phone": "555"}, attributes={}),
    )
    assert response.status_code == 207
    assert [(e["batch_index"], e["reason"]) for e in response.json()["errors"]] == [
        (2, "invalid_value")
    ]
    found = by_phone(api, "+15551230001")
    assert found is not None
    assert found["identifiers"]["phone"] == "+15551230001" and found["attributes"]["plan"] == "sms"
    events = api.activities(found["identifiers"]["cio_id"], id_type="cio_id", type="event")
    assert [e["name"] for e in events] == ["texted"]

    # a phone attribute gives a person their phone identifier; a taken phone is refused
    api.identify("has-id", phone="+15551230002", first="Ann")
    assert (by_phone(api, "+15551230002") or {}).get("id") == "has-id"
    api.identify("other", phone="+15551230002")  # as with emails: nothing changes
    assert api.person("other") is None
    failures = api.activities(type="failed_attribute_change")
    assert failures[0]["data"]["identifier"] == {"id": "other"}
    assert (by_phone(api, "+15551230002") or {}).get("id") == "has-id"
    api.identify("other", plan="x")

    # merge by phone, then suppression blocks the phone too
    merge = {"type": "person", "action": "merge", "primary": {"id": "other"},
             "secondary": {"phone": "+15551230002"}}  # fmt: skip
    assert v2(api, merge).status_code == 200
    merged = api.person("other")
    assert merged is not None and merged["identifiers"]["phone"] == "+15551230002"
    assert api.person("has-id") is None
    assert v2(api, person("suppress", {"id": "other"})).status_code == 200
    v2(api, person("identify", {"phone": "+15551230002"}, attributes={"back": 1}))
    assert by_phone(api, "+15551230002") is None
    bulk = api.app("POST", "/v1/customers/attributes?id_type=phone", {"ids": ["+15551230001"]})
    found_phones = [c["customer"]["identifiers"]["phone"] for c in bulk.json()["customers"]]
    assert found_phones == ["+15551230001"]


def test_strict_object_types(database: Database, api: Api) -> None:
    company = {"type": "object", "action": "identify",
               "identifiers": {"object_type_id": "3", "object_id": "acme"},
               "attributes": {"name": "Acme"}}  # fmt: skip
    set_settings(database, api, object_types="strict")
    response = v2(api, company)
    assert response.status_code == 207
    (error,) = response.json()["errors"]
    assert error["reason"] == "not_found" and error["field"] == "identifiers.object_type_id"
    assert api.app("GET", "/v1/objects/3/acme/attributes").status_code == 404
    database.write_sync(
        lambda c: objects_store.name_type(c, api.creds.workspace_id, 3, "Companies", clock.now())
    )
    assert v2(api, company).status_code == 200
    types = api.app("GET", "/v1/object_types").json()["types"]
    assert {"id": "3", "name": "Companies"} in types
    set_settings(database, api, object_types="auto")
    company["identifiers"] = {"object_type_id": "4", "object_id": "x"}
    assert v2(api, company).status_code == 200


def test_settings_reject_unknown_values(database: Database, api: Api) -> None:
    with pytest.raises(Exception, match="invalid workspace settings"):
        set_settings(database, api, object_types="sometimes")
    settings = database.read_sync(lambda c: workspaces.settings_of(c, api.creds.workspace_id))
    assert settings.object_types == "auto" and settings.phone_identifiers is False
