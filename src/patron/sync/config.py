"""Sync configuration files (docs/sync.md): YAML, ``${VAR}`` from the environment, validated
into plain structs before anything is read or sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import msgspec

from patron.yaml_files import YamlError, expand_env, load_yaml

REGIONS = {
    "us": ("https://track.customer.io", "https://api.customer.io"),
    "eu": ("https://track-eu.customer.io", "https://api-eu.customer.io"),
}


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


class Source(msgspec.Struct, forbid_unknown_fields=True):
    """Where the model's rows come from: a SQLAlchemy URL and a query, or a file."""

    primary_key: str | list[str]
    url: str | None = None
    query: str | None = None
    file: str | None = None

    @property
    def key_columns(self) -> list[str]:
        """The primary-key columns, in order."""
        return [self.primary_key] if isinstance(self.primary_key, str) else list(self.primary_key)


class Destination(msgspec.Struct, forbid_unknown_fields=True):
    """Where operations go: Patron, or Customer.io itself (``region``)."""

    site_id: str
    track_api_key: str
    app_api_key: str | None = None
    track_url: str | None = None
    app_url: str | None = None
    region: Literal["us", "eu"] | None = None

    def urls(self) -> tuple[str, str]:
        """The Track API root and the App API root, without a trailing slash."""
        default_track, default_app = REGIONS[self.region or "us"]
        if self.region is None and self.track_url is None:
            raise ConfigError("destination needs track_url (and app_url) or region: us|eu")
        track = (self.track_url or default_track).rstrip("/")
        return track, (self.app_url or (default_app if self.region else track)).rstrip("/")


class Match(msgspec.Struct, forbid_unknown_fields=True):
    """Which column names the person a row is about, and as what."""

    column: str
    on: Literal["id", "email", "cio_id"] = "id"


class Anonymous(msgspec.Struct, forbid_unknown_fields=True):
    """A column of anonymous ids (events of people not identified yet)."""

    column: str


class EventSpec(msgspec.Struct, forbid_unknown_fields=True):
    """How rows become events."""

    id_column: str
    kind: Literal["event", "page", "screen"] = "event"
    name: str | None = None
    name_column: str | None = None
    timestamp_column: str | None = None


class SegmentSpec(msgspec.Struct, forbid_unknown_fields=True):
    """The manual segment rows are members of: an existing one by id, or one by name."""

    id: int | None = None
    name: str | None = None


class RelationshipSpec(msgspec.Struct, forbid_unknown_fields=True):
    """Each row's object is related to the person a column names."""

    column: str
    on: Literal["id", "email", "cio_id"] = "id"
    attributes: dict[str, str] = {}


class ObjectSpec(msgspec.Struct, forbid_unknown_fields=True):
    """How rows become objects."""

    type_id: str | int
    id_column: str
    relationships: RelationshipSpec | None = None


class Alerts(msgspec.Struct, forbid_unknown_fields=True):
    """Where to say that a sync changed state (Slack-compatible webhook)."""

    webhook: str
    failed_rows: int = 1


class Sync(msgspec.Struct, forbid_unknown_fields=True):
    """One sync: a model, a destination and what to make of the rows."""

    name: str
    source: Source
    destination: Destination
    type: Literal["customers", "events", "segments", "objects"]
    mode: Literal["upsert", "update", "insert"] | None = None
    match: Match | None = None
    anonymous: Anonymous | None = None
    mapping: dict[str, str] = {}
    on_delete: Literal["nothing", "clear_fields", "delete"] = "nothing"
    event: EventSpec | None = None
    segment: SegmentSpec | None = None
    object: ObjectSpec | None = None
    rate_limit: float = 100.0
    concurrency: int = 4
    max_attempts: int = 5
    alerts: Alerts | None = None
    keep_days: int = 7


class Config(msgspec.Struct, forbid_unknown_fields=True):
    """A config file: one or more syncs."""

    syncs: list[Sync]


def _check(sync: Sync) -> None:
    where = f"sync {sync.name!r}"
    source = sync.source
    if (source.file is None) == (source.url is None):
        raise ConfigError(f"{where}: source needs exactly one of url (with query) or file")
    if source.url is not None and not source.query:
        raise ConfigError(f"{where}: source.query is required with source.url")
    sync.destination.urls()
    if sync.rate_limit <= 0 or sync.concurrency < 1 or sync.max_attempts < 1:
        raise ConfigError(f"{where}: rate_limit, concurrency and max_attempts must be positive")
    modes = {"customers": ("upsert", "update"), "events": ("insert",), "segments": ("insert",),
             "objects": ("upsert",)}[sync.type]  # fmt: skip
    if sync.mode is not None and sync.mode not in modes:
        raise ConfigError(f"{where}: mode for {sync.type} is one of {', '.join(modes)}")
    needs_person = sync.type in ("customers", "segments") or (
        sync.type == "events" and sync.anonymous is None
    )
    if needs_person and sync.match is None:
        raise ConfigError(f"{where}: match: {{column, on}} is required for {sync.type}")
    if sync.type == "customers":
        if sync.on_delete == "delete" and sync.mode == "update":
            raise ConfigError(f"{where}: on_delete: delete needs mode upsert")
        if not sync.mapping and sync.on_delete == "clear_fields":
            raise ConfigError(f"{where}: on_delete: clear_fields needs a mapping")
    if sync.type == "events":
        event = sync.event
        if event is None:
            raise ConfigError(f"{where}: event: {{id_column, name or name_column}} is required")
        if (event.name is None) == (event.name_column is None):
            raise ConfigError(f"{where}: event needs exactly one of name or name_column")
        if sync.on_delete != "nothing":
            raise ConfigError(f"{where}: events are only inserted; on_delete must be nothing")
    if sync.type == "segments":
        if sync.segment is not None and sync.segment.id is not None and sync.segment.name:
            raise ConfigError(f"{where}: segment takes id or name, not both")
        if sync.destination.app_api_key is None and (
            sync.segment is None or sync.segment.id is None
        ):
            raise ConfigError(f"{where}: creating a segment by name needs app_api_key")
    if sync.type == "objects":
        if sync.object is None:
            raise ConfigError(f"{where}: object: {{type_id, id_column}} is required")
        if sync.on_delete == "clear_fields":
            raise ConfigError(f"{where}: on_delete for objects is nothing or delete")


def _read(path: Path) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YamlError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def sync_names(path: Path) -> list[str]:
    """The names of the syncs a config file declares, read without its ``${VAR}``s: for the
    commands that only look at the state (``status``, ``runs``, ``debug``), which send nothing
    and so need no credentials."""
    raw = _read(path)
    syncs = raw.get("syncs") if isinstance(raw, dict) else None
    if not isinstance(syncs, list) or not all(
        isinstance(s, dict) and isinstance(s.get("name"), str) for s in syncs
    ):
        raise ConfigError(f"{path}: syncs must be a list of syncs, each with a name")
    return [s["name"] for s in syncs]


def load(path: Path) -> Config:
    """Read and check a config file."""
    raw = _read(path)
    try:
        expanded = expand_env(raw, "config")
    except YamlError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        config = msgspec.convert(expanded, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    names = [s.name for s in config.syncs]
    if not names:
        raise ConfigError(f"{path}: syncs is empty")
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: sync names must be unique")
    for sync in config.syncs:
        _check(sync)
    return config
