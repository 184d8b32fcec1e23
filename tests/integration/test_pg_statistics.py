"""PostgreSQL: tables that grow from empty get statistics soon, so that lookups keep their index."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from patron.domain.identifiers import Identifier
from patron.domain.operations import Identify
from patron.store import database as database_module
from patron.store import migrate, pg_statistics, workspaces
from patron.store.apply import apply
from patron.store.database import Database
from support import scratch_postgres

pytestmark = pytest.mark.postgres


def _generic_plan(db: Database, ws: int) -> str:
    """The plan PostgreSQL keeps for a prepared id lookup (the write path's ``= ANY``)."""

    def explain(conn: sa.Connection) -> str:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        raw.execute(
            "PREPARE lookup(int, varchar[]) AS SELECT pk FROM people"
            " WHERE workspace_id = $1 AND external_id = ANY($2) FOR UPDATE"
        )
        try:
            rows = raw.execute(f"EXPLAIN EXECUTE lookup({ws}, ARRAY['p1', 'p2'])").fetchall()
        finally:
            raw.execute("DEALLOCATE lookup")
        return "\n".join(r[0] for r in rows)

    return db.read_sync(explain)


def test_grown_tables_are_analyzed_and_lookups_use_their_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(database_module, "STATISTICS_SECONDS", 0.2)
    with scratch_postgres("patron_stats") as url:
        migrate.prepare(url)
        db = Database(url, read_pool_size=1)
        try:
            ws = db.write_sync(lambda c: workspaces.create(c, "stats")).workspace_id
            for start in range(0, 3000, 500):
                ops = [
                    Identify(who=Identifier("id", f"p{n}"), attributes={"n": n})
                    for n in range(start, start + 500)
                ]
                db.write_sync(lambda c, ops=ops: apply(c, ws, ops))
            query = sa.text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'people'"
            )
            deadline = time.monotonic() + 40  # statistics reach pg_stat_* within ~10 s
            while not db.read_sync(lambda c: c.execute(query).scalar()):
                assert time.monotonic() < deadline, "people was never analyzed"
                time.sleep(0.2)
            assert "people" not in db.read_sync(pg_statistics.grown_tables)  # until it doubles
            assert "uq_people_workspace_id_external_id" in _generic_plan(db, ws)
        finally:
            db.close()
