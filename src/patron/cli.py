"""The ``patron`` command line. Every flag is also a ``PATRON_…`` environment variable."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
import msgspec

from patron import __version__
from patron.cli_support import (
    database_option,
    echo_mapping,
    log_level_option,
    open_database,
    write,
)
from patron.domain import clock
from patron.files import write_whole
from patron.settings import Settings
from patron.store import objects as objects_store
from patron.store import workspaces
from patron.store.database import Database
from patron.store.migrate import prepare


@click.group(context_settings={"auto_envvar_prefix": "PATRON", "show_default": True})
@click.version_option(__version__, prog_name="patron")
def main() -> None:
    """Patron: a self-hosted customer-data engine that speaks Customer.io's wire protocol."""


@main.command()
@database_option
def migrate(database_url: str) -> None:
    """Create or upgrade the database schema."""
    prepare(database_url)
    click.echo("database is up to date")


@main.command()
@click.option(
    "--host",
    envvar="PATRON_HOST",
    show_envvar=True,
    default="127.0.0.1",
    help="Interface to listen on.",
)
@click.option(
    "--port", envvar="PATRON_PORT", show_envvar=True, default=8080, type=int, help="TCP port."
)
@database_option
@click.option(
    "--credentials-file",
    envvar="PATRON_CREDENTIALS_FILE",
    show_envvar=True,
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the default workspace's keys in this file (mode 0600) to print them on every start.",
)
@log_level_option
@click.option(
    "--dev",
    envvar="PATRON_DEV",
    show_envvar=True,
    is_flag=True,
    help="Serve the /__patron control plane: reset, snapshots, clock, faults, request log.",
)
@click.option(
    "--enforce-limits",
    envvar="PATRON_ENFORCE_LIMITS",
    show_envvar=True,
    type=click.Choice(["customerio"]),
    default=None,
    help="Answer 429 past a provider's published rate limits, per workspace.",
)
@click.option(
    "--https",
    envvar="PATRON_HTTPS",
    show_envvar=True,
    is_flag=True,
    help="Serve TLS with a local CA kept in the data directory (prints the CA bundle path).",
)
@click.option(
    "--data-dir",
    envvar="PATRON_DATA_DIR",
    show_envvar=True,
    default=".patron",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for Patron's own files (local CA and certificate).",
)
def serve(
    host: str,
    port: int,
    database_url: str,
    credentials_file: Path | None,
    log_level: str,
    dev: bool,
    enforce_limits: str | None,
    https: bool,
    data_dir: Path,
) -> None:
    """Migrate the database if needed and serve every API on one port."""
    import uvicorn

    from patron.app import create_app, open_database

    settings = Settings.from_env(
        host=host,
        port=port,
        database_url=database_url,
        log_level=log_level,
        dev=dev,
        enforce_limits=enforce_limits,
        https=https,
        data_dir=str(data_dir),
    )
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    prepare(settings.database_url)
    db = open_database(settings)
    creds = _default_credentials(db, credentials_file)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    tls_options: dict[str, str] = {}
    ca_bundle = None
    if https:
        from patron.tls import ensure_certificates

        files = ensure_certificates(data_dir, host)
        tls_options = {"ssl_certfile": str(files.cert_chain), "ssl_keyfile": str(files.key)}
        ca_bundle = files.ca_bundle.resolve()
    base = f"{'https' if https else 'http'}://{shown_host}:{port}"
    _print_banner(base, creds, db, settings, ca_bundle)
    # The app closes the database as it shuts down: uvicorn re-raises the SIGTERM it caught
    # once it has shut down, which ends the process before the ``finally`` below runs.
    app = create_app(settings, db, close_db=True)
    _quiet_gc()
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=log_level == "debug",
            proxy_headers=False,
            **tls_options,  # type: ignore[arg-type]
        )
    finally:
        db.close()


@main.command()
@database_option
@log_level_option
def worker(database_url: str, log_level: str) -> None:
    """Run the background workers (segments, exports, journeys, the sender) without serving
    HTTP.

    For deployments of several processes on PostgreSQL: run `patron serve` with
    PATRON_SEGMENT_WORKER=0, PATRON_EXPORT_WORKER=0, PATRON_JOURNEY_WORKER=0 and
    PATRON_SENDER_WORKER=0, and one or
    more `patron worker`s.
    Workers in other processes see new writes on their next tick (PATRON_SEGMENT_TICK).
    """
    import asyncio
    import signal

    from patron.worker.exports import ExportWorker
    from patron.worker.journeys import JourneyWorker
    from patron.worker.segments import SegmentWorker
    from patron.worker.sender import SenderWorker

    settings = Settings.from_env(database_url=database_url, log_level=log_level)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    prepare(settings.database_url)
    db = Database(
        settings.database_url,
        read_pool_size=settings.read_pool_size,
        sqlite_wal_limit=settings.sqlite_wal_limit * 1024 * 1024,
    )

    async def run() -> None:
        segment_worker = SegmentWorker.from_settings(db, settings)
        export_worker = ExportWorker.from_settings(db, settings)
        sender = SenderWorker.from_settings(db, settings)
        journeys = JourneyWorker.from_settings(db, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        segment_worker.start()
        export_worker.start()
        sender.start()
        await journeys.prepare()
        journeys.start()

        def after_commit() -> None:
            segment_worker.poke()
            journeys.poke()

        db.after_commit = after_commit
        click.echo(
            f"Patron worker on {db.url.split('@')[-1]}: segments, exports, journeys and sending",
            err=True,
        )
        await stop.wait()
        db.after_commit = None
        await segment_worker.stop()
        await export_worker.stop()
        await journeys.stop()
        await sender.stop()

    try:
        asyncio.run(run())
    finally:
        db.close()


def _quiet_gc() -> None:
    """Fewer, shorter garbage-collector pauses while serving (they show in p99 latency):
    what startup built is never garbage, so freeze it out of every later collection, and
    collect the young generation less often (requests make many short-lived objects)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def _default_credentials(db: Database, path: Path | None) -> workspaces.Credentials | None:
    """Create the ``default`` workspace on an empty database; reuse keys saved in ``path``."""
    if db.read_sync(workspaces.count) == 0:
        creds = db.write_sync(lambda c: workspaces.create(c, "default"))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, msgspec.json.encode(creds))
        return creds
    if path is None or not path.exists():
        return None
    try:
        saved = msgspec.json.decode(path.read_bytes(), type=workspaces.Credentials)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    ok = saved.track_api_key is not None and db.read_sync(
        lambda c: workspaces.by_track_credentials(c, saved.site_id, saved.track_api_key or "")
    )
    return saved if ok else None


def _print_banner(
    base: str,
    creds: workspaces.Credentials | None,
    db: Database,
    settings: Settings,
    ca_bundle: Path | None,
) -> None:
    click.echo(f"Patron {__version__} on {base}  (database: {db.url.split('@')[-1]})")
    click.echo(f"  Track API     {base}/api/v1   (v2: {base}/api/v2)")
    click.echo(f"  App API       {base}/v1")
    click.echo(f"  Pipelines     {base}/v1   (identify, track, page, screen, group, alias, batch)")
    click.echo(f"  Health        {base}/healthz")
    if settings.dev:
        click.echo(f"  Dev control   {base}/__patron   (App API key; docs/dev-mode.md)")
    if settings.enforce_limits:
        click.echo(f"  Rate limits   {settings.enforce_limits}'s, per workspace (429 past them)")
    if ca_bundle is not None:
        click.echo(f"  CA bundle     {ca_bundle}")
        click.echo(f"  (Python)      export REQUESTS_CA_BUNDLE={ca_bundle}")
        click.echo(f"  (Node)        export NODE_EXTRA_CA_CERTS={ca_bundle}")
    if creds is None:
        click.echo(
            "\nKeys are shown once, when a workspace is created. List workspaces with "
            "`patron workspace list`; get new keys with `patron workspace rotate-keys NAME`."
        )
        return
    host, _, port = base.partition("://")[2].rpartition(":")
    # host and port always: batch() builds its URL from them, never from base_url.
    python_track = (
        f'cio = CustomerIO("{creds.site_id}", "{creds.track_api_key}", host="{host}", port={port})'
    )
    if ca_bundle is None:
        python_track += (
            f'\n    cio.base_url = "{base}/api/v1"   # plain http; batch() needs --https (README)'
        )
    click.echo(f"\nWorkspace '{creds.name}' (id {creds.workspace_id})")
    click.echo(f"  site id              {creds.site_id}")
    click.echo(f"  Track API key        {creds.track_api_key}")
    click.echo(f"  App API key          {creds.app_api_key}")
    click.echo(f"  Pipelines write key  {creds.pipelines_write_key}")
    click.echo(
        f"""
Python (pip install customerio):
    from customerio import CustomerIO
    {python_track}
    # App API reads: any HTTP client, header "Authorization: Bearer {creds.app_api_key}",
    # e.g. GET {base}/v1/customers/ID/attributes

Node (npm install customerio-node@5):
    const {{ TrackClient, APIClient }} = require("customerio-node");
    const cio = new TrackClient("{creds.site_id}", "{creds.track_api_key}",
                                {{ url: "{base}/api/v1" }});
    const api = new APIClient("{creds.app_api_key}", {{ url: "{base}/v1" }});

Data Pipelines (pip install customerio-cdp-analytics):
    from customerio.analytics import Client
    analytics = Client("{creds.pipelines_write_key}", host="{base}")
"""
    )


@main.group()
def workspace() -> None:
    """Create, list and re-key workspaces."""


def _emit(creds: workspaces.Credentials, as_json: bool) -> None:
    data: dict[str, Any] = msgspec.to_builtins(creds)
    echo_mapping({k: v for k, v in data.items() if v is not None}, as_json)


@workspace.command("create")
@click.argument("name")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def workspace_create(name: str, database_url: str, as_json: bool) -> None:
    """Create a workspace and print its credentials (shown only this once)."""
    _emit(write(database_url, lambda c: workspaces.create(c, name)), as_json)


@workspace.command("list")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def workspace_list(database_url: str, as_json: bool) -> None:
    """List workspaces (no secrets)."""
    db = open_database(database_url)
    try:
        rows = db.read_sync(workspaces.list_all)
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(rows)))
        return
    for w in rows:
        click.echo(f"{w.id:>4}  {w.name:30} site_id={w.site_id}")


@workspace.command("rotate-keys")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(workspaces.KEY_KINDS),
    default=None,
    help="Rotate only this key (default: all three).",
)
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def workspace_rotate(name: str, kind: str | None, database_url: str, as_json: bool) -> None:
    """Replace a workspace's keys and print the new ones."""
    kinds = workspaces.KEY_KINDS if kind is None else (kind,)
    _emit(write(database_url, lambda c: workspaces.rotate(c, name, kinds)), as_json)  # type: ignore[arg-type]


@workspace.command("settings")
@click.argument("name")
@click.option(
    "--phone-identifiers/--no-phone-identifiers",
    default=None,
    help="Allow people to be addressed by phone (E.164).",
)
@click.option(
    "--object-types",
    type=click.Choice(["auto", "strict"]),
    default=None,
    help="auto: create unknown object types on first use; strict: reject them.",
)
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def workspace_settings(
    name: str,
    phone_identifiers: bool | None,
    object_types: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """Show a workspace's settings, changing those given."""
    changes: dict[str, Any] = {}
    if phone_identifiers is not None:
        changes["phone_identifiers"] = phone_identifiers
    if object_types is not None:
        changes["object_types"] = object_types
    settings = write(database_url, lambda c: workspaces.change_settings(c, name, **changes))
    echo_mapping(msgspec.to_builtins(settings), as_json, json.dumps)


@workspace.command("object-type")
@click.argument("name")
@click.argument("type_id", type=click.IntRange(1, 2**31 - 1))
@click.argument("type_name")
@database_option
def workspace_object_type(name: str, type_id: int, type_name: str, database_url: str) -> None:
    """Create object type TYPE_ID called TYPE_NAME in workspace NAME (or rename it)."""
    write(
        database_url,
        lambda c: objects_store.name_type(
            c, workspaces.id_of(c, name), type_id, type_name, clock.now()
        ),
    )
    click.echo(f"object type {type_id} is {type_name!r} in workspace {name!r}")


def _register() -> None:
    from patron.cli_apply import apply_command
    from patron.cli_people import export_group, import_group, segment
    from patron.cli_sync import sync

    for group in (segment, import_group, export_group, sync, apply_command):
        main.add_command(group)


_register()
