"""The time every server timestamp reads: the real clock, or a workspace's virtual one.

In dev mode each workspace may move its own clock (``/__patron/clock``): an offset from real
time, optionally frozen, so that tests can jump a workspace forward ("3 days later") without
waiting and without touching other workspaces. Outside dev mode no workspace has one.
"""

from __future__ import annotations

import threading
import time

import msgspec

LATEST = 253402300799  # 9999-12-31T23:59:59Z: the last instant every client can represent


def in_range(unix: float) -> bool:
    """Whether a virtual clock may read ``unix``: from the epoch to the end of year 9999."""
    return 0 <= unix <= LATEST


class _Virtual(msgspec.Struct):
    offset: float = 0.0
    frozen_at: float | None = None

    def read(self) -> float:
        return self.frozen_at if self.frozen_at is not None else time.time() + self.offset


_lock = threading.Lock()
_clocks: dict[int, _Virtual] = {}


def now(ws: int | None = None) -> int:
    """Current unix time in whole seconds, as workspace ``ws`` sees it."""
    virtual = _clocks.get(ws) if ws is not None else None
    return int(virtual.read() if virtual is not None else time.time())


def state(ws: int) -> dict[str, int | bool]:
    """The workspace's clock as the control plane reports it."""
    virtual = _clocks.get(ws) or _Virtual()
    return {"now": now(ws), "offset": int(virtual.offset), "frozen": virtual.frozen_at is not None}


def set_time(ws: int, unix: float, *, frozen: bool | None = None) -> None:
    """Make the workspace's ``now()`` read ``unix``; it keeps running unless frozen
    (``frozen=None`` keeps the current running/frozen state)."""
    with _lock:
        current = _clocks.get(ws) or _Virtual()
        keep_frozen = current.frozen_at is not None if frozen is None else frozen
        _clocks[ws] = _Virtual(unix - time.time(), float(unix) if keep_frozen else None)


def advance(ws: int, seconds: float) -> None:
    """Move the workspace's clock forward (or back, if negative) by ``seconds``."""
    with _lock:
        current = _clocks.get(ws) or _Virtual()
        frozen = None if current.frozen_at is None else current.frozen_at + seconds
        _clocks[ws] = _Virtual(current.offset + seconds, frozen)


def freeze(ws: int, frozen: bool) -> None:
    """Stop the workspace's clock at its current reading, or let it run on from there."""
    virtual = _clocks.get(ws) or _Virtual()
    set_time(ws, virtual.read(), frozen=frozen)


def reset(ws: int | None = None) -> None:
    """Back to real time for ``ws``, or for every workspace."""
    with _lock:
        if ws is None:
            _clocks.clear()
        else:
            _clocks.pop(ws, None)


def virtual_nows() -> dict[int, int]:
    """Every workspace with a virtual clock, and what it reads now."""
    with _lock:
        clocks = dict(_clocks)
    return {ws: int(c.read()) for ws, c in clocks.items()}


def export(ws: int) -> tuple[float, float | None] | None:
    """The workspace's clock as kept in the database: (offset, frozen reading), or None."""
    virtual = _clocks.get(ws)
    return None if virtual is None else (virtual.offset, virtual.frozen_at)


def install(kept: dict[int, tuple[float, float | None]]) -> None:
    """Put back clocks kept in the database (at start-up)."""
    with _lock:
        for ws, (offset, frozen_at) in kept.items():
            _clocks[ws] = _Virtual(offset, frozen_at)
