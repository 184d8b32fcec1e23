"""``patron segment …``, ``patron import people`` and ``patron export people``: files in and out.

Every row goes through the same write path as the APIs (``store/apply/``); membership
changes go through the same store functions as Track v1's ``add_customers``.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import Connection

from patron import workspace_apply
from patron.api.app_segments import Definition
from patron.cli_support import (
    database_option,
    open_database,
    stdout_console,
    user_errors,
    workspace_id,
    workspace_option,
)
from patron.domain import clock, conditions, people_import
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import KINDS, check_value
from patron.domain.operations import Operation
from patron.store import people, people_export, segments
from patron.store.apply import apply_each
from patron.store.database import Database
from patron.yaml_files import YamlError, load_yaml

ROWS_PER_WRITE = 500
stderr = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )


def _data_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and data rows of a UTF-8 CSV file (a leading BOM is allowed)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise click.ClickException(f"{path} is empty")
            return header, [row for row in reader if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise click.ClickException(f"{path} is not a UTF-8 CSV file: {exc}") from exc


def _chunks(items: list[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


# -- segments ----------------------------------------------------------------------------------


@click.group()
def segment() -> None:
    """Manual segment membership from files, and segments as code."""


def _manual_segment(conn: Connection, ws: int, ref: str) -> segments.Segment:
    found = (
        segments.get(conn, ws, int(ref))
        if ref.isascii() and ref.isdigit() and 0 < int(ref) < 2**31
        else None
    )
    if found is None:
        named = segments.by_name(conn, ws, ref)
        if len(named) > 1:
            raise InvalidInput(f"{len(named)} segments are called {ref!r}; give the id instead")
        found = named[0] if named else None
    if found is None:
        raise InvalidInput(f"no segment {ref!r} (give its id or name)")
    if found.type != segments.MANUAL:
        raise InvalidInput(f"segment {found.id} is data-driven; only manual segments take files")
    return found


@segment.command("import")
@click.argument("segment_ref", metavar="SEGMENT")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--replace/--add",
    default=True,
    help="Make the file's people the only members (default), or add them to the members.",
)
@click.option(
    "--id-type",
    type=click.Choice(KINDS),
    default=None,
    help="What the identifiers are (default: the column's name, id, email or cio_id).",
)
@workspace_option
@database_option
def segment_import(
    segment_ref: str,
    file: Path,
    replace: bool,
    id_type: str | None,
    workspace_name: str,
    database_url: str,
) -> None:
    """Set or extend a manual SEGMENT's (id or name) members from a CSV of identifiers."""
    header, rows = _data_rows(file)
    names = [h.strip() for h in header]
    column = next((n for n in (id_type, *KINDS) if n is not None and n in names), None)
    if column is None and len(names) == 1:
        # A one-column file without a known header: the header is an identifier too.
        column, rows = names[0], [header, *rows]
    if column is None:
        raise click.ClickException("the file needs an id, email or cio_id column")
    kind = id_type or (column if column in KINDS else "id")
    position = names.index(column) if column in names else 0
    values = [row[position].strip() for row in rows if len(row) > position]
    db = open_database(database_url)
    try:
        ws = workspace_id(db, workspace_name)
        with user_errors():
            target = db.read_sync(lambda c: _manual_segment(c, ws, segment_ref))
            keys = _resolve(db, ws, kind, [v for v in values if v])
            entered, exited = db.write_sync(lambda c: _change_members(c, target, keys, replace))
    finally:
        db.close()
    click.echo(
        f"segment {target.id} ({target.name}): {len(keys)} of {len(values)} identifiers matched "
        f"people; {entered} entered, {exited} left"
    )


def _resolve(db: Database, ws: int, kind: str, values: list[str]) -> list[int]:
    keys: set[int] = set()
    with _progress() as progress:
        task = progress.add_task("matching people", total=len(values))
        for _, chunk in _chunks(values, 1000):
            checked = [check_value(v, kind) for v in chunk]
            found = db.read_sync(lambda c, vs=checked: people.find_many(c, ws, kind, vs))  # type: ignore[misc]
            keys.update(p.pk for p in found)
            progress.advance(task, len(chunk))
    return sorted(keys)


def _change_members(
    conn: Connection, target: segments.Segment, keys: list[int], replace: bool
) -> tuple[int, int]:
    current = segments.get(conn, target.ws, target.id, lock=True)
    if current is None:
        raise InvalidInput(f"segment {target.id} was deleted meanwhile")
    now = clock.now(target.ws)
    if replace:
        return segments.replace(conn, current, keys, now)
    before = segments.count(conn, current.id)
    segments.add(conn, current, keys, now)
    return segments.count(conn, current.id) - before, 0


@segment.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@workspace_option
@database_option
def segment_apply(file: Path, dry_run: bool, workspace_name: str, database_url: str) -> None:
    """Create or update the segments a YAML file declares, matched by name (the `segments:`
    section of `patron apply`, which this command predates)."""
    specs = _segment_specs(file)
    db = open_database(database_url)
    try:
        ws = workspace_id(db, workspace_name)
        with user_errors():
            outcomes = db.write_sync(
                lambda c: workspace_apply.apply_segments(c, ws, specs, dry_run=dry_run)
            )
    finally:
        db.close()
    table = Table("segment", "id", "type", "outcome")
    for spec, outcome in zip(specs, outcomes, strict=True):
        kind = segments.MANUAL if spec.conditions is None else segments.DYNAMIC
        table.add_row(
            spec.name, "-" if outcome.id is None else str(outcome.id), kind, outcome.action
        )
    stdout_console().print(table)
    if dry_run:
        click.echo("dry run: nothing was changed")


def _segment_specs(file: Path) -> list[Definition]:
    try:
        loaded = load_yaml(file.read_text(encoding="utf-8"))
    except (YamlError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file} is not valid YAML: {exc}") from exc
    items = loaded.get("segments") if isinstance(loaded, dict) else None
    if not isinstance(items, list) or not items:
        raise click.ClickException(f"{file} must hold `segments:`, a list of segments")
    with user_errors():
        specs = workspace_apply.parse({"segments": items}).segments
    assert specs is not None
    return specs


# -- people ------------------------------------------------------------------------------------


@click.group("import")
def import_group() -> None:
    """Bring data in from files (through the same write path as the APIs)."""


@import_group.command("people")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--match",
    type=click.Choice(people_import.MATCH_COLUMNS),
    default=None,
    help="The column that names people (default: id, else email, else cio_id).",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write every rejected row, with its line number and reason, to this CSV.",
)
@workspace_option
@database_option
def import_people(
    file: Path, match: str | None, rejects: Path | None, workspace_name: str, database_url: str
) -> None:
    """Create or update people from a CSV with a header row: one row a person, one column an
    attribute. Exits with status 1 when some rows were rejected."""
    header, rows = _data_rows(file)
    with user_errors():
        column = people_import.match_column(header, match)
    rejected: list[tuple[int, str]] = []
    db = open_database(database_url)
    try:
        ws = workspace_id(db, workspace_name)
        with _progress() as progress:
            task = progress.add_task("importing people", total=len(rows))
            for start, chunk in _chunks(rows, ROWS_PER_WRITE):
                ops: list[Operation] = []
                lines: list[int] = []
                for offset, row in enumerate(chunk):
                    line = start + offset + 2  # 1-based, after the header
                    try:
                        ops.append(people_import.row_operation(header, row, column))
                        lines.append(line)
                    except InvalidInput as exc:
                        rejected.append((line, str(exc)))
                failures = db.write_sync(lambda c, ops=ops: apply_each(c, ws, ops))  # type: ignore[misc]
                rejected += [(lines[i], str(exc)) for i, exc in failures.items()]
                progress.advance(task, len(chunk))
    finally:
        db.close()
    rejected.sort()
    click.echo(
        f"{len(rows) - len(rejected)} of {len(rows)} rows imported, {len(rejected)} rejected"
    )
    if rejected:
        table = Table("line", "reason")
        for line, reason in rejected[:20]:
            table.add_row(str(line), reason)
        stderr.print(table)
        if len(rejected) > 20:
            stderr.print(
                f"… and {len(rejected) - 20} more" + ("" if rejects else " (see --rejects)")
            )
    if rejects is not None:
        with rejects.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["line", "reason"])
            writer.writerows(rejected)
    if rejected:
        sys.exit(1)


@click.group("export")
def export_group() -> None:
    """Write data out to files."""


@export_group.command("people")
@click.option(
    "--segment",
    "segment_id",
    type=click.IntRange(1),
    default=None,
    help="Only this segment's members.",
)
@click.option(
    "--filter",
    "filter_json",
    default=None,
    help="Only people matching this filter (JSON, as for POST /v1/customers), e.g. "
    '\'{"attribute":{"field":"plan","operator":"eq","value":"pro"}}\'.',
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the CSV here (default: standard output).",
)
@workspace_option
@database_option
def export_people(
    segment_id: int | None,
    filter_json: str | None,
    out: Path | None,
    workspace_name: str,
    database_url: str,
) -> None:
    """Write people as CSV: one row a person, one column an attribute (values as the App API
    shows them)."""
    condition = _export_condition(segment_id, filter_json)
    db = open_database(database_url)
    try:
        ws = workspace_id(db, workspace_name)
        now = clock.now(ws)
        with user_errors():
            if (
                segment_id is not None
                and db.read_sync(lambda c: segments.get(c, ws, segment_id)) is None
            ):
                raise InvalidInput(f"no segment {segment_id}")
            if out is None:
                written = _export(db, ws, condition, now, sys.stdout.buffer, None)
            else:
                with _progress() as progress, out.open("wb") as handle:
                    task = progress.add_task("exporting people", total=None)

                    def advance(done: int, total: int) -> None:
                        progress.update(task, completed=done, total=total)

                    written = _export(db, ws, condition, now, handle, advance)
    finally:
        db.close()
    if out is not None:
        click.echo(f"{written} people written to {out}")


def _export_condition(
    segment_id: int | None, filter_json: str | None
) -> conditions.Condition | None:
    parts: list[Any] = []
    if segment_id is not None:
        parts.append({"segment": {"id": segment_id}})
    if filter_json is not None:
        try:
            parts.append(json.loads(filter_json))
        except ValueError as exc:
            raise click.ClickException(f"--filter is not valid JSON: {exc}") from exc
    if not parts:
        return None
    with user_errors():
        return conditions.parse(parts[0] if len(parts) == 1 else {"and": parts}, "filter")


def _export(
    db: Database,
    ws: int,
    condition: conditions.Condition | None,
    now: int,
    sink: people_export.Sink,
    advance: people_export.Progress | None,
) -> int:
    # One read transaction: the file is one consistent picture of the workspace.
    return db.read_sync(lambda c: people_export.write_csv(c, ws, condition, now, sink, advance))
