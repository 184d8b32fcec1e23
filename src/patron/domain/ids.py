"""Server-generated identifiers (cio ids, keys), random by default."""

from __future__ import annotations

import secrets


def new_cio_id() -> str:
    """A new person ``cio_id``: 16 lower-case hex digits, like Customer.io's opaque ids."""
    return secrets.token_hex(8)


def new_key(prefix: str = "") -> str:
    """A new random API credential (about 160 bits of entropy)."""
    return prefix + secrets.token_hex(20)


def new_site_id() -> str:
    """A new Track site id: 20 hex digits, as Customer.io's."""
    return secrets.token_hex(10)


def new_cio_object_id() -> str:
    """A new ``cio_object_id``: "ob" and 12 hex digits, like Customer.io's."""
    return "ob" + secrets.token_hex(6)
