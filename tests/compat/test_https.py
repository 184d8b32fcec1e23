"""`patron serve --https`: the official Python client, completely unmodified, over TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from compat_env import customerio_python
from live import LiveServer

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("live-https")
    server = LiveServer(f"sqlite:///{workdir / 'patron.db'}", workdir, args=("--https", "--dev"))
    yield server
    server.stop()


def test_python_client_works_unmodified_over_https(tls_server: LiveServer) -> None:
    out = tls_server.run_client([customerio_python(), str(HERE / "drive_customerio_https.py")])
    assert out["base_url"] == f"https://127.0.0.1:{tls_server.port}/api/v1"
    person = tls_server.person("tls-1")
    assert person is not None
    assert person["attributes"]["plan"] == "secure"
    assert person["identifiers"]["email"] == "tls1@example.com"
    assert [d["id"] for d in person["devices"]] == ["tok-tls"]
    assert [a["name"] for a in tls_server.activities("tls-1", type="event")] == ["paid"]
    second = tls_server.person("tls-2")
    assert second is not None and second["attributes"]["via"] == "batch"


def test_certificate_is_for_loopback_and_signed_by_the_printed_ca(tls_server: LiveServer) -> None:
    assert tls_server.ca_bundle.exists()
    assert str(tls_server.ca_bundle) in tls_server.output  # the banner prints where it is
    for host in ("127.0.0.1", "localhost"):
        url = f"https://{host}:{tls_server.port}/healthz"
        assert httpx.get(url, verify=tls_server.ssl_context()).json() == {"status": "ok"}
    # Without the CA the certificate is (rightly) not trusted.
    with pytest.raises(httpx.ConnectError):
        httpx.get(
            f"https://127.0.0.1:{tls_server.port}/healthz", verify=ssl.create_default_context()
        )
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"http://127.0.0.1:{tls_server.port}/healthz")


def test_certificates_are_reused_across_restarts(tmp_path: Path) -> None:
    first = LiveServer(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, args=("--https",))
    ca = first.ca_bundle.read_bytes()
    first.stop()
    second = LiveServer(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, args=("--https",))
    try:
        assert second.ca_bundle.read_bytes() == ca
        assert second.get("/healthz").status_code == 200
        key = second.ca_bundle.with_name("ca.key")
        assert key.stat().st_mode & 0o077 == 0
    finally:
        second.stop()
