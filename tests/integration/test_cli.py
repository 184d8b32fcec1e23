"""The ``patron`` command line, run as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2 as httpx
import pytest

from live import LiveServer, patron
from patron.store import workspaces
from patron.store.database import Database


def test_workspace_create_json_is_one_object(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = patron("workspace", "create", "acme", "--database", url, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {
        "workspace_id",
        "name",
        "site_id",
        "track_api_key",
        "app_api_key",
        "pipelines_write_key",
    }
    assert data["name"] == "acme" and isinstance(data["workspace_id"], int)
    duplicate = patron("workspace", "create", "acme", "--database", url)
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr


def test_keys_are_stored_hashed(tmp_path: Path) -> None:
    path = tmp_path / "hashed.db"
    created = json.loads(
        patron("workspace", "create", "h", "--database", f"sqlite:///{path}", "--json").stdout
    )
    raw = path.read_bytes()
    for key in ("track_api_key", "app_api_key", "pipelines_write_key"):
        assert created[key].encode() not in raw
    assert created["site_id"].encode() in raw


def test_list_and_rotate_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rot.db'}"
    first = json.loads(patron("workspace", "create", "w1", "--database", url, "--json").stdout)
    patron("workspace", "create", "w2", "--database", url)
    listed = json.loads(patron("workspace", "list", "--database", url, "--json").stdout)
    assert [w["name"] for w in listed] == ["w1", "w2"]
    assert all("key" not in k for w in listed for k in w)
    rotated = json.loads(
        patron(
            "workspace", "rotate-keys", "w1", "--kind", "app", "--database", url, "--json"
        ).stdout
    )
    assert set(rotated) == {"workspace_id", "name", "site_id", "app_api_key"}
    assert rotated["app_api_key"] != first["app_api_key"]
    db = Database(url)
    try:
        assert db.read_sync(lambda c: workspaces.by_key(c, "app", first["app_api_key"])) is None
        assert db.read_sync(lambda c: workspaces.by_key(c, "app", rotated["app_api_key"])) == 1
        # The other keys still work.
        assert (
            db.read_sync(lambda c: workspaces.by_key(c, "pipelines", first["pipelines_write_key"]))
            == 1
        )
    finally:
        db.close()
    missing = patron("workspace", "rotate-keys", "nope", "--database", url)
    assert missing.returncode != 0


def test_migrate_and_env_vars(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = patron("migrate", env={"PATRON_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.db").exists()
    help_text = patron("serve", "--help").stdout
    for var in ("PATRON_HOST", "PATRON_PORT", "PATRON_DATABASE_URL"):
        assert var in help_text


@pytest.mark.postgres
def test_serve_on_postgres_creates_default_workspace(tmp_path: Path, pg_database: str) -> None:
    # pg_database already has workspaces from other tests; use a fresh one.
    import sqlalchemy as sa

    from support import admin_engine, with_database

    admin = admin_engine()
    name = "patron_cli_" + tmp_path.name[-8:].replace("-", "_")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = with_database(pg_database, name).replace("postgresql+psycopg://", "postgresql://")
    server = LiveServer(url, tmp_path)
    try:
        assert server.creds["name"] == "default"
        auth = (server.creds["site_id"], server.creds["track_api_key"])
        region = httpx.get(server.base + "/api/v1/accounts/region", auth=auth, timeout=5)
        assert region.json()["environment_id"] == server.creds["workspace_id"]
    finally:
        server.stop()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_serve_prints_credentials_and_snippets(tmp_path: Path) -> None:
    server = LiveServer(f"sqlite:///{tmp_path / 'serve.db'}", tmp_path)
    try:
        out = server.output
        assert server.creds["track_api_key"] in out
        assert server.creds["app_api_key"] in out
        assert server.creds["pipelines_write_key"] in out
        assert "customerio-node" in out and "cio.base_url" in out
        # batch() builds its URL from host and port: with base_url alone it calls Customer.io.
        host_and_port = f'host="127.0.0.1", port={server.port})'
        assert f'"{server.creds["track_api_key"]}", {host_and_port}' in out
        assert "npm install customerio-node@5" in out  # 4.x cannot be pointed at Patron
        assert "from customerio import CustomerIO, APIClient" not in out  # it only sends
        assert server.creds_file.stat().st_mode & 0o077 == 0  # the keys are the owner's only
        health = httpx.get(server.base + "/healthz", timeout=5)
        assert health.json() == {"status": "ok"}
    finally:
        server.stop()
    # A restart reuses the database and prints the saved keys again.
    again = LiveServer(f"sqlite:///{tmp_path / 'serve.db'}", tmp_path)
    try:
        assert again.creds["track_api_key"] in again.output
        listed = patron("workspace", "list", "--database", f"sqlite:///{tmp_path / 'serve.db'}")
        assert listed.stdout.count("default") == 1
    finally:
        again.stop()


def test_workspace_settings_and_object_types(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'settings.db'}"
    assert patron("workspace", "create", "acme", "--database", url).returncode == 0
    shown = patron("workspace", "settings", "acme", "--database", url, "--json")
    assert json.loads(shown.stdout) == {"phone_identifiers": False, "object_types": "auto"}
    changed = patron(
        "workspace", "settings", "acme", "--database", url, "--json",
        "--phone-identifiers", "--object-types", "strict",
    )  # fmt: skip
    assert json.loads(changed.stdout) == {"phone_identifiers": True, "object_types": "strict"}
    assert json.loads(patron("workspace", "settings", "acme", "--database", url, "--json").stdout)[
        "phone_identifiers"
    ]
    made = patron("workspace", "object-type", "acme", "2", "Accounts", "--database", url)
    assert made.returncode == 0, made.stderr
    db = Database(url)
    try:
        ws = db.read_sync(lambda c: workspaces.id_of(c, "acme"))
        names = db.read_sync(
            lambda c: c.exec_driver_sql(
                f"SELECT type_id, name FROM object_types WHERE workspace_id = {ws}"
            ).all()
        )
    finally:
        db.close()
    assert [tuple(r) for r in names] == [(2, "Accounts")]
    missing = patron("workspace", "settings", "nope", "--database", url)
    assert missing.returncode != 0 and "no workspace named 'nope'" in missing.stderr
    bad = patron("workspace", "settings", "acme", "--database", url, "--object-types", "maybe")
    assert bad.returncode != 0
