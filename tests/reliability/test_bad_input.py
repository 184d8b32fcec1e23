"""Bad input against a live server: odd identifiers, broken and oversized bodies, wrong
content types, gzip bombs. Each gets its documented 4xx in Customer.io's shape (or, for
Pipelines in its default permissive mode, 200 and a recorded rejection), and the server stays
healthy: it answers, it still writes, and its memory stays bounded."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from live import LiveServer


def track(server: LiveServer, method: str, path: str, **kw: Any) -> httpx.Response:
    auth = (server.creds["site_id"], server.creds["track_api_key"])
    return httpx.request(method, server.base + path, auth=auth, timeout=30, **kw)


def pipelines(server: LiveServer, path: str, **kw: Any) -> httpx.Response:
    auth = (server.creds["pipelines_write_key"], "")
    return httpx.post(server.base + path, auth=auth, timeout=30, **kw)


def assert_v1_error(response: httpx.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["meta"].get("errors") or body["meta"].get("error"), body


@pytest.fixture(autouse=True)
def still_healthy(server: LiveServer) -> Iterator[None]:
    yield
    assert server.proc.poll() is None, "the server died"
    assert server.get("/healthz", timeout=5).json() == {"status": "ok"}
    assert track(server, "PUT", "/api/v1/customers/healthy", json={"ok": True}).status_code == 200
    assert server.rss_mb() < 400, "memory ran away"


@pytest.mark.parametrize(
    ("segment", "stored"),
    [
        ("%C3%BCn%C3%AFc%C3%B8d%C3%A9%E2%9C%93", "ünïcødé✓"),
        ("a%2Fb", "a/b"),
        ("x" * 150, "x" * 150),
    ],
)
def test_identifiers_that_are_valid(server: LiveServer, segment: str, stored: str) -> None:
    assert track(server, "PUT", f"/api/v1/customers/{segment}", json={"k": 1}).status_code == 200
    person = server.person(stored)
    assert person is not None and person["id"] == stored


@pytest.mark.parametrize(
    ("segment", "status"),
    [("x" * 151, 400), ("%C3%BC" * 76, 400), ("%ff", 400), ("%00", 400), ("", 404)],
)
def test_identifiers_that_are_refused(server: LiveServer, segment: str, status: int) -> None:
    assert_v1_error(track(server, "PUT", f"/api/v1/customers/{segment}", json={}), status)


@pytest.mark.parametrize(
    "content",
    [
        b'{"plan": "\xff\xfe"}',  # invalid UTF-8
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting
        b'{"a": ' * 5_000 + b"1" + b"}" * 5_000,
        b"plan=pro&email=a%40b.co",  # a form body
        b"\x00\x01\x02",
        b'{"a": 1} trailing',
    ],
)
def test_broken_bodies(server: LiveServer, content: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    assert_v1_error(track(server, "PUT", "/api/v1/customers/b1", content=content, headers=headers))
    assert server.person("b1") is None


def test_ten_megabyte_body(server: LiveServer) -> None:
    content = b'{"blob": "' + b"x" * 10_000_000 + b'"}'
    response = track(server, "PUT", "/api/v1/customers/big", content=content)
    assert_v1_error(response)
    assert "limit" in response.text
    batch = track(server, "POST", "/api/v2/batch", content=content)
    assert batch.status_code == 400 and batch.json()["errors"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_json_under_another_content_type_is_read_as_json(
    server: LiveServer, content_type: str | None
) -> None:
    # Clients differ in what they declare; the body decides (docs/compatibility.md).
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = track(
        server, "PUT", "/api/v1/customers/ct", content=b'{"via": "ct"}', headers=headers
    )
    assert response.status_code == 200
    assert server.person("ct")["attributes"]["via"] == "ct"  # type: ignore[index]


def test_gzip_bomb_to_pipelines(server: LiveServer) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * 200_000_000 + b"]}", compresslevel=9)
    assert len(bomb) < 300_000
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    strict = pipelines(server, "/v1/batch", content=bomb, headers={**headers, "X-Strict-Mode": "1"})
    assert strict.status_code == 400
    assert "limit" in strict.json()["message"]
    permissive = pipelines(server, "/v1/batch", content=bomb, headers=headers)
    assert permissive.status_code == 200  # Customer.io's default answer; the rejection is kept
    [rejection] = server.app_get("/v1/activities", type="rejected_call").json()["activities"]
    assert "limit" in str(rejection["data"])


def test_broken_gzip_and_unknown_encodings(server: LiveServer) -> None:
    strict = {"X-Strict-Mode": "1", "Content-Type": "application/json"}
    truncated = gzip.compress(b'{"userId": "g1", "event": "x"}')[:-8]
    for content, encoding in ((b"not gzip", "gzip"), (truncated, "gzip"), (b"{}", "br")):
        response = pipelines(
            server, "/v1/track", content=content, headers={**strict, "Content-Encoding": encoding}
        )
        assert response.status_code == 400, (encoding, response.text)
        assert response.json()["meta"]["error"]


def test_wrong_credentials_everywhere(server: LiveServer) -> None:
    wrong = ("nobody", "nothing")
    for method, path in (("PUT", "/api/v1/customers/x"), ("POST", "/api/v2/batch")):
        response = httpx.request(method, server.base + path, auth=wrong, json={})
        assert response.status_code == 401
        assert response.json() == {"meta": {"error": "Unauthorized request"}}
    app = httpx.get(
        server.base + "/v1/customers/x/attributes", headers={"Authorization": "Bearer x"}
    )
    assert app.status_code == 401
