"""Subscription preferences (spec §8.5): reading ``cio_subscription_preferences``, the
subscription channels, and the signed tokens of the hosted subscription center (``/u/i/…``).

A person's choice for topic N is ``cio_subscription_preferences.topics.topic_N`` (a boolean, or
a string or number Customer.io reads like ``unsubscribed``); without one the topic's default
applies. Channels work alike under ``channels.<type>`` (a Patron choice: Customer.io's key names
for channels are not documented).

A subscription-center token is ``<payload>.<sig>``: ``payload`` is unpadded base64url of the
JSON ``{"w": workspace, "c": cio_id, "e": expiry}`` and ``sig`` the hex HMAC-SHA256 of
``"prefs:" + payload`` under the workspace secret (the prefix keeps it from verifying as a
tracking token and the reverse).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from patron.domain.attributes import SUBSCRIPTION_PREFERENCES, parse_bool_flag
from patron.domain.definitions import Topic

TOKEN_TTL = 24 * 3600
_TOKEN_KEYS = frozenset({"w", "c", "e"})


@dataclass(frozen=True)
class Channel:
    """A subscription channel (``GET /v1/subscription_channels``)."""

    id: int
    name: str
    description: str
    type: str
    subscribed_by_default: bool = True

    def view(self) -> dict[str, Any]:
        """The App API's channel object."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "subscribed_by_default": self.subscribed_by_default,
            "type": self.type,
        }


CHANNELS = (
    Channel(1, "Email", "Email messages", "email"),
    Channel(2, "SMS", "SMS messages", "twilio"),
    Channel(3, "Push", "Push notifications", "push"),
    Channel(4, "In-app", "In-app messages", "in_app"),
)


def stored_preferences(attributes: dict[str, Any]) -> dict[str, Any]:
    """``cio_subscription_preferences`` as an object (it may arrive as a JSON string)."""
    prefs = attributes.get(SUBSCRIPTION_PREFERENCES)
    if isinstance(prefs, str):
        try:
            prefs = json.loads(prefs)
        except ValueError:
            prefs = None
    return prefs if isinstance(prefs, dict) else {}


def _section(attributes: dict[str, Any], name: str) -> dict[str, Any]:
    value = stored_preferences(attributes).get(name)
    return value if isinstance(value, dict) else {}


def _choice(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str | int | float):
        return parse_bool_flag(value)
    return bool(value)


def subscribed_to(topic: Topic, attributes: dict[str, Any]) -> bool:
    """Whether the person is subscribed to ``topic`` (their choice, else its default)."""
    return _choice(
        _section(attributes, "topics").get(f"topic_{topic.id}"), topic.subscribed_by_default
    )


def topic_states(topics: Sequence[Topic], attributes: dict[str, Any]) -> dict[int, bool]:
    """Each topic's state for the person, by topic id."""
    chosen = _section(attributes, "topics")
    return {t.id: _choice(chosen.get(f"topic_{t.id}"), t.subscribed_by_default) for t in topics}


def channel_states(attributes: dict[str, Any]) -> dict[str, bool]:
    """Each channel's state for the person, by channel type."""
    chosen = _section(attributes, "channels")
    return {c.type: _choice(chosen.get(c.type), c.subscribed_by_default) for c in CHANNELS}


def unsubscribed(attributes: dict[str, Any]) -> bool:
    """Whether the person is unsubscribed from everything (``unsubscribed``)."""
    return parse_bool_flag(attributes.get("unsubscribed", False))


# --- subscription-center tokens ------------------------------------------------------------


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, b"prefs:" + payload.encode("ascii"), hashlib.sha256).hexdigest()


def _payload(token: str) -> tuple[str, str, dict[str, Any]] | None:
    payload, dot, sig = token.partition(".")
    if not dot or not payload.isascii() or not sig.isascii():
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or data.keys() != _TOKEN_KEYS:
        return None
    ws, cio_id, expires = data["w"], data["c"], data["e"]
    if not (isinstance(ws, int) and isinstance(cio_id, str) and isinstance(expires, int)):
        return None
    if isinstance(ws, bool) or isinstance(expires, bool) or not 0 < ws < 2**31:
        return None
    return payload, sig, data


def make_token(secret: bytes, ws: int, cio_id: str, expires: int) -> str:
    """A token that opens ``cio_id``'s subscription center until unix time ``expires``."""
    raw = json.dumps({"w": ws, "c": cio_id, "e": expires}, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return f"{payload}.{_sign(secret, payload)}"


def token_workspace(token: str) -> int | None:
    """The workspace a token names, before it is verified (to find the secret)."""
    found = _payload(token)
    return None if found is None else int(found[2]["w"])


@dataclass(frozen=True)
class CenterToken:
    """What a verified subscription-center token says."""

    ws: int
    cio_id: str
    expires: int


def read_token(secret: bytes, token: str, now: int) -> CenterToken | None:
    """The person a token names, or None when it is tampered with, malformed or expired."""
    found = _payload(token)
    if found is None:
        return None
    payload, sig, data = found
    if not hmac.compare_digest(_sign(secret, payload).encode(), sig.encode()):
        return None
    if now >= data["e"]:
        return None
    return CenterToken(data["w"], data["c"], data["e"])
