"""Hot-path statements: SQLAlchemy Core, compiled once, executed without per-call overhead.

On the ingest path SQLAlchemy's per-execution bookkeeping costs several times what SQLite
itself spends on a statement (benchmarks/identify.py; docs/benchmarks.md). A
:class:`Prepared` statement is still written in Core, so one definition serves both
databases; on SQLite it is compiled once and run straight on the DBAPI cursor inside the
connection's current transaction, elsewhere it goes through ``Connection.execute`` as usual.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

Row = Sequence[Any]
Statement = sa.Select[Any] | sa.Insert | sa.Update | sa.Delete


class _Compiled:
    def __init__(self, statement: Statement, conn: Connection, keys: frozenset[str]) -> None:
        # Like Connection.execute, compile for the parameters actually given (an INSERT
        # names only those columns).
        compiled = statement.compile(dialect=conn.dialect, column_keys=sorted(keys))
        self.sql = compiled.string
        self.order = tuple(compiled.positiontup or ())
        self.fixed = {
            k: v for k, v in compiled.construct_params(_check=False).items() if k not in keys
        }


class Prepared:
    """One statement; ``json`` names the parameters that hold JSON values."""

    def __init__(self, statement: Statement, json: Iterable[str] = ()) -> None:
        self.statement = statement
        self.json = frozenset(json)
        self._compiled: dict[frozenset[str], _Compiled] = {}

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Row]:
        """Execute and return every row (as tuples, in the statement's column order)."""
        if conn.dialect.name != "sqlite":
            return [tuple(r) for r in conn.execute(self.statement, params)]
        return list(self._sqlite(conn, params).fetchall())

    def first(self, conn: Connection, params: dict[str, Any]) -> Row | None:
        """Execute and return the first row, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def run(self, conn: Connection, params: dict[str, Any]) -> int:
        """Execute for effect; returns the number of rows changed."""
        if conn.dialect.name != "sqlite":
            return int(conn.execute(self.statement, params).rowcount)
        return int(self._sqlite(conn, params).rowcount)

    def _sqlite(self, conn: Connection, params: dict[str, Any]) -> Any:
        keys = frozenset(params)
        compiled = self._compiled.get(keys)
        if compiled is None:
            compiled = self._compiled[keys] = _Compiled(self.statement, conn, keys)
        merged = {**compiled.fixed, **params}
        for name in self.json & keys:
            if merged[name] is not None:
                merged[name] = orjson.dumps(merged[name]).decode()
        values = tuple(merged[name] for name in compiled.order)
        sql = compiled.sql
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            return raw.execute(sql, values)
        except sqlite3.Error as exc:
            # The same exception classes as Connection.execute, so callers (and the writer's
            # retry on IntegrityError) see no difference.
            raise sa.exc.DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc


def json_value(value: Any) -> Any:
    """A JSON column's value from either path (text on raw SQLite, parsed elsewhere)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value
