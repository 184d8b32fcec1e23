"""``patron sync …``: run warehouse syncs and look into what they did (docs/sync.md)."""

from __future__ import annotations

import datetime
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click
from rich.table import Table

from patron.cli_support import stdout_console
from patron.domain.durations import parse_duration
from patron.domain.errors import InvalidInput
from patron.sync.config import Config, ConfigError, load, sync_names
from patron.sync.runner import Outcome, Runner
from patron.sync.state import State

out = stdout_console()

config_argument = click.argument(
    "config_file", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The config file (the state is kept beside it).",
)
state_option = click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="PATRON_SYNC_STATE",
    show_envvar=True,
    help="Folder of the sync state database (default: .patron-sync beside the config file).",
)


def _config(path: Path) -> Config:
    try:
        return load(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _names(path: Path) -> list[str]:
    """The syncs a config declares, without its ``${VAR}``s: the commands that only read the
    state send nothing, so they need no credentials."""
    try:
        return sync_names(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _state_dir(config_file: Path | None, state_dir: Path | None) -> Path:
    if state_dir is not None:
        return state_dir
    base = config_file.resolve().parent if config_file is not None else Path.cwd()
    return base / ".patron-sync"


def _state(config_file: Path | None, state_dir: Path | None) -> State:
    return State(_state_dir(config_file, state_dir))


def _known_sync(name: str, config_file: Path | None, state: State) -> None:
    """Refuse a sync name that neither the config declares nor the state has seen run."""
    declared = _names(config_file) if config_file is not None else []
    ran = state.sync_names()
    if name in declared or name in ran:
        return
    known = sorted(set(declared) | set(ran))
    raise click.ClickException(
        f"no sync named {name!r}"
        + (f" in {config_file}, and none" if config_file is not None else "")
        + f" has run with the state in {state.folder}"
        + (f" (known: {', '.join(known)})" if known else "")
    )


def _when(unix: int | None) -> str:
    if unix is None:
        return "-"
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def sync() -> None:
    """Keep Patron (or Customer.io) in step with SQL models, Hightouch-style."""


@sync.command("run")
@config_argument
@click.option("--dry-run", is_flag=True, help="Compute the difference; print counts and samples.")
@click.option("--full", is_flag=True, help="Send every row again, not only the difference.")
@click.option("--only", "only", multiple=True, help="Run only the syncs with these names.")
@click.option("--every", default=None, help="Keep running on a schedule, e.g. 15m or 1h.")
@state_option
def sync_run(
    config_file: Path,
    dry_run: bool,
    full: bool,
    only: tuple[str, ...],
    every: str | None,
    state_dir: Path | None,
) -> None:
    """Run the syncs CONFIG declares. Exits with status 1 when rows failed or a sync could not
    run."""
    interval = None
    if every is not None:
        try:
            interval = parse_duration(every, "--every")
        except InvalidInput as exc:
            raise click.ClickException(str(exc)) from exc
        if interval <= 0:
            raise click.ClickException("--every must be a positive duration")
    stop = _stop_on_signal() if interval is not None else None
    while True:
        config = _config(config_file)
        chosen = [s for s in config.syncs if not only or s.name in only]
        if only and len(chosen) != len(set(only)):
            missing = set(only) - {s.name for s in chosen}
            raise click.ClickException(f"no sync named {', '.join(sorted(missing))}")
        state = _state(config_file, state_dir)
        try:
            runner = Runner(state, config_file.resolve().parent)
            outcomes = [(s.name, runner.run(s, dry_run=dry_run, full=full)) for s in chosen]
        finally:
            state.close()
        _summary(outcomes, dry_run)
        bad = any(o.status in ("error", "failed_rows", "busy") for _, o in outcomes)
        if stop is None or stop.wait(interval):
            sys.exit(1 if bad else 0)


def _stop_on_signal() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM, so that ``--every`` ends between runs and a
    run in progress completes; a second signal stops at once.

    A plain KeyboardInterrupt is not enough: raised inside a weakref callback or ``__del__``,
    Python reports it as ignored and the loop carries on."""
    stop = threading.Event()

    def request(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("stopping after this run (again to stop now)", file=sys.stderr, flush=True)

    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, request)
    return stop


def _summary(outcomes: list[tuple[str, Outcome]], dry_run: bool) -> None:
    table = Table("sync", "rows", "added", "changed", "removed", "unchanged", "sent",
                  "failed", "requests", "status")  # fmt: skip
    for name, o in outcomes:
        c = o.counts
        table.add_row(name, str(c.rows), str(c.added), str(c.changed), str(c.removed),
                      str(c.unchanged), str(o.sent), str(o.failed),
                      str(o.requests), o.status)  # fmt: skip
    out.print(table)
    for name, o in outcomes:
        if o.error:
            out.print(f"[red]{name}: {o.error}[/red]")
        if dry_run:
            for sample in o.samples:
                out.print(f"{name} {sample['kind']} {sample['key']}: "
                          f"{json.dumps(sample['operation'] or sample['identifier'])}"
                          + (f" ({sample['error']})" if sample["error"] else ""))  # fmt: skip


@sync.command("status")
@click.argument(
    "config_file",
    metavar="[CONFIG]",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@state_option
def sync_status(config_file: Path | None, state_dir: Path | None) -> None:
    """Each sync's health, last run and failing rows: those CONFIG declares, or without it
    every sync in the state folder (default ./.patron-sync)."""
    state = _state(config_file, state_dir)
    try:
        names = _names(config_file) if config_file is not None else state.sync_names()
        table = Table("sync", "health", "last run", "finished", "status", "failing rows")
        for name in names:
            runs = state.runs(name, 1)
            last = runs[0] if runs else None
            table.add_row(
                name,
                state.sync_value(name, "health") or "never run",
                "-" if last is None else str(last["id"]),
                "-" if last is None else _when(last["finished_at"]),
                "-" if last is None else last["status"],
                str(len(state.failures(name))),
            )
        out.print(table)
    finally:
        state.close()


@sync.command("runs")
@click.argument("name")
@config_option
@state_option
@click.option("--limit", default=20, show_default=True, help="How many runs.")
def sync_runs(name: str, config_file: Path | None, state_dir: Path | None, limit: int) -> None:
    """The newest runs of sync NAME."""
    state = _state(config_file, state_dir)
    try:
        _known_sync(name, config_file, state)
        table = Table("run", "started", "finished", "status", "added", "changed", "removed",
                      "failed", "requests", "error")  # fmt: skip
        for r in state.runs(name, limit):
            table.add_row(str(r["id"]), _when(r["started_at"]), _when(r["finished_at"]),
                          r["status"], str(r["added"]), str(r["changed"]), str(r["removed"]),
                          str(r["failed"]), str(r["requests"]), r["error"] or "")  # fmt: skip
        out.print(table)
    finally:
        state.close()


@sync.command("debug")
@click.argument("name")
@click.option("--run", "run_id", type=int, default=None, help="Only this run's requests.")
@click.option("--row", "row_key", default=None, help="Only requests that carried this row key.")
@config_option
@state_option
@click.option("--limit", default=20, show_default=True, help="How many requests.")
def sync_debug(
    name: str,
    run_id: int | None,
    row_key: str | None,
    config_file: Path | None,
    state_dir: Path | None,
    limit: int,
) -> None:
    """What sync NAME sent, what came back, and why a row failed."""
    state = _state(config_file, state_dir)
    try:
        _known_sync(name, config_file, state)
        if run_id is not None and state.run_sync(run_id) != name:
            raise click.ClickException(f"sync {name!r} has no run {run_id}")
        if row_key is not None:
            failing = [f for f in state.failures(name) if f[0] == row_key]
            for key, kind, error, attempts in failing:
                out.print(f"row {key} ({kind}) is failing after {attempts} run(s): {error}")
            if not failing:
                out.print(f"row {row_key} is not failing")
        found = state.requests_for(name, run_id, row_key, limit)
        if not found:
            out.print("no requests recorded")
        for r in found:
            where = "" if r["position"] is None else f", position {r['position']}: {r['outcome']}"
            out.print(f"[bold]request {r['id']}[/bold] run {r['run_id']} attempt {r['attempt']} "
                      f"at {_when(r['at'])}{where}")  # fmt: skip
            out.print(f"  {r['method']} {r['url']}  →  {r['status']} in {r['duration_ms']:.0f} ms")
            out.print(f"  sent:     {r['body'][:2000]}", markup=False)
            out.print(f"  received: {r['response'][:2000]}", markup=False)
    finally:
        state.close()
