"""HTTPS on loopback: a local CA and a server certificate, made once and kept in the data dir.

The CA is created on first use and reused, so a client that trusts ``ca.pem`` keeps trusting
every later server certificate. The server certificate is re-issued when the names it must
cover change (``patron serve --https --host …``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import trustme

from patron.files import write_whole

DEFAULT_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class TLSFiles:
    """Paths handed to uvicorn (certificate chain and key) and to clients (the CA bundle)."""

    ca_bundle: Path
    cert_chain: Path
    key: Path


def _names(host: str) -> list[str]:
    names = list(DEFAULT_NAMES)
    if host and host not in ("0.0.0.0", "::") and host not in names:
        names.append(host)
    return names


def ensure_certificates(data_dir: Path, host: str = "127.0.0.1") -> TLSFiles:
    """The local CA and a server certificate for ``host`` and loopback, created if missing."""
    folder = data_dir / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca_key = folder / "ca.key"
    if files.ca_bundle.exists() and ca_key.exists():
        ca = trustme.CA.from_pem(files.ca_bundle.read_bytes(), ca_key.read_bytes())
    else:
        ca = trustme.CA(organization_name="Patron local development CA")
        write_whole(ca_key, ca.private_key_pem.bytes())
        write_whole(files.ca_bundle, ca.cert_pem.bytes(), mode=0o644)
    names = _names(host)
    names_file = folder / "names"
    current = names_file.read_text().split() if names_file.exists() else []
    if current != names or not files.cert_chain.exists() or not files.key.exists():
        for name in names:
            if not _is_ip(name) and not name.replace("-", "").replace(".", "").isalnum():
                raise ValueError(f"cannot issue a certificate for host {name!r}")
        cert = ca.issue_cert(*names)
        write_whole(files.key, cert.private_key_pem.bytes())
        write_whole(files.cert_chain, b"".join(p.bytes() for p in cert.cert_chain_pems), mode=0o644)
        names_file.write_text(" ".join(names))
    return files


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
