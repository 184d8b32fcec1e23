"""Channel providers: small I/O adapters that hand one rendered message to the outside.

Each answers :class:`Accepted`, :class:`Transient` (try again later) or :class:`Permanent`
(give up; ``bounced`` when the receiving side refused the recipient)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Accepted:
    """The provider took the message; ``provider_id`` is its own id for it, if any."""

    provider_id: str = ""


@dataclass(frozen=True)
class Transient:
    """A failure worth retrying (SMTP 4xx, connection trouble)."""

    reason: str


@dataclass(frozen=True)
class Permanent:
    """A failure not worth retrying (SMTP 5xx)."""

    reason: str
    bounced: bool = False


Outcome = Accepted | Transient | Permanent
