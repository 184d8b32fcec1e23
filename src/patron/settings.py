"""Every Patron setting, declared once: name, default, environment variable and help."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///patron.db"


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Each field is settable as ``PATRON_<NAME>`` in the environment."""

    database_url: str = _setting(
        DEFAULT_DATABASE_URL,
        "SQLAlchemy URL of the database: sqlite:///file.db or postgresql://user@host/db.",
    )
    host: str = _setting("127.0.0.1", "Interface the HTTP server listens on.")
    port: int = _setting(8080, "TCP port the HTTP server listens on.")
    public_url: str = _setting(
        "", "Base URL reported by /api/v1/accounts/region (default: the URL the request used)."
    )
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")
    write_batch_size: int = _setting(256, "Most requests applied in one group-commit transaction.")
    writer_threads: int = _setting(
        0, "Writer threads; 0 means 1 on SQLite and 4 on PostgreSQL (SQLite allows one writer)."
    )
    read_pool_size: int = _setting(4, "Threads (and connections) serving reads.")
    sqlite_wal_limit: int = _setting(
        64,
        "SQLite: megabytes the write-ahead log may grow to before the writer restarts it with a "
        "checkpoint; the file is kept at about this size.",
    )
    max_body_bytes: int = _setting(
        1_048_576, "Largest request body accepted, in bytes; larger bodies get 400."
    )
    dev: bool = _setting(
        False, "Dev mode: serve the /__patron control plane (reset, clock, faults, request log)."
    )
    enforce_limits: str = _setting(
        "", "Enforce a provider's published rate limits per workspace: '' (off) or customerio."
    )
    request_log_size: int = _setting(1000, "Requests kept in the dev-mode request log.")
    https: bool = _setting(
        False, "Serve HTTPS with a local CA and certificate kept in the data directory."
    )
    data_dir: str = _setting(
        ".patron", "Directory for Patron's own files (local CA, certificates)."
    )
    segment_worker: bool = _setting(
        True, "Run the segment worker in this process (builds, change log, time windows)."
    )
    segment_tick: int = _setting(
        1000, "Milliseconds between the segment worker's passes over time-relative conditions."
    )
    segment_gather: int = _setting(
        10,
        "Milliseconds the segment worker waits after a commit before a pass, so that one pass "
        "covers many changes (adds at most this to entry latency).",
    )
    segment_build_step: int = _setting(
        250_000, "People evaluated per step (one transaction) of a segment build."
    )
    change_log_days: int = _setting(
        7, "Days the change log keeps changes every consumer has read (0: keep them forever)."
    )
    export_worker: bool = _setting(
        True, "Run the export worker in this process (builds requested customer exports)."
    )
    export_link_ttl: int = _setting(
        900, "Seconds an export's signed download link works (GET /v1/exports/{id}/download)."
    )

    journey_worker: bool = _setting(
        True, "Run the journey worker in this process (campaign entries, steps and timers)."
    )
    sender_worker: bool = _setting(
        True, "Run the sender in this process (renders due deliveries and hands them over)."
    )
    smtp_url: str = _setting(
        "",
        "Where email goes: smtp://user:pass@host:port, smtp+starttls://… or smtps://…; "
        "empty: the capture provider keeps every message for the dev inbox.",
    )
    smtp_connections: int = _setting(
        4,
        "SMTP connections the sender keeps open and sends over at once (each message is handed "
        "over as soon as it is rendered).",
    )
    email_from: str = _setting(
        "Patron <patron@patron.localhost>", "Sender of emails whose template and request name none."
    )
    email_rate: int = _setting(
        0, "Most emails handed to the email provider per second, across processes (0: no cap)."
    )
    tracking_url: str = _setting(
        "",
        "Base URL of open/click tracking, unsubscribe and preference links in messages "
        "(default: PATRON_PUBLIC_URL, else http://HOST:PORT).",
    )
    sender_batch: int = _setting(
        50,
        "Most deliveries the sender claims at a time; it claims fewer while few are due, and "
        "doubles up to this while claims come back full.",
    )
    sender_lease: int = _setting(
        60,
        "Seconds a claimed delivery stays its sender's; a sender that died mid-send leaves it "
        "to be sent again after this.",
    )

    def links_base(self) -> str:
        """The base URL that links in messages point at."""
        base = self.tracking_url or self.public_url or f"http://{self.host}:{self.port}"
        return base.rstrip("/")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``PATRON_*`` variables, then apply explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(env_var(f.name))
            if raw is not None and raw != "":
                values[f.name] = _parse(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _parse(kind: Any, raw: str) -> Any:
    if kind in ("int", int):
        return int(raw)
    if kind in ("bool", bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw


def env_var(name: str) -> str:
    """The environment variable that sets the named setting."""
    return f"PATRON_{name.upper()}"


def describe() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting, for docs and --help."""
    rows = []
    for f in fields(Settings):
        rows.append((env_var(f.name), repr(f.default), str(f.metadata["help"])))
    return rows
