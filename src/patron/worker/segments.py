"""Keeps data-driven segments exact as data arrives.

Three duties, each a short transaction on the write path:

- **Builds.** A new or redefined segment is built over everyone, a range of person keys per
  step (one query per step), reporting ``state``/``progress``.
- **Changes.** Each committed change to a person (the change log) re-evaluates that person
  against only the segments whose conditions read what changed (``conditions.affected``).
- **Time.** Conditions relative to now (``within_last``, ``more_than_ago``, events within a
  window) are re-evaluated for the people whose timestamps crossed the window's edge since the
  last pass, as the (possibly virtual) clock moves.

Entries and exits go to the change log too, so segments that refer to other segments follow
in the next pass.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.engine import Connection

from patron.domain import clock, conditions
from patron.settings import Settings
from patron.store import changes, segment_sql, segments
from patron.store.database import Database
from patron.worker.loop import Loop

CONSUMER = "segments"


BATCH = 2000  # changes read per step
PRUNE_EVERY = 3600.0  # seconds between prunings of the change log


def consume(conn: Connection, limit: int = BATCH) -> int:
    """Process up to ``limit`` changes after the consumer's cursor; returns how many."""
    position = changes.cursor(conn, CONSUMER, int(time.time()))
    batch = changes.read(conn, position, limit)
    if not batch:
        return 0
    touched: dict[int, dict[int, set[tuple[str, int | None]]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for change in batch:
        if change.person_pk is not None:
            touched[change.ws][change.person_pk].add((change.kind, change.segment_id))
    for ws, people_changes in touched.items():
        dynamic = segments.all_of(conn, ws, kind=segments.DYNAMIC)
        if not dynamic:
            continue
        now = clock.now(ws)
        # People with the same kinds of change are affected alike: decide once per kind set.
        alike: dict[frozenset[tuple[str, int | None]], list[int]] = defaultdict(list)
        for pk, kinds in people_changes.items():
            alike[frozenset(kinds)].append(pk)
        wanted: list[tuple[segments.Segment, list[int]]] = []
        for segment in dynamic:
            reads, refs = segment.facets, segment.refs
            candidates = [
                pk
                for kinds, keys in alike.items()
                if any(conditions.affected(kind, sid, reads, refs) for kind, sid in kinds)
                for pk in keys
            ]
            if candidates:
                wanted.append((segment, candidates))
        segments.evaluate_candidates(conn, ws, wanted, now)
    last = batch[-1]
    changes.advance(conn, CONSUMER, (last.txid, last.seq), int(time.time()))
    return len(batch)


def follow_time(conn: Connection) -> int:
    """Re-evaluate time-relative conditions up to each workspace's now; returns how many
    segments were brought up to date."""
    done = 0
    for segment in segments.all_of(conn, None, kind=segments.DYNAMIC, state=segments.FINISHED):
        parts = conditions.timed(segment.condition)
        now = clock.now(segment.ws)
        since = segment.evaluated_at
        if not parts or since is None or since == now:
            continue
        if now < since:
            # The clock went back (dev mode): rebuild rather than reason backwards.
            segments.set_state(conn, segment.id, state=segments.BUILD_QUEUED, progress=0)
            continue
        candidates: set[int] = set()
        for part in parts:
            query = segment_sql.near_boundary(conn.dialect.name, segment.ws, part, since, now)
            candidates.update(conn.execute(query).scalars())
        if candidates:
            segments.evaluate(conn, segment, now, sorted(candidates))
        segments.set_state(conn, segment.id, evaluated_at=now)
        done += 1
    return done


class SegmentWorker(Loop):
    """The asyncio task that runs builds, follows the change log and follows time."""

    name = "patron-segments"

    def __init__(
        self,
        db: Database,
        *,
        tick: float = 1.0,
        build_step: int = 250_000,
        gather: float = 0.0,
        keep_days: int = 7,
    ) -> None:
        super().__init__(db, tick=tick, gather=gather)
        self.build_step = build_step
        self.keep_days = keep_days
        self._pruned_at: float | None = None
        self._time_followed = 0.0  # monotonic time of the last pass over time windows
        self._clock_moved = False

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> SegmentWorker:
        """The worker as the settings configure it."""
        return cls(
            db,
            tick=settings.segment_tick / 1000,
            build_step=settings.segment_build_step,
            gather=settings.segment_gather / 1000,
            keep_days=settings.change_log_days,
        )

    def follow_clock(self) -> None:
        """A workspace's clock moved: follow time-relative conditions in the next pass."""
        self._clock_moved = True
        self.poke()

    async def setup(self) -> None:
        await self.db.write(_requeue_interrupted)

    async def run_once(self) -> None:
        """One pass: queued builds, then the change log until it is drained, then time (once a
        tick has gone by, or when a clock moved; not after every write)."""
        for segment in await self.db.read(_queued):
            await self.build(segment)
        started = time.monotonic()
        due = self._clock_moved or started - self._time_followed >= self.tick
        # Without data-driven segments the log only needs its cursor moved, once a tick: no
        # write transaction after every commit for nothing (builds evaluate everyone anyway).
        if due or await self.db.read(segments.any_dynamic):
            await self.drain()
        if due:
            self._clock_moved = False
            self._time_followed = started
            await self.db.write(follow_time)
            await self.drain()
            await self.prune(started)
        self.passes += 1

    async def prune(self, started: float) -> None:
        """Once an hour, forget changes older than ``keep_days`` that every consumer has read,
        a bounded step at a time so that no write waits long behind it."""
        if self.keep_days <= 0 or (
            self._pruned_at is not None and started - self._pruned_at < PRUNE_EVERY
        ):
            return
        self._pruned_at = started
        before = int(time.time()) - self.keep_days * 86_400
        while await self.db.write(lambda c: changes.prune(c, before)) >= changes.PRUNE_STEP:
            pass

    async def settle(self, timeout: float) -> bool:
        """Wait until a pass that began after this call has ended and nothing is left to do;
        False when ``timeout`` seconds pass first."""
        deadline = asyncio.get_running_loop().time() + timeout
        target = self.passes + 2  # the pass under way may have begun before this call
        while asyncio.get_running_loop().time() < deadline:
            self._wake.set()
            if self.passes >= target and await self.db.read(idle):
                return True
            await asyncio.sleep(0.005)
        return False

    async def drain(self) -> None:
        """Process the change log until nothing is left (a short step means it was all; what
        commits after it pokes the worker again)."""
        while await self.db.write(consume) >= BATCH:
            pass

    async def build(self, segment: segments.Segment) -> None:
        """Evaluate everyone for a queued segment, a range of keys per step."""
        if not await self.db.write(lambda c: segments.claim_build(c, segment)):
            return
        now = clock.now(segment.ws)
        bounds = await self.db.read(lambda c: segments.key_range(c, segment.ws))
        if bounds is not None:
            low, high = bounds
            for start in range(low, high + 1, self.build_step):
                stop = min(high, start + self.build_step - 1)
                done = await self.db.write(_build_step(segment, now, start, stop, low, high))
                if not done:
                    return  # redefined or deleted meanwhile: a new build is queued
                await self.drain()
        await self.db.write(_finish(segment, now))


def _queued(conn: Connection) -> list[segments.Segment]:
    return segments.all_of(conn, None, kind=segments.DYNAMIC, state=segments.BUILD_QUEUED)


def _requeue_interrupted(conn: Connection) -> None:
    """Builds a stopped process left half done start again."""
    for segment in segments.all_of(conn, None, kind=segments.DYNAMIC, state=segments.BUILDING):
        segments.set_state(conn, segment.id, state=segments.BUILD_QUEUED, progress=0)


def _current(conn: Connection, segment: segments.Segment) -> bool:
    stored = segments.get(conn, segment.ws, segment.id, lock=True)
    return (
        stored is not None
        and stored.updated_at == segment.updated_at
        and stored.state == segments.BUILDING
    )


def _build_step(
    segment: segments.Segment, now: int, start: int, stop: int, low: int, high: int
) -> Callable[[Connection], bool]:
    def step(conn: Connection) -> bool:
        if not _current(conn, segment):
            return False
        segments.evaluate(conn, segment, now, keys=(start, stop))
        progress = 100 if high == low else int(100 * (stop - low + 1) / (high - low + 1))
        segments.set_state(conn, segment.id, progress=min(progress, 99))
        return True

    return step


def _finish(segment: segments.Segment, now: int) -> Callable[[Connection], None]:
    def finish(conn: Connection) -> None:
        if _current(conn, segment):
            segments.set_state(
                conn, segment.id, state=segments.FINISHED, progress=None, evaluated_at=now
            )

    return finish


def idle(conn: Connection) -> bool:
    """Nothing left for the worker: no build waits or runs, and the change log is read (or no
    data-driven segment exists to read it for)."""
    if segments.unfinished(conn):
        return False
    return not segments.any_dynamic(conn) or not changes.behind(conn, CONSUMER)
