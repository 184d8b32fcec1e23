"""The time every server timestamp reads."""

from __future__ import annotations

import time


def now() -> int:
    """Current unix time in whole seconds."""
    return int(time.time())
