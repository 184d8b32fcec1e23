"""A real ``patron serve`` in a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

PATRON = str(Path(sys.executable).with_name("patron"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """``patron serve`` on SQLite or PostgreSQL, with the default workspace's credentials."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
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
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("patron serve did not become ready")

    def client_env(self) -> dict[str, str]:
        """The environment the client driver scripts read their URL and keys from."""
        return {
            **os.environ,
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
        return httpx.get(
            self.base + path,
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

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
