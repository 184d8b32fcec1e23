"""Server-generated identifiers: cio ids, object ids, suppression blocks, keys.

Random by default (person cio_ids lead with their creation time). In dev mode ``seed(ws, n)``
makes every id generated for a workspace, except credentials, repeat across runs (keys stay
random: a seed must never make a key guessable).
"""

from __future__ import annotations

import base64
import itertools
import random
import secrets
import threading
import time

_lock = threading.Lock()
_seeded: dict[int, tuple[int, random.Random]] = {}


def seed(ws: int, value: int | None) -> None:
    """Generate workspace ``ws``'s ids from ``value`` from now on; ``None``: random again."""
    with _lock:
        if value is None:
            _seeded.pop(ws, None)
        else:
            _seeded[ws] = (value, random.Random(value))


def current_seed(ws: int) -> int | None:
    """The seed in force for ``ws``, if any."""
    entry = _seeded.get(ws)
    return None if entry is None else entry[0]


def clear_seeds() -> None:
    """Every workspace back to random ids."""
    with _lock:
        _seeded.clear()


def _hex(ws: int, nbytes: int) -> str:
    entry = _seeded.get(ws)
    if entry is None:
        return secrets.token_hex(nbytes)
    with _lock:
        return entry[1].getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()


# Unseeded cio_ids begin with the second they were made, so that new ones land together at the
# end of the unique index instead of each on a random page of it (the reason for UUIDv7 and
# ULIDs); the rest counts on from a random start per process, so that two processes collide
# only by rare chance, which the unique key turns into a retry.
_counter = itertools.count(secrets.randbits(32))


def new_cio_id(ws: int) -> str:
    """A new person ``cio_id``: 16 lower-case hex digits, like Customer.io's opaque ids."""
    if ws in _seeded:
        return _hex(ws, 8)
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{next(_counter) & 0xFFFFFFFF:08x}"


def new_cio_object_id(ws: int) -> str:
    """A new ``cio_object_id``: "ob" and 12 hex digits, like Customer.io's."""
    return "ob" + _hex(ws, 6)


def new_block_id(ws: int) -> str:
    """A new id grouping the identifiers of one suppression."""
    return _hex(ws, 8)


def new_key(prefix: str = "") -> str:
    """A new random API credential (about 160 bits of entropy); never seeded."""
    return prefix + secrets.token_hex(20)


def new_site_id() -> str:
    """A new Track site id: 20 hex digits, as Customer.io's; never seeded."""
    return secrets.token_hex(10)


def new_delivery_id(ws: int) -> str:
    """A new delivery id: URL-safe base64 of 17 bytes with ``=`` padding, 24 characters, like
    Customer.io's opaque ids (spec §8.1): a version byte, then 16 random (or seeded) bytes."""
    raw = b"\x01" + bytes.fromhex(_hex(ws, 16))
    return base64.urlsafe_b64encode(raw).decode()
