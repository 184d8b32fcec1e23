"""A transactional email acknowledged with a 200 is sent even if the server is killed with
SIGKILL before it could send it: after the restart the sender picks it up. On SQLite and on
PostgreSQL, against a real SMTP server that is down until the restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from live import LiveServer, free_port
from smtp_sink import SmtpSink
from support import scratch_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'patron.db'}"
        return
    with scratch_postgres("patron_send_kill") as url:
        yield url


def _app(server: LiveServer, path: str, body: object) -> httpx.Response:
    return httpx.post(
        server.base + path,
        json=body,
        headers={"Authorization": f"Bearer {server.creds['app_api_key']}"},
        timeout=30,
    )


def test_acknowledged_emails_survive_sigkill(database_url: str, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here until the restart: every attempt fails
    # A lease taken just before the kill holds its deliveries this long after the restart.
    env = {"PATRON_SMTP_URL": f"smtp://127.0.0.1:{port}", "PATRON_SENDER_LEASE": "2"}
    server = LiveServer(database_url, tmp_path, env, ("--dev",))
    acknowledged = []
    for n in range(20):
        response = _app(
            server,
            "/v1/send/email",
            {"to": f"p{n}@example.com", "subject": f"n={n}", "body": f"<p>{n}</p>"},
        )
        assert response.status_code == 200, response.text
        acknowledged.append(response.json()["delivery_id"])
    server.kill()

    with SmtpSink(port=port) as smtp:
        restarted = LiveServer(database_url, tmp_path, env, ("--dev",))
        try:
            # Attempts that failed before the kill wait for their backoff: move the clock past it.
            assert _app(restarted, "/__patron/clock", {"advance": 120}).status_code == 200
            assert _app(restarted, "/__patron/settle", {"timeout": 30}).json() == {"settled": True}
            received = smtp.wait_for(20)
        finally:
            restarted.stop()
    ids = [m.message["X-CIO-Delivery-ID"] for m in received]
    assert sorted(ids) == sorted(acknowledged)  # every one, once


def test_the_dev_clock_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'patron.db'}"
    with SmtpSink() as smtp:
        env = {"PATRON_SMTP_URL": smtp.url}
        server = LiveServer(url, tmp_path, env, ("--dev",))
        try:
            later = 4_000_000_000  # in 2096: by real time, nothing is due for decades
            moved = _app(server, "/__patron/clock", {"set": later, "freeze": True}).json()
            assert moved["now"] == later
            body = {"to": "c@example.com", "subject": "Due", "body": "<p>x</p>"}
            answer = _app(server, "/v1/send/email", {**body, "send_at": later + 60}).json()
            assert answer["send_at"] == later + 60
        finally:
            server.kill()
        restarted = LiveServer(url, tmp_path, env, ("--dev",))
        try:
            clock = httpx.get(
                restarted.base + "/__patron/clock",
                headers={"Authorization": f"Bearer {restarted.creds['app_api_key']}"},
            ).json()
            assert clock == {"now": later, "offset": clock["offset"], "frozen": True}
            assert _app(restarted, "/__patron/settle", {"timeout": 10}).json()["settled"]
            assert smtp.messages == []  # still waiting on the workspace's clock
            _app(restarted, "/__patron/clock", {"advance": 60})
            assert _app(restarted, "/__patron/settle", {"timeout": 10}).json()["settled"]
            assert [m.message["Subject"] for m in smtp.wait_for(1)] == ["Due"]
        finally:
            restarted.stop()
