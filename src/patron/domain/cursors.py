"""Opaque paging tokens (the App API's ``start`` / ``next``) over integer positions."""

from __future__ import annotations

import base64

from patron.domain.errors import InvalidInput


def encode(*position: int) -> str:
    """A token for the position after ``position`` (one or more integers)."""
    text = ":".join(str(value) for value in position)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(token: str, size: int) -> tuple[int, ...]:
    """The ``size`` integers a token stands for; a 400 when it is not such a token."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        parts = text.split(":")
        if len(parts) == size and all(p.isascii() and p.lstrip("-").isdigit() for p in parts):
            values = tuple(int(p) for p in parts)
            # Positions are database keys: a larger number is no token of ours (and would
            # overflow SQLite's integers).
            if all(-(2**63) <= v < 2**63 for v in values):
                return values
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidInput(f"start '{token[:40]}' is not a valid paging token", field="start")
