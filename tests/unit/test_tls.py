"""The local CA and certificate files: whole, private where they should be, reused."""

from __future__ import annotations

import ssl
from pathlib import Path

from patron.tls import ensure_certificates


def test_certificate_files_are_complete_and_keys_private(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    folder = files.ca_bundle.parent
    # Written through a temporary file and renamed: nothing half-written is ever left behind.
    assert sorted(p.name for p in folder.iterdir()) == [
        "ca.key", "ca.pem", "names", "server.key", "server.pem",
    ]  # fmt: skip
    for key in (folder / "ca.key", files.key):
        assert key.stat().st_mode & 0o077 == 0
    assert files.ca_bundle.stat().st_mode & 0o044 == 0o044  # clients must be able to read it
    context = ssl.create_default_context(cafile=str(files.ca_bundle))
    assert context.cert_store_stats()["x509_ca"] == 1
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert_chain, files.key)  # the chain matches its key


def test_a_second_start_keeps_the_ca(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path).ca_bundle.read_bytes()
    again = ensure_certificates(tmp_path, host="localhost")
    assert again.ca_bundle.read_bytes() == first
