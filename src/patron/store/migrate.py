"""Schema migrations with alembic, run from code (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from patron.store.database import create_engine, is_sqlite, normalize_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    """An alembic configuration that runs on ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (creating the schema on an empty database)."""
    command.upgrade(alembic_config(engine), revision)


def prepare(url: str) -> None:
    """Create or upgrade the schema of the database at ``url`` (every command does this)."""
    url = normalize_url(url)
    engine = create_engine(url, pool_size=1, for_writes=is_sqlite(url))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
