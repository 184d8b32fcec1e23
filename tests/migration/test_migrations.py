"""``alembic upgrade head`` builds exactly the schema that the metadata describes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from patron.store import people as people_store
from patron.store.database import create_engine
from patron.store.migrate import upgrade
from patron.store.schema import metadata
from support import PG_URL, admin_engine, postgres_or_skip, with_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of one kind: one to migrate, one to create fresh."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}", f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    postgres_or_skip()
    names = [f"patron_mig_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = admin_engine()
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield with_database(PG_URL, names[0]), with_database(PG_URL, names[1])
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _describe(engine: sa.engine.Engine) -> dict[str, Any]:
    inspector = sa.inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(t for t in inspector.get_table_names() if t != "alembic_version"):
        schema[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ),
            "pk": sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return schema


def _insert_workspace(conn: sa.Connection) -> int:
    """A workspace row written with plain SQL, as an older schema holds it."""
    return int(
        conn.execute(
            sa.text(
                "INSERT INTO workspaces (name, site_id, track_key_hash, app_key_hash,"
                " pipelines_key_hash, created_at) VALUES ('w', 's', 't', 'a', 'p', 0)"
                " RETURNING id"
            )
        ).scalar_one()
    )


def test_upgrade_head_equals_fresh_schema(empty_pair: tuple[str, str]) -> None:
    migrated_url, fresh_url = empty_pair
    migrated = create_engine(migrated_url)
    fresh = create_engine(fresh_url)
    try:
        upgrade(migrated)
        metadata.create_all(fresh)
        assert _describe(migrated) == _describe(fresh)
        # And alembic itself sees nothing left to generate.
        with migrated.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        migrated.dispose()
        fresh.dispose()


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'twice.db'}")
    try:
        upgrade(engine)
        upgrade(engine)
        assert "people" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_upgrades_keep_data_and_backfill_hashed_emails(empty_pair: tuple[str, str]) -> None:
    url, _ = empty_pair
    engine = create_engine(url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as conn:
            ws = _insert_workspace(conn)
            for cio, email in (("c1", "Old@Example.com"), ("c2", None)):
                conn.execute(
                    sa.text(
                        "INSERT INTO people (workspace_id, cio_id, email, email_key, attributes,"
                        " attribute_ts, created_at, updated_at)"
                        " VALUES (:ws, :cio, :email, :key, '{}', '{}', 0, 0)"
                    ),
                    {"ws": ws, "cio": cio, "email": email, "key": email and email.lower()},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO activities (workspace_id, type, timestamp, data, created_at)"
                    " VALUES (:ws, 'event', 0, '{}', 0)"
                ),
                {"ws": ws},
            )
        upgrade(engine)
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text("SELECT cio_id, email_sha256 FROM people")).all())
            kept = conn.execute(sa.text("SELECT count(*) FROM activities")).scalar_one()
            settings = conn.execute(sa.text("SELECT settings FROM workspaces")).scalar_one()
        assert rows == {"c1": hashlib.sha256(b"old@example.com").hexdigest(), "c2": None}
        assert kept == 1
        assert settings in ("{}", {})
    finally:
        engine.dispose()


def test_upgrade_indexes_existing_hashed_emails(empty_pair: tuple[str, str]) -> None:
    url, _ = empty_pair
    engine = create_engine(url)
    try:
        upgrade(engine, "0007")
        digest = hashlib.sha256(b"old@example.com").hexdigest()
        with engine.begin() as conn:
            ws = _insert_workspace(conn)
            conn.execute(
                sa.text(
                    "INSERT INTO people (workspace_id, cio_id, email, email_key, email_sha256,"
                    " attributes, attribute_ts, created_at, updated_at)"
                    " VALUES (:ws, 'c1', 'Old@Example.com', 'old@example.com', :digest,"
                    " '{}', '{}', 0, 0)"
                ),
                {"ws": ws, "digest": digest},
            )
        upgrade(engine)
        with engine.connect() as conn:
            found = people_store.by_email_sha256(conn, ws, digest.upper())
            assert [p.cio_id for p in found] == ["c1"]
            assert people_store.by_email_sha256(conn, ws, "0" * 64) == []
            assert people_store.by_email_sha256(conn, ws, "not hex") == []
    finally:
        engine.dispose()
