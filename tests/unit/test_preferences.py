"""Reading subscription preferences, and the subscription center's signed tokens."""

from __future__ import annotations

import base64
import json

import pytest

from patron.domain import preferences
from patron.domain.definitions import Topic

SECRET = b"s" * 32
NEWS = Topic(1, "News")
OFFERS = Topic(2, "Offers", subscribed_by_default=False)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (None, {1: True, 2: False}),
        ({"topics": {"topic_1": False, "topic_2": True}}, {1: False, 2: True}),
        ({"topics": {"topic_1": "false", "topic_2": "TRUE"}}, {1: False, 2: True}),
        ({"topics": {"topic_1": 0, "topic_2": 1}}, {1: False, 2: True}),
        ('{"topics":{"topic_2":true}}', {1: True, 2: True}),  # as the App API stores a string
        ("not json", {1: True, 2: False}),
        ({"topics": "nonsense"}, {1: True, 2: False}),
        ({"topics": {"topic_1": None}}, {1: True, 2: False}),
    ],
)
def test_topic_states(stored: object, expected: dict[int, bool]) -> None:
    attributes = {} if stored is None else {"cio_subscription_preferences": stored}
    assert preferences.topic_states([NEWS, OFFERS], attributes) == expected
    assert preferences.subscribed_to(NEWS, attributes) is expected[1]
    assert preferences.subscribed_to(OFFERS, attributes) is expected[2]


def test_channel_states_default_to_subscribed() -> None:
    attributes = {"cio_subscription_preferences": {"channels": {"email": False}}}
    assert preferences.channel_states(attributes) == {
        "email": False,
        "twilio": True,
        "push": True,
        "in_app": True,
    }


def test_token_round_trip_expiry_and_tampering() -> None:
    token = preferences.make_token(SECRET, 7, "abc123", expires=1000)
    assert preferences.token_workspace(token) == 7
    found = preferences.read_token(SECRET, token, now=999)
    assert found == preferences.CenterToken(7, "abc123", 1000)
    assert preferences.read_token(SECRET, token, now=1000) is None  # expired
    assert preferences.read_token(b"t" * 32, token, now=0) is None  # another workspace's secret
    payload, sig = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"w":7,"c":"someone-else","e":1000}').rstrip(b"=")
    assert preferences.read_token(SECRET, f"{forged.decode()}.{sig}", now=0) is None
    assert preferences.read_token(SECRET, f"{payload}.{sig[:-1]}0", now=0) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "no-dot",
        "é.é",
        "%%%.00",
        base64.urlsafe_b64encode(b"[1,2]").decode() + ".00",
        base64.urlsafe_b64encode(json.dumps({"w": 2**40, "c": "x", "e": 1}).encode()).decode()
        + ".00",
        base64.urlsafe_b64encode(json.dumps({"w": True, "c": "x", "e": 1}).encode()).decode()
        + ".00",
        base64.urlsafe_b64encode(json.dumps({"w": 1, "c": "x", "e": 1, "z": 0}).encode()).decode()
        + ".00",
    ],
)
def test_malformed_tokens_name_no_workspace(token: str) -> None:
    assert preferences.token_workspace(token) is None
    assert preferences.read_token(SECRET, token, now=0) is None
