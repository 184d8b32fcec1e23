"""Shared fixtures: real SQLite files, a real PostgreSQL database, and API clients."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from starlette.testclient import TestClient

from live import LiveServer
from patron.domain import clock, ids
from patron.store import workspaces
from patron.store.database import Database
from patron.store.migrate import prepare
from support import (
    Api,
    in_process,
    new_workspace,
    scratch_postgres,
)

pytest_plugins = ["pytester"]

# Property tests draw the same examples on every run, so CI is repeatable; EXPLORE=1 draws new
# ones (and keeps failures in .hypothesis/) when hunting for bugs by hand.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile("explore" if os.environ.get("EXPLORE") == "1" else "repeatable")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=120.0,
        help="How long the soak test (make test-slow) drives traffic.",
    )


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    with scratch_postgres("patron_test") as url:
        prepare(url)
        yield url


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


@pytest.fixture(autouse=True)
def _real_time_and_random_ids() -> Iterator[None]:
    # Dev-mode clocks and seeds are per workspace but process-wide, and SQLite tests reuse
    # workspace ids: put them back after every test.
    yield
    clock.reset()
    ids.clear_seeds()


@pytest.fixture
def app_client(database: Database) -> Iterator[TestClient]:
    with in_process(database) as http:
        yield http


@pytest.fixture
def dev_http(database: Database) -> Iterator[TestClient]:
    """An in-process Patron in dev mode (control plane mounted)."""
    with in_process(database, dev=True) as http:
        yield http


@pytest.fixture
def dev(dev_http: TestClient, workspace: workspaces.Credentials) -> Api:
    """The test's workspace, talking to the dev-mode app."""
    return Api(dev_http, workspace)


@pytest.fixture
def other(dev_http: TestClient, database: Database) -> Api:
    """A second workspace on the same dev-mode app."""
    return Api(dev_http, new_workspace(database))


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
    with scratch_postgres("patron_live") as url:
        server = LiveServer(url, tmp_path_factory.mktemp("live-pg"))
        yield server
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest) -> LiveServer:
    """A live server on each database; client tests run against both."""
    server: LiveServer = request.getfixturevalue(f"live_{request.param}")
    return server
