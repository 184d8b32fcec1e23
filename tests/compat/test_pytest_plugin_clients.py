"""Patron's pytest plugin (`patron.testing`), used as a user's project would use it: installed
next to an official client, running that project's tests."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from compat_env import customerio_python, pipelines_python

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(
    python: str, where: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def test_the_documented_example_passes_with_the_python_client() -> None:
    done = run_pytest(customerio_python(), ROOT / "examples" / "pytest")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "9 passed" in done.stdout


NEVER_CUSTOMERIO = """
import pytest


@pytest.mark.parametrize("pooling", [True, False])
def test_batch_lands_in_patron_over_plain_http(patron, pooling):
    assert patron.ca_bundle is None
    cio = patron.track_client(use_connection_pooling=pooling)
    assert cio.host == "127.0.0.1"
    cio.batch([{"type": "person", "action": "identify", "identifiers": {"id": "b1"},
                "attributes": {"plan": "batch"}}])
    assert patron.person("b1")["attributes"]["plan"] == "batch"
    [sent] = patron.requests(path="/api/v2/batch")
    assert sent["status"] == 200


def test_retries_work_over_plain_http(patron):
    patron.fault(path="/api/v2/batch", status=503, times=1)
    patron.fault(path="/api/v1/customers/*", status=503, times=1)
    cio = patron.track_client(retries=2)
    cio.identify("r1", plan="retried")
    cio.batch([{"type": "person", "action": "identify", "identifiers": {"id": "r2"}}])
    assert patron.person("r1")["attributes"]["plan"] == "retried"
    assert patron.person("r2") is not None
    assert [r["status"] for r in patron.requests(path="/api/v2/batch")] == [200, 503]
"""


def test_track_clients_batch_reaches_patron_without_https(tmp_path: Path) -> None:
    """The client builds batch()'s URL from host and port, as https: the fixture's client must
    send it to Patron, never to track.customer.io (a dead proxy stops anything not local)."""
    (tmp_path / "test_batch.py").write_text(NEVER_CUSTOMERIO)
    dead_proxy = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
                  "NO_PROXY": "127.0.0.1,localhost"}  # fmt: skip
    done = run_pytest(customerio_python(), tmp_path, env=dead_proxy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_analytics_client_feeds_the_pipelines_api(tmp_path: Path) -> None:
    (tmp_path / "test_cdp.py").write_text(
        textwrap.dedent(
            """
            def test_identify_track_group(patron):
                analytics = patron.analytics_client()
                analytics.identify("u1", {"email": "cdp@example.com", "plan": "pro"})
                analytics.track("u1", "Order Completed", {"total": 9.5})
                analytics.group("u1", "acme", {"name": "Acme"})
                person = patron.person("u1")
                assert person["identifiers"]["email"] == "cdp@example.com"
                assert [e["name"] for e in patron.events("u1")] == ["Order Completed"]
                assert patron.requests(path="/v1/batch")[0]["status"] == 200
            """
        )
    )
    done = run_pytest(pipelines_python(), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_failing_assertion_about_patron_state_fails_the_users_test(tmp_path: Path) -> None:
    (tmp_path / "test_wrong.py").write_text(
        "def test_wrong(patron):\n"
        "    patron.track_client().identify('u1', plan='pro')\n"
        "    assert patron.person('u1')['attributes']['plan'] == 'free'\n"
    )
    done = run_pytest(customerio_python(), tmp_path)
    assert done.returncode == 1
    assert "1 failed" in done.stdout and "'pro' == 'free'" in done.stdout


@pytest.mark.postgres
def test_patron_database_option_runs_the_server_on_postgresql(
    tmp_path: Path, pg_database: str
) -> None:
    (tmp_path / "test_pg.py").write_text(
        "def test_pg(patron, patron_server):\n"
        "    assert patron_server.database_url.startswith('postgresql')\n"
        "    patron.track_client().identify('pg-user', plan='x')\n"
        "    assert [p['id'] for p in patron.people()] == ['pg-user']\n"
    )
    done = run_pytest(customerio_python(), tmp_path, f"--patron-database={pg_database}")
    assert done.returncode == 0, done.stdout + done.stderr
