"""What every ``patron`` command shares: the database and workspace options, short writes,
printing mappings."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from rich.console import Console
from sqlalchemy.engine import Connection

from patron.domain.errors import InvalidInput, NotFound
from patron.settings import DEFAULT_DATABASE_URL
from patron.store import workspaces
from patron.store.database import Database
from patron.store.migrate import prepare

T = TypeVar("T")

database_option = click.option(
    "--database",
    "database_url",
    envvar="PATRON_DATABASE_URL",
    show_envvar=True,
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="Database URL: sqlite:///file.db or postgresql://user@host/db.",
)

log_level_option = click.option(
    "--log-level",
    envvar="PATRON_LOG_LEVEL",
    show_envvar=True,
    default="info",
    help="debug, info, warning or error.",
)

workspace_option = click.option(
    "--workspace",
    "workspace_name",
    envvar="PATRON_WORKSPACE",
    show_envvar=True,
    default="default",
    show_default=True,
    help="Name of the workspace to work in.",
)


def open_database(url: str) -> Database:
    """The database at ``url``, migrated first (as every command that opens one does)."""
    prepare(url)
    return Database(url, read_pool_size=1)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """A context in which a rule broken by the user's input becomes a clean CLI error."""
    try:
        yield
    except (InvalidInput, NotFound) as exc:
        raise click.ClickException(str(exc)) from exc


def write(url: str, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` in a write transaction; a user error becomes a clean CLI error."""
    db = open_database(url)
    try:
        with user_errors():
            return db.write_sync(fn)
    finally:
        db.close()


def workspace_id(db: Database, name: str) -> int:
    """The id of the workspace called ``name`` (a clean CLI error when there is none)."""
    with user_errors():
        return db.read_sync(lambda c: workspaces.id_of(c, name))


def stdout_console() -> Console:
    """Rich output on standard output; piped (scripts, CI logs) it gets whole tables and
    lines, not a guess at a terminal's width."""
    return Console() if sys.stdout.isatty() else Console(width=200, soft_wrap=True)


def echo_mapping(data: dict[str, Any], as_json: bool, show: Callable[[Any], str] = str) -> None:
    """Print ``data`` as one JSON object, or as aligned ``key value`` lines."""
    if as_json:
        click.echo(json.dumps(data))
        return
    for key, value in data.items():
        click.echo(f"{key:20} {show(value)}")
