"""``patron apply``: make a workspace match a document of its definitions (docs/apply.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from patron import workspace_apply
from patron.cli_support import (
    database_option,
    open_database,
    stdout_console,
    user_errors,
    workspace_id,
    workspace_option,
)


@click.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--prune", is_flag=True, help="Also delete entries the document leaves out.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
@workspace_option
@database_option
def apply_command(
    file: Path, dry_run: bool, prune: bool, as_json: bool, workspace_name: str, database_url: str
) -> None:
    """Create or update the segments, subscription topics and transactional messages FILE
    (YAML or JSON) declares. Applying the same file twice changes nothing."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from exc
    with user_errors():
        doc = workspace_apply.parse(workspace_apply.read_text(text))
    db = open_database(database_url)
    try:
        ws = workspace_id(db, workspace_name)
        with user_errors():
            outcomes = db.write_sync(
                lambda c: workspace_apply.apply(c, ws, doc, prune=prune, dry_run=dry_run)
            )
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "changes": [o.view() for o in outcomes]}))
        return
    table = Table("section", "id", "name", "action")
    for o in outcomes:
        table.add_row(o.section, "-" if o.id is None else str(o.id), o.name, o.action)
    stdout_console().print(table)
    if dry_run:
        click.echo("dry run: nothing was changed")
