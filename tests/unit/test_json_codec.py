"""json_codec keeps integers of any size, and otherwise reads and writes as orjson does."""

from __future__ import annotations

import orjson
import pytest

from patron import json_codec


@pytest.mark.parametrize(
    "text, value",
    [
        (b'{"a":123456789012345678901234567890}', {"a": 123456789012345678901234567890}),
        (b"[-9223372036854775809, 18446744073709551616]", [-(2**63) - 1, 2**64]),
        (b"1" + b"0" * 400, 10**400),  # orjson fails on it (a float would be infinite)
        ('{"id":"1234567890123456789012","n":1.5}', {"id": "1234567890123456789012", "n": 1.5}),
        (b'{"plan":"pro","n":12}', {"plan": "pro", "n": 12}),
    ],
)
def test_loads_keeps_every_digit(text: bytes | str, value: object) -> None:
    parsed = json_codec.loads(text)
    assert parsed == value and type(parsed) is type(value)
    assert json_codec.loads(json_codec.dumps(parsed)) == value


def test_dumps_writes_what_orjson_refuses_and_errors_stay_orjsons() -> None:
    assert (
        json_codec.dumps({"b": 2**70, "a": 1}, sort_keys=True)
        == b'{"a":1,"b":1180591620717411303424}'
    )
    assert json_codec.dumps({1: 2**64}, non_str_keys=True) == b'{"1":18446744073709551616}'
    assert json_codec.dumps({"n": 1.5}) == orjson.dumps({"n": 1.5})
    with pytest.raises(orjson.JSONDecodeError, match="trailing comma"):
        json_codec.loads(b"[1,]")
    with pytest.raises(orjson.JSONDecodeError):
        json_codec.loads(b"1e400")
