"""Hot-path statements: SQLAlchemy Core, compiled once, executed without per-call overhead.

On the ingest path SQLAlchemy's per-execution bookkeeping costs several times what SQLite
itself spends on a statement (benchmarks/identify.py; docs/benchmarks.md). A
:class:`Prepared` statement is still written in Core, so one definition serves both
databases; on SQLite it is compiled once and run straight on the DBAPI cursor inside the
connection's current transaction, elsewhere it goes through ``Connection.execute`` as usual.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Connection

from patron import json_codec

Row = Sequence[Any]
Statement = sa.Select[Any] | sa.Insert | sa.Update | sa.Delete
T = TypeVar("T")
IN_CHUNK = 500  # values per IN (…) list


_NAMED = SQLiteDialect_pysqlite(paramstyle="named")


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
        self._statement = statement
        self._keys = keys

    @functools.cached_property
    def named_sql(self) -> str:
        """The same statement with named placeholders, for executemany over dicts: sqlite3
        binds each row's values by name in C, with no reordering in Python."""
        compiled = self._statement.compile(dialect=_NAMED, column_keys=sorted(self._keys))
        return compiled.string


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

    def run_many(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Execute once per row (``executemany``); every row names the same parameters.

        On SQLite the rows' JSON values are replaced by their text, in place.
        """
        if not rows:
            return
        if conn.dialect.name != "sqlite":
            conn.execute(self.statement, list(rows))
            return
        compiled = self._compile(conn, frozenset(rows[0]))
        if compiled.fixed:
            rows = [{**compiled.fixed, **row} for row in rows]
        json_keys = self.json.intersection(rows[0])
        for row in rows:
            for key in json_keys:
                if row[key] is not None:
                    row[key] = json_codec.dumps_text(row[key])
        self._call(conn, compiled.named_sql, rows, many=True)

    def _compile(self, conn: Connection, keys: frozenset[str]) -> _Compiled:
        compiled = self._compiled.get(keys)
        if compiled is None:
            compiled = self._compiled[keys] = _Compiled(self.statement, conn, keys)
        return compiled

    def _values(self, compiled: _Compiled, params: dict[str, Any]) -> tuple[Any, ...]:
        merged = {**compiled.fixed, **params}
        for name in self.json.intersection(params):
            if merged[name] is not None:
                merged[name] = json_codec.dumps_text(merged[name])
        return tuple(merged[name] for name in compiled.order)

    def _sqlite(self, conn: Connection, params: dict[str, Any]) -> Any:
        compiled = self._compile(conn, frozenset(params))
        return self._call(conn, compiled.sql, self._values(compiled, params), many=False)

    @staticmethod
    def _call(conn: Connection, sql: str, values: Any, *, many: bool) -> Any:
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            return raw.executemany(sql, values) if many else raw.execute(sql, values)
        except sqlite3.Error as exc:
            # The same exception classes as Connection.execute, so callers (and the writer's
            # retry on IntegrityError) see no difference.
            raise sa.exc.DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc


def one_of(column: sa.ColumnElement[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column IN (…)`` with the whole list as one parameter ``name`` (so that the statement
    compiles once, whatever the list's length): a JSON array read with ``json_each`` on
    SQLite (declare ``name`` in the :class:`Prepared` statement's ``json``), an array on
    PostgreSQL."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    listed: sa.Select[Any] = sa.select(sa.column("value")).select_from(
        sa.func.json_each(sa.bindparam(name))
    )
    return column.in_(listed)


def json_value(value: Any) -> Any:
    """A JSON column's value from either path (text on raw SQLite, parsed elsewhere)."""
    return json_codec.loads(value) if isinstance(value, str | bytes) else value


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (for IN lists and bounded statements)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
