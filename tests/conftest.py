"""Shared fixtures: real SQLite files, a real PostgreSQL database, and API clients."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from live import LiveServer
from patron.app import create_app
from patron.settings import Settings
from patron.store import workspaces
from patron.store.database import Database
from patron.store.migrate import prepare
from support import PG_URL, Api, admin_engine, new_workspace, postgres_or_skip, with_database


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    postgres_or_skip()
    name = f"patron_test_{uuid.uuid4().hex[:10]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = with_database(PG_URL, name)
    prepare(url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that tests copy (migrating each time would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    prepare(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated database: a SQLite file of its own, or the session's PostgreSQL database
    (tests stay apart there by using workspaces of their own)."""
    if request.param == "sqlite":
        path = tmp_path / "patron.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    return url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url, read_pool_size=2)
    yield db
    db.close()


@pytest.fixture
def workspace(database: Database) -> workspaces.Credentials:
    return new_workspace(database)


@pytest.fixture
def app_client(database: Database) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, base_url="http://patron.test") as http:
        yield http


@pytest.fixture
def api(app_client: TestClient, workspace: workspaces.Credentials) -> Api:
    return Api(app_client, workspace)


@pytest.fixture(scope="session")
def live_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real ``patron serve`` on a SQLite file, shared by the session's client tests."""
    workdir = tmp_path_factory.mktemp("live-sqlite")
    server = LiveServer(f"sqlite:///{workdir / 'patron.db'}", workdir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real ``patron serve`` on a PostgreSQL database of its own."""
    postgres_or_skip()
    name = f"patron_live_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    server = LiveServer(with_database(PG_URL, name), tmp_path_factory.mktemp("live-pg"))
    yield server
    server.stop()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest) -> LiveServer:
    """A live server on each database; client tests run against both."""
    server: LiveServer = request.getfixturevalue(f"live_{request.param}")
    return server
