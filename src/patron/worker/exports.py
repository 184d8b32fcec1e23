"""Builds pending customer exports into gzip-compressed CSV files.

Each export is claimed with a lease in a short write transaction, rendered on the read pool
(one read transaction, so the file is one consistent picture), then stored in another short
write. A process that dies mid-build leaves the lease to run out, and the export is built
again by whichever process claims it next.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import time

from sqlalchemy.engine import Connection

from patron.domain import clock, conditions
from patron.domain.errors import InvalidInput
from patron.settings import Settings
from patron.store import exports, people_export
from patron.store.database import Database
from patron.worker.loop import Loop

log = logging.getLogger("patron.worker")

LEASE_SECONDS = 600


def render(conn: Connection, export: exports.Export) -> tuple[bytes, int]:
    """The export's CSV, gzip-compressed, and its row count."""
    condition = None if export.filters is None else conditions.parse(export.filters, "filters")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as zipped:
        total = people_export.write_csv(conn, export.ws, condition, clock.now(export.ws), zipped)
    return buffer.getvalue(), total


class ExportWorker(Loop):
    """The asyncio task that builds exports as they are requested."""

    name = "patron-exports"

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> ExportWorker:
        """The worker as the settings configure it (it wakes as often as the segment worker)."""
        return cls(db, tick=settings.segment_tick / 1000)

    async def run_once(self) -> None:
        """Build every pending export whose lease is free."""
        while True:
            claimed = await self.db.write(
                lambda c: exports.claim(c, int(time.time()), LEASE_SECONDS)
            )
            if claimed is None:
                break
            await self.build(claimed)
        self.passes += 1

    async def build(self, export: exports.Export) -> None:
        """Render one claimed export and store the outcome."""
        now = clock.now(export.ws)
        try:
            content, total = await self.db.read(lambda c: render(c, export))
        except InvalidInput as exc:
            reason = str(exc)
            await self.db.write(lambda c: exports.fail(c, export.id, reason, now))
            return
        except Exception:
            log.exception("export %s failed", export.id)
            await self.db.write(lambda c: exports.fail(c, export.id, "internal error", now))
            return
        await self.db.write(lambda c: exports.finish(c, export.id, content, total, now))

    async def settle(self, timeout: float) -> bool:
        """Wait until no export is pending; False when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await self.db.read(exports.pending):
                return True
            self.poke()
            await asyncio.sleep(0.01)
        return False
