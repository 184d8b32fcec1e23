"""Domain rules, without HTTP or a database."""

from __future__ import annotations

import itertools
import re
import time

import pytest

from patron.domain import ids
from patron.domain.attributes import apply_changes, fill_gaps, parse_bool_flag, parse_identify
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier, check_value, from_object, from_path
from patron.domain.identity import PersonIds, resolve_identify
from patron.domain.values import to_wire


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("cio_03000001", Identifier("cio_id", "03000001")),
        ("a@b.co", Identifier("email", "a@b.co")),
        ("+15551234567", Identifier("id", "+15551234567")),
        ("cio_", Identifier("id", "cio_")),
        ("not@an-email", Identifier("id", "not@an-email")),
        ("42", Identifier("id", "42")),
    ],
)
def test_path_identifier_shapes(raw: str, expected: Identifier) -> None:
    assert from_path(raw) == expected


def test_identifier_values() -> None:
    assert check_value(432, "id") == "432"
    assert check_value(432.0, "id") == "432"
    for bad in (True, 1.5, None, [], "   ", "x" * 151):
        with pytest.raises(InvalidInput):
            check_value(bad, "id")
    with pytest.raises(InvalidInput, match="multiple identifiers"):
        from_object({"id": "a", "email": "a@b.co"}, "primary")
    assert from_object({"cio_id": "abc"}, "secondary") == Identifier("cio_id", "abc")


P1 = PersonIds(1, "c1", "u1", "one@x.co")
P2 = PersonIds(2, "c2", "u2", "two@x.co")
NOEMAIL = PersonIds(3, "c3", "u3", None)


def test_resolve_create_update_and_conflict() -> None:
    who = Identifier("id", "new")
    create = resolve_identify(
        who, {"email": "n@x.co"}, {"path": None, "email": None}, update_only=False
    )
    assert create.action == "create" and create.assign == {"email": "n@x.co", "id": "new"}
    assert resolve_identify(who, {}, {"path": None}, update_only=True).action == "fail"
    same = resolve_identify(
        Identifier("id", "u1"), {"email": "ONE@x.co"}, {"path": P1, "email": P1}, update_only=False
    )
    assert same.action == "update" and same.assign == {}
    conflict = resolve_identify(
        Identifier("id", "u1"), {"email": "two@x.co"}, {"path": P1, "email": P2}, update_only=False
    )
    assert conflict.action == "fail" and conflict.person == P1


def test_resolve_assigns_missing_identifier_but_never_changes_one_without_cio() -> None:
    gains = resolve_identify(
        Identifier("id", "u3"),
        {"email": "e@x.co"},
        {"path": NOEMAIL, "email": None},
        update_only=False,
    )
    assert gains.action == "update" and gains.assign == {"email": "e@x.co"}
    change = resolve_identify(
        Identifier("id", "u1"),
        {"email": "new@x.co"},
        {"path": P1, "email": None},
        update_only=False,
    )
    assert change.action == "fail" and "cio_id" in change.reason
    by_cio = resolve_identify(
        Identifier("cio_id", "c1"),
        {"email": "new@x.co"},
        {"path": P1, "email": None},
        update_only=False,
    )
    assert by_cio.action == "update" and by_cio.assign == {"email": "new@x.co"}
    taken = resolve_identify(
        Identifier("cio_id", "c1"),
        {"email": "two@x.co"},
        {"path": P1, "email": P2},
        update_only=False,
    )
    assert taken.action == "fail"
    assert (
        resolve_identify(Identifier("cio_id", "zz"), {}, {"path": None}, update_only=False).action
        == "fail"
    )


def test_apply_changes_orders_by_timestamp() -> None:
    attrs, stamps, diff = apply_changes({"a": 1}, {"a": 200}, {"a": 2, "b": 3}, 100)
    assert attrs == {"a": 1, "b": 3} and stamps == {"a": 200, "b": 100}
    assert diff == {"b": [None, 3]}
    attrs, stamps, diff = apply_changes(attrs, stamps, {"a": None}, 300)
    assert attrs == {"b": 3} and stamps["a"] == 300 and diff == {"a": [1, None]}
    # A removal remembers its time: an older write does not bring the value back.
    attrs, _, diff = apply_changes(attrs, stamps, {"a": 9}, 250)
    assert "a" not in attrs and diff == {}


def test_subscription_preferences() -> None:
    start = {"cio_subscription_preferences": {"topics": {"topic_1": True}}}
    attrs, _, _ = apply_changes(
        start, {}, {"cio_subscription_preferences.topics.topic_2": False}, 1
    )
    assert attrs["cio_subscription_preferences"] == {"topics": {"topic_1": True, "topic_2": False}}
    attrs, _, _ = apply_changes(
        attrs, {}, {"cio_subscription_preferences": {"topics": {"topic_1": False}}}, 2
    )
    assert attrs["cio_subscription_preferences"] == {"topics": {"topic_1": False, "topic_2": False}}
    # The input is not mutated.
    assert start == {"cio_subscription_preferences": {"topics": {"topic_1": True}}}


def test_fill_gaps_primary_wins() -> None:
    attrs, stamps = fill_gaps({"a": 1}, {"a": 5}, {"a": 2, "b": 3}, {"a": 9, "b": 7})
    assert attrs == {"a": 1, "b": 3} and stamps == {"a": 5, "b": 7}


def test_parse_identify_reserved_keys() -> None:
    op = parse_identify(
        Identifier("id", "u1"),
        {
            "_timestamp": "100",
            "_update": True,
            "email": "a@b.co",
            "anonymous_id": 7,
            "x": "",
            "unsubscribed": "TRUE",
        },
    )
    assert op.timestamp == 100 and op.update_only
    assert op.assign == {"email": "a@b.co"} and op.anonymous_id == "7"
    assert op.attributes == {"x": None, "unsubscribed": True}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("TRUE", True), ("1", True), (1, True), (0, False), ("yes", False), (None, False)],
)
def test_bool_flag(value: object, expected: bool) -> None:
    assert parse_bool_flag(value) is expected


def test_values_on_the_wire() -> None:
    assert to_wire("s") == "s"
    assert to_wire(3) == "3"
    assert to_wire(1.5) == "1.5"
    assert to_wire(True) == "true"
    assert to_wire({"a": [1]}) == '{"a":[1]}'
    assert to_wire(None) is None


def test_paging_tokens() -> None:
    from patron.domain import cursors

    assert cursors.decode(cursors.encode(1700000000, 42), 2) == (1700000000, 42)
    assert cursors.decode(cursors.encode(7), 1) == (7,)
    for bad in ("!!", cursors.encode(1, 2), "", cursors.encode(7)[:-1] + "$"):
        with pytest.raises(InvalidInput):
            cursors.decode(bad, 1 if bad != cursors.encode(1, 2) else 3)


def test_unseeded_cio_ids_lead_with_their_creation_time() -> None:
    made = [ids.new_cio_id(99) for _ in range(10_000)]
    assert all(re.fullmatch("[0-9a-f]{16}", c) for c in made)
    assert len(set(made)) == len(made)
    seconds = [int(c[:8], 16) for c in made]
    assert seconds == sorted(seconds) and abs(seconds[0] - time.time()) < 5
    counts = [int(c[8:], 16) for c in made]
    assert all((b - a) % 2**32 == 1 for a, b in itertools.pairwise(counts))
