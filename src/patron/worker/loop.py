"""The asyncio task shape every background worker shares: wake on a poke or every tick."""

from __future__ import annotations

import asyncio
import logging

from patron.store.database import Database

log = logging.getLogger("patron.worker")


class Loop:
    """Runs :meth:`run_once` whenever poked (from any thread) and at least every ``tick``
    seconds, until stopped. A failing pass is logged and retried on the next one."""

    name = "patron-worker"

    def __init__(self, db: Database, *, tick: float = 1.0, gather: float = 0.0) -> None:
        self.db = db
        self.tick = tick
        self.gather = gather  # after a poke, wait this long so that one pass covers more
        self.passes = 0  # complete passes so far (dev mode's settle waits on these)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def poke(self) -> None:
        """Something changed: run a pass soon (callable from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        """Run in the current event loop until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop after the current step."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            # A cancellation can be lost inside wait_for (CPython 3.11); the flag ends the loop.
            await asyncio.wait({self._task}, timeout=10)
        self._loop = None

    async def setup(self) -> None:
        """Runs once before the first pass."""

    async def run_once(self) -> None:
        """One pass over the worker's duties."""
        raise NotImplementedError

    async def _run(self) -> None:
        try:
            await self.setup()
        except Exception:
            log.exception("%s could not start; retrying in its first pass", self.name)
        while not self._stopping:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s pass failed; retrying", self.name)
            try:
                await asyncio.wait_for(self._wake.wait(), self.tick)
                if self.gather:
                    await asyncio.sleep(self.gather)
            except TimeoutError:
                pass
            self._wake.clear()
