"""The official clients' transactional sends (customerio-node `sendEmail`, PyPI `customerio`
`APIClient.send_email`) through a live `patron serve` into a real SMTP server, on SQLite and
PostgreSQL; what arrives is checked header by header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from compat_env import customerio_python, node_dir
from live import LiveServer
from smtp_sink import Received, SmtpSink
from support import scratch_postgres

HERE = Path(__file__).parent
DOC = """
subscription_topics:
  - {id: 1, name: Product news}
transactional:
  - id: 7
    name: Welcome
    from: Shop <hello@shop.test>
    subject: "Welcome {{ customer.email | default: 'friend' }} ({{ trigger.plan }})"
    body: |
      <p>Items: {% for i in trigger.items %}{{ i.name }} {% endfor %}</p>
      <a href="https://shop.test/start">Start</a>
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def mailing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[LiveServer, SmtpSink]]:
    with SmtpSink() as smtp:
        env = {"PATRON_SMTP_URL": smtp.url}
        if request.param == "sqlite":
            server = LiveServer(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, env, ("--dev",))
            try:
                yield _applied(server), smtp
            finally:
                server.stop()
        else:
            with scratch_postgres("patron_send") as url:
                server = LiveServer(url, tmp_path, env, ("--dev",))
                try:
                    yield _applied(server), smtp
                finally:
                    server.stop()


def _applied(server: LiveServer) -> LiveServer:
    response = httpx.post(
        server.base + "/__patron/apply",
        content=DOC.encode(),
        headers={
            "Authorization": f"Bearer {server.creds['app_api_key']}",
            "content-type": "application/yaml",
        },
    )
    assert response.status_code == 200, response.text
    return server


def _settle(server: LiveServer) -> None:
    response = httpx.post(
        server.base + "/__patron/settle",
        json={"timeout": 20},
        headers={"Authorization": f"Bearer {server.creds['app_api_key']}"},
    )
    assert response.json() == {"settled": True}


def _check(got: Received, *, to: str, subject: str, source: str, delivery_id: str) -> None:
    m = got.message
    assert m["From"] == "Shop <hello@shop.test>"
    assert m["To"] == to
    assert m["Subject"] == subject
    assert m["X-Source"] == source
    assert m["X-CIO-Delivery-ID"] == delivery_id
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m["List-Unsubscribe"].endswith(f"/unsubscribe/{delivery_id}>")
    assert got.mail_from == "hello@shop.test"


@pytest.mark.compat
def test_node_send_email(mailing: tuple[LiveServer, SmtpSink]) -> None:
    server, smtp = mailing
    out = server.run_client(["node", "drive_send.mjs"], cwd=node_dir())
    delivery_id = out["sent"]["delivery_id"]
    assert set(out["sent"]) == {"delivery_id", "queued_at"}
    assert out["unknown"]["statusCode"] == 400
    assert "424242 does not exist" in out["unknown"]["message"]
    _settle(server)
    (got,) = smtp.wait_for(1)
    _check(
        got,
        to="node@example.com",
        subject="Welcome node@example.com (team)",
        source="node",
        delivery_id=delivery_id,
    )
    assert sorted(got.rcpt_tos) == ["hidden@example.com", "node@example.com"]
    assert got.message["Bcc"] is None
    assert "Items: Hat" in got.part("text/plain")
    (attachment,) = got.message.iter_attachments()
    assert attachment.get_filename() == "data.bin"
    assert attachment.get_content() == bytes([0, 1, 2, 250, 255])
    person = server.person("node@example.com", id_type="email")
    assert person is not None  # unknown people named by identifiers are created


@pytest.mark.compat
def test_python_send_email(mailing: tuple[LiveServer, SmtpSink]) -> None:
    server, smtp = mailing
    out = server.run_client([customerio_python(), str(HERE / "drive_send_customerio.py")])
    delivery_id = out["sent"]["delivery_id"]
    assert "424242 does not exist" in out["unknown"]
    _settle(server)
    (got,) = smtp.wait_for(1)
    _check(
        got,
        to="Py Person <py@example.com>",
        subject="Welcome friend (pro)",
        source="python",
        delivery_id=delivery_id,
    )
    assert sorted(got.rcpt_tos) == ["audit@example.com", "py@example.com"]
    assert got.message["Bcc"] is None
    assert "Items: Shoe Sock" in got.part("text/plain")
    (attachment,) = got.message.iter_attachments()
    assert attachment.get_content() in ("hello from python", b"hello from python")
    assert server.person("py-send") is not None


@pytest.mark.compat
def test_node_content_metrics_and_subscription_calls(mailing: tuple[LiveServer, SmtpSink]) -> None:
    server, smtp = mailing
    out = server.run_client(["node", "drive_messaging_reads.mjs"], cwd=node_dir())
    assert [t["identifier"] for t in out["topics"]["topics"]] == ["topic_1"]
    assert [c["type"] for c in out["channels"]["channels"]] == ["email", "twilio", "push", "in_app"]
    assert [t["subscribed"] for t in out["prefs"]["customer"]["topics"]] == [False]
    assert out["token"]["url"].endswith(f"/u/i/{out['token']['token']}/")
    page = httpx.get(server.base + "/u/i/" + out["token"]["token"] + "/")
    assert page.status_code == 200 and "Product news" in page.text
    assert out["tokenError"]["statusCode"] == 400
    [default] = out["contents"]["contents"]
    assert default["language"] == "" and default["from"] == "Shop <hello@shop.test>"
    [updated] = out["updated"]["content"]
    assert updated["id"] == default["id"]
    assert updated["subject"] == "Updated for {{ trigger.plan }}"
    assert out["getFrench"] == out["french"]
    assert out["getFrench"]["content"][0]["subject"] == "Bonjour"
    assert out["getFrench"]["content"][0]["body"] == updated["body"]
    assert out["languageError"]["statusCode"] == 400
    assert "language" in out["languageError"]["message"]
    assert out["contentError"]["statusCode"] == 404
    assert out["metrics"]["metric"]["series"]["sent"] == [0, 0]
    assert out["links"] == {"links": []}
    # The next send uses the updated content.
    response = httpx.post(
        server.base + "/v1/send/email",
        json={
            "transactional_message_id": 7,
            "to": "a@example.com",
            "message_data": {"plan": "pro"},
        },
        headers={"Authorization": f"Bearer {server.creds['app_api_key']}"},
    )
    assert response.status_code == 200, response.text
    _settle(server)
    (got,) = smtp.wait_for(1)
    assert got.message["Subject"] == "Updated for pro"
    assert got.message["X-Source"] == "updated"
