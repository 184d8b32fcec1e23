"""Application code under test: it reports sign-ups and trials to Customer.io and sends the
welcome email."""

from __future__ import annotations

import time
from typing import Any

TRIAL_DAYS = 14
WELCOME = "welcome"  # the transactional message's trigger name in Customer.io


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


def send_welcome(api: Any, user_id: str, email: str, first_name: str) -> str:
    """Send the welcome email through Customer.io's transactional API; its delivery id."""
    from customerio import SendEmailRequest

    answer = api.send_email(
        SendEmailRequest(
            transactional_message_id=WELCOME,
            to=email,
            identifiers={"id": user_id},
            message_data={"first_name": first_name},
        )
    )
    delivery_id: str = answer["delivery_id"]
    return delivery_id
