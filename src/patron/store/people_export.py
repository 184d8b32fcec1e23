"""People as CSV: one row per person, one column per attribute (exports and the CLI).

Columns are ``id``, ``email``, ``cio_id`` (and ``phone`` when anyone has one), then every
attribute any exported person has, in name order; values are the App API's strings. Since the
columns are known only once every person has been read, rows are first spooled to a temporary
file (compact JSON lines), then written out as CSV: memory stays flat however many people match.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from typing import Protocol

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.conditions import Condition
from patron.domain.values import to_wire
from patron.store import people, segment_sql
from patron.store.prepared import chunks
from patron.store.schema import people as people_table

PAGE = 1000
IDENTIFIER_COLUMNS = ("id", "email", "cio_id")

# Called as rows are written: (rows so far, rows in all).
Progress = Callable[[int, int], None]


class Sink(Protocol):
    """Where CSV bytes go: a file opened for binary writing, a gzip stream, a buffer."""

    def write(self, data: bytes, /) -> int: ...


def _people(
    conn: Connection, ws: int, condition: Condition | None, now: int
) -> tuple[int, Iterator[list[people.Person]]]:
    """How many people match, and the people in pages."""
    if condition is None:
        query = sa.select(sa.func.count()).where(people_table.c.workspace_id == ws)
        return int(conn.execute(query).scalar_one()), _everyone(conn, ws)
    # One query for every matching key (a repeated paged query would rerun the condition).
    query = segment_sql.matching(conn.dialect.name, ws, condition, now)
    keys = list(conn.execute(query).scalars())
    pages = (people.with_keys(conn, ws, page) for page in chunks(keys, PAGE))
    return len(keys), pages


def _everyone(conn: Connection, ws: int) -> Iterator[list[people.Person]]:
    after = 0
    while batch := people.page(conn, ws, after, PAGE):
        yield batch
        after = batch[-1].pk


def write_csv(
    conn: Connection,
    ws: int,
    condition: Condition | None,
    now: int,
    out: Sink,
    progress: Progress | None = None,
) -> int:
    """Write the matching people to ``out`` as UTF-8 CSV; returns how many rows."""
    columns: set[str] = set()
    any_phone = False
    total = 0
    encoder = msgspec.json.Encoder()
    matching, pages = _people(conn, ws, condition, now)
    with tempfile.TemporaryFile() as spool:
        for batch in pages:
            for person in batch:
                values = {k: to_wire(v) for k, v in person.attributes.items()}
                columns.update(values)
                any_phone = any_phone or person.phone is not None
                row = [person.id, person.email, person.cio_id, person.phone, values]
                spool.write(encoder.encode(row) + b"\n")
            total += len(batch)
            if progress is not None:
                progress(total, matching)
        spool.seek(0)
        fixed = [*IDENTIFIER_COLUMNS, *(["phone"] if any_phone else [])]
        names = sorted(columns - set(fixed) - {"phone"})
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow([*fixed, *names])
        decoder = msgspec.json.Decoder()
        for number, line in enumerate(spool, 1):
            external_id, email, cio_id, phone, values = decoder.decode(line)
            head = [external_id, email, cio_id, *([phone] if any_phone else [])]
            writer.writerow([*head, *(values.get(n) for n in names)])
            if number % PAGE == 0:
                _flush(text, out)
        _flush(text, out)
    return total


def _flush(text: io.StringIO, out: Sink) -> None:
    out.write(text.getvalue().encode())
    text.seek(0)
    text.truncate()
