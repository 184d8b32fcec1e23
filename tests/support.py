"""Test helpers shared by every suite: PostgreSQL access, workspaces, an API client."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote as _quote

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from patron.app import create_app
from patron.settings import Settings
from patron.store import workspaces
from patron.store.database import Database, create_engine

PG_URL = os.environ.get(
    "PATRON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def admin_engine() -> sa.engine.Engine:
    return create_engine(PG_URL, pool_size=1).execution_options(isolation_level="AUTOCOMMIT")


def postgres_or_skip() -> None:
    """Skip when PostgreSQL is unreachable, except under CI, where that is a failure."""
    try:
        engine = admin_engine()
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        reason = f"PostgreSQL unreachable at {PG_URL}: {exc.__class__.__name__}"
        if IN_CI:
            pytest.fail(reason + " (CI=true requires it)")
        pytest.skip(reason)


@contextlib.contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards (skips without PostgreSQL)."""
    postgres_or_skip()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(PG_URL, name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def with_database(url: str, name: str) -> str:
    """``url`` pointed at another database."""
    return str(sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False))


def in_process(database: Database, **settings: Any) -> TestClient:
    """A TestClient on Patron's app over ``database`` with ``settings`` (use it in ``with``)."""
    app = create_app(Settings(database_url=database.url, **settings), database)
    return TestClient(app, base_url="http://patron.test")


def new_workspace(db: Database) -> workspaces.Credentials:
    """A workspace with a unique name."""
    return db.write_sync(lambda c: workspaces.create(c, f"ws-{uuid.uuid4().hex[:12]}"))


class Api:
    """Talks to an in-process Patron with one workspace's credentials."""

    def __init__(self, http: TestClient, creds: workspaces.Credentials) -> None:
        self.http = http
        self.creds = creds
        assert creds.track_api_key and creds.app_api_key
        self._basic = httpx.BasicAuth(creds.site_id, creds.track_api_key)
        self._bearer = {"Authorization": f"Bearer {creds.app_api_key}"}

    def track(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        """A Track API call with Basic auth; ``body`` is sent as JSON."""
        if body is not None:
            kw["json"] = body
        return self.http.request(method, path, auth=self._basic, **kw)

    def app(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        """An App API call with the Bearer key."""
        if body is not None:
            kw["json"] = body
        headers = {**self._bearer, **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)

    def identify(self, ident: str, **attrs: Any) -> httpx.Response:
        response = self.track("PUT", f"/api/v1/customers/{quote(ident)}", attrs)
        assert response.status_code == 200, response.text
        return response

    def person(self, ident: str, id_type: str = "id") -> dict[str, Any] | None:
        """The App API view of a person, or None when unknown."""
        response = self.app(
            "GET", f"/v1/customers/{quote(ident)}/attributes", params={"id_type": id_type}
        )
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        customer: dict[str, Any] = response.json()["customer"]
        return customer

    def activities(self, ident: str | None = None, **params: Any) -> list[dict[str, Any]]:
        path = "/v1/activities" if ident is None else f"/v1/customers/{quote(ident)}/activities"
        response = self.app("GET", path, params=params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["activities"]
        return items


def quote(value: str) -> str:
    """Percent-encode a path segment as the official clients do."""
    return _quote(value, safe="")
