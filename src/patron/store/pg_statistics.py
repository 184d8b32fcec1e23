"""Planner statistics for young PostgreSQL tables.

Autovacuum analyzes a table once a tenth of it has changed, but only on its next round (a
minute by default). A table that grows from empty faster than that is planned as if it were
nearly empty, and psycopg's prepared statements keep such a plan: the write path's
``key = ANY(:keys)`` lookups then scanned the whole workspace instead of using the key's
index, slower with every row (docs/benchmarks.md). Analyzing each table whenever it has at
least doubled since its last analysis keeps the plans right at a logarithmic cost.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Below this many changes a table is not worth analyzing again.
MIN_CHANGES = 1000

_GROWN = sa.text(
    """
    SELECT s.relname
    FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid
    WHERE s.schemaname = current_schema()
      AND s.n_mod_since_analyze >= GREATEST(:least, c.reltuples)
    ORDER BY s.relname
    """
)


def grown_tables(conn: Connection) -> list[str]:
    """Tables changed by at least as many rows as they held when last analyzed."""
    return list(conn.execute(_GROWN, {"least": MIN_CHANGES}).scalars())


def analyze_grown(conn: Connection) -> list[str]:
    """``ANALYZE`` every grown table; returns their names."""
    grown = grown_tables(conn)
    for name in grown:
        conn.exec_driver_sql(f'ANALYZE "{name}"')
    return grown
