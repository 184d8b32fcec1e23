"""Expiring, signed download links (what Customer.io hands out for export files)."""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, subject: str, expires: int) -> str:
    """The signature of a link to ``subject`` that stops working at unix time ``expires``."""
    message = f"{subject}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def valid(secret: str, subject: str, expires: int, given: str, now: int) -> bool:
    """True when ``given`` signs ``subject`` until ``expires`` and that time is still ahead."""
    return now < expires and hmac.compare_digest(signature(secret, subject, expires), given)
