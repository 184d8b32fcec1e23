"""Limits (wire spec §2.6) and malformed input: always 400 in Customer.io's shape, never 5xx."""

from __future__ import annotations

import pytest

from support import Api


def _errors(response: object) -> list[str]:
    assert getattr(response, "status_code") == 400, getattr(response, "text")  # noqa: B009
    errors: list[str] = response.json()["meta"]["errors"]  # type: ignore[attr-defined]
    return errors


def test_id_over_150_bytes(api: Api) -> None:
    long_id = "é" * 76  # 152 bytes
    errors = _errors(api.track("PUT", f"/api/v1/customers/{long_id}", {"a": 1}))
    assert "150 bytes" in errors[0]
    errors = _errors(api.track("PUT", "/api/v1/customers/a%40b.co", {"id": "x" * 151}))
    assert "id" in errors[0] and "150 bytes" in errors[0]


def test_attribute_name_over_150_bytes(api: Api) -> None:
    errors = _errors(api.track("PUT", "/api/v1/customers/u1", {"n" * 151: 1}))
    assert "attribute name" in errors[0] and "150 bytes" in errors[0]


def test_attribute_value_over_1000_bytes_names_the_attribute(api: Api) -> None:
    errors = _errors(api.track("PUT", "/api/v1/customers/u1", {"myAttribute": "v" * 1001}))
    assert errors == ["value for attribute 'myAttribute' cannot be longer than 1000 bytes"]
    nested = {"blob": {"k": "v" * 1000}}
    assert "'blob'" in _errors(api.track("PUT", "/api/v1/customers/u1", nested))[0]
    assert api.track("PUT", "/api/v1/customers/u1", {"fits": "v" * 1000}).status_code == 200


def test_300_attributes_per_call_and_per_person(api: Api) -> None:
    errors = _errors(api.track("PUT", "/api/v1/customers/u1", {f"a{i}": i for i in range(301)}))
    assert "300" in errors[0]
    assert (
        api.track("PUT", "/api/v1/customers/u1", {f"a{i}": i for i in range(290)}).status_code
        == 200
    )
    errors = _errors(api.track("PUT", "/api/v1/customers/u1", {f"b{i}": i for i in range(20)}))
    assert "on one person" in errors[0]
    person = api.person("u1")
    assert person is not None and "b0" not in person["attributes"]


def test_event_name_and_data_limits(api: Api) -> None:
    path = "/api/v1/customers/u1/events"
    assert "100 bytes" in _errors(api.track("POST", path, {"name": "n" * 101}))[0]
    assert "name" in _errors(api.track("POST", path, {"data": {}}))[0]
    assert "name" in _errors(api.track("POST", path, {"name": "   "}))[0]
    big = {"name": "big", "data": {"blob": "x" * 100_001}}
    assert "100000 bytes" in _errors(api.track("POST", path, big))[0]
    assert "object" in _errors(api.track("POST", path, {"name": "e", "data": [1]}))[0]
    assert "timestamp" in _errors(api.track("POST", path, {"name": "e", "timestamp": "soon"}))[0]


@pytest.mark.parametrize(
    "content",
    [b"{bad json", b"[1,2]", b'"text"', b"\xff\xfe{}", b"", b"null", b'{"a": 1} trailing'],
)
def test_malformed_bodies(api: Api, content: bytes) -> None:
    response = api.track("PUT", "/api/v1/customers/u1", content=content)
    errors = _errors(response)
    assert errors and all(isinstance(e, str) for e in errors)


def test_oversized_body(api: Api) -> None:
    huge = b'{"a":"' + b"x" * 2_000_000 + b'"}'
    assert "limit" in _errors(api.track("PUT", "/api/v1/customers/u1", content=huge))[0]


def test_wrong_types(api: Api) -> None:
    assert "_update" in _errors(api.track("PUT", "/api/v1/customers/u1", {"_update": [1]}))[0]
    assert (
        "email" in _errors(api.track("PUT", "/api/v1/customers/u1", {"email": "not-an-email"}))[0]
    )
    assert "id" in _errors(api.track("PUT", "/api/v1/customers/a%40b.co", {"id": True}))[0]
    assert "device" in _errors(api.track("PUT", "/api/v1/customers/u1/devices", {"device": "x"}))[0]


def test_invalid_utf8_in_path(api: Api) -> None:
    assert "UTF-8" in _errors(api.track("PUT", "/api/v1/customers/%ff%fe", {"a": 1}))[0]


def test_nothing_was_written_by_rejected_calls(api: Api) -> None:
    api.track("PUT", "/api/v1/customers/u1", {"ok": 1, "bad": "v" * 1001})
    assert api.person("u1") is None


def test_nul_characters_are_refused_on_both_databases(api: Api) -> None:
    assert "NUL" in _errors(api.track("PUT", "/api/v1/customers/u%00x", {"a": 1}))[0]
    body = b'{"name": "e", "data": {"k": "a\\u0000b"}}'
    assert "NUL" in _errors(api.track("POST", "/api/v1/customers/u1/events", content=body))[0]
    # An escaped backslash followed by "u0000" is ordinary text.
    ok = api.track("PUT", "/api/v1/customers/u1", content=b'{"a": "\\\\u0000"}')
    assert ok.status_code == 200
    person = api.person("u1")
    assert person is not None and person["attributes"]["a"] == "\\u0000"
    lookup = api.app("GET", "/v1/customers", params={"email": "a\x00@b.co"})
    assert lookup.status_code == 400
