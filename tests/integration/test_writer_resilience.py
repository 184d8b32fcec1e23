"""The writer fails callers cleanly, and keeps serving, when the database cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from patron.store.database import Database


def test_unreachable_database_fails_writes_without_hanging(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'missing-dir' / 'patron.db'}", read_pool_size=1)
    try:
        for _ in range(2):  # the writer thread survives the first failure
            with pytest.raises(sa.exc.OperationalError):
                db.write_sync(lambda conn: conn.execute(sa.text("select 1")).scalar())
        (tmp_path / "missing-dir").mkdir()
        assert db.write_sync(lambda conn: conn.execute(sa.text("select 1")).scalar()) == 1
    finally:
        db.close()
