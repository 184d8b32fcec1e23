"""Reading a model's rows: any SQLAlchemy URL and a query, or a CSV/Parquet file.

Rows stream (server-side cursors where the driver has them), so a model of millions of rows
never sits in memory at once. Files are read through DuckDB when it is installed
(``pip install 'patron[duckdb]'``); CSV files also without it. CSV cells are text either way
(empty cells are NULL).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from patron.sync.config import ConfigError, Source

Row = dict[str, Any]
CHUNK = 5000


def rows(source: Source, base: Path) -> Iterator[Row]:
    """Every row of the model, as ``column → value``; relative file paths and SQLite URLs are
    read relative to ``base`` (the config file's folder)."""
    if source.file is not None:
        yield from _file_rows(_relative(source.file, base))
        return
    assert source.url is not None and source.query is not None
    yield from _query_rows(_relative_url(source.url, base), source.query)


def _relative(name: str, base: Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else base / path


def _relative_url(url: str, base: Path) -> str:
    parsed = sa.engine.make_url(url)
    database = parsed.database
    local = parsed.get_backend_name() in ("sqlite", "duckdb")
    if local and database and database != ":memory:" and not Path(database).is_absolute():
        return parsed.set(database=str(base / database)).render_as_string(hide_password=False)
    return url


def _query_rows(url: str, query: str) -> Iterator[Row]:
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"source.url cannot be opened: {exc}") from exc
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(
                sa.text(query)
            )
            columns = list(result.keys())
            for values in result:
                yield dict(zip(columns, values, strict=True))
    except sa.exc.SQLAlchemyError as exc:
        raise ConfigError(f"source query failed: {exc}") from exc
    finally:
        engine.dispose()


def _file_rows(path: Path) -> Iterator[Row]:
    if not path.exists():
        raise ConfigError(f"source.file {path} does not exist")
    try:
        import duckdb
    except ImportError:
        if path.suffix.lower() != ".csv":
            raise ConfigError(
                f"reading {path.suffix} files needs DuckDB: pip install 'patron[duckdb]'"
            ) from None
        yield from _csv_rows(path)
        return
    # CSV cells are read as text, as without DuckDB: guessing types would turn an id such as
    # "00123" into the number 123. Parquet columns carry their types.
    if path.suffix.lower() == ".parquet":
        query = "SELECT * FROM read_parquet(?)"
    else:
        query = "SELECT * FROM read_csv(?, header = true, all_varchar = true)"
    conn = duckdb.connect()
    try:
        result = conn.execute(query, [str(path)])
        columns = [d[0] for d in result.description]
        while batch := result.fetchmany(CHUNK):
            for values in batch:
                yield dict(zip(columns, values, strict=True))
    except duckdb.Error as exc:
        raise ConfigError(f"source.file {path} cannot be read: {exc}") from exc
    finally:
        conn.close()


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for record in csv.DictReader(handle):
            yield {k: (v if v != "" else None) for k, v in record.items()}
