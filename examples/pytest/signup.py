"""Application code under test: it reports sign-ups and trials to Customer.io."""

from __future__ import annotations

import time
from typing import Any

TRIAL_DAYS = 14


def sign_up(cio: Any, user_id: str, email: str, plan: str) -> None:
    """Create (or update) the person and record the sign-up."""
    cio.identify(
        user_id, email=email, plan=plan, trial_ends_at=int(time.time()) + TRIAL_DAYS * 86400
    )
    cio.track(user_id, "signed_up", data={"plan": plan})


def import_accounts(cio: Any, rows: list[dict[str, str]]) -> None:
    """Bulk-load accounts with one Track v2 batch."""
    cio.batch(
        [
            {
                "type": "person",
                "action": "identify",
                "identifiers": {"id": row["id"]},
                "attributes": {"email": row["email"], "source": "import"},
            }
            for row in rows
        ]
    )
