"""A real ``patron serve`` in a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from patron.testing import terminate

PATRON = str(Path(sys.executable).with_name("patron"))


def patron(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``patron`` command as a user would; never raises on a failing exit status."""
    return subprocess.run(
        [PATRON, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """``patron serve`` on SQLite or PostgreSQL, with the default workspace's credentials."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.https = "--https" in args
        self.base = f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"
        # With --https the local CA is kept in the data directory; clients verify against it.
        self.ca_bundle = workdir / "data" / "tls" / "ca.pem"
        self.creds_file = workdir / "credentials.json"
        self.log_path = workdir / "serve.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                PATRON,
                "serve",
                "--port",
                str(self.port),
                "--database",
                database_url,
                "--credentials-file",
                str(self.creds_file),
                "--log-level",
                "warning",
                "--data-dir",
                str(workdir / "data"),
                *args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        self._wait_ready()
        self.creds: dict[str, Any] = json.loads(self.creds_file.read_text())

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"patron serve exited: {self.log_path.read_text()}")
            try:
                if self.get("/healthz", timeout=1).status_code == 200:
                    return
            except (httpx.TransportError, FileNotFoundError):  # the CA is written at start
                pass
            time.sleep(0.05)
        raise RuntimeError("patron serve did not become ready")

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts Patron's local CA."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def get(self, path: str, **kw: Any) -> httpx.Response:
        """A GET to this server (verifying its certificate against the local CA under https)."""
        verify: Any = self.ssl_context() if self.https else True
        return httpx.get(self.base + path, verify=verify, **kw)

    def client_env(self) -> dict[str, str]:
        """The environment the client driver scripts read their URL and keys from."""
        tls = {"REQUESTS_CA_BUNDLE": str(self.ca_bundle)} if self.https else {}
        return {
            **os.environ,
            **tls,
            "PATRON_PORT": str(self.port),
            "PATRON_URL": self.base,
            "PATRON_SITE_ID": self.creds["site_id"],
            "PATRON_TRACK_KEY": self.creds["track_api_key"],
            "PATRON_APP_KEY": self.creds["app_api_key"],
            "PATRON_WRITE_KEY": self.creds["pipelines_write_key"],
        }

    def run_client(self, command: list[str], cwd: Path | None = None) -> dict[str, Any]:
        """Run a client driver script against this server; its stdout is one JSON object."""
        result = subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            env=self.client_env(),
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        out: dict[str, Any] = json.loads(result.stdout)
        return out

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def app_get(self, path: str, **params: Any) -> httpx.Response:
        """An App API GET with the default workspace's key."""
        return self.get(
            path,
            params=params,
            headers={"Authorization": f"Bearer {self.creds['app_api_key']}"},
            timeout=10,
        )

    def person(self, ident: str, id_type: str = "id") -> dict[str, Any] | None:
        from urllib.parse import quote

        response = self.app_get(
            f"/v1/customers/{quote(ident, safe='')}/attributes", id_type=id_type
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        customer: dict[str, Any] = response.json()["customer"]
        return customer

    def activities(self, ident: str, **params: Any) -> list[dict[str, Any]]:
        from urllib.parse import quote

        response = self.app_get(f"/v1/customers/{quote(ident, safe='')}/activities", **params)
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["activities"]
        return items

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or a power cut of the process."""
        self.proc.kill()
        self.proc.wait()
        self._log.close()

    def rss_mb(self) -> float:
        """The server's resident memory now, in MB (Linux)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def app_pages(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paged App API or control-plane listing (``key`` names the list)."""
        found: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            query = {**params, "limit": 1000, **({"start": start} if start else {})}
            response = self.app_get(path, **query)
            response.raise_for_status()
            page = response.json()
            found.extend(page[key])
            start = page.get("next")
            if not start:
                return found

    def stop(self) -> None:
        terminate(self.proc)
        self._log.close()
