"""JSON in and out, with every integer kept exactly as sent.

orjson is the fast path everywhere (request bodies, JSON columns, responses), but it reads an
integer past 64 bits as a float (``123456789012345678901234567890`` becomes
``1.2345678901234568e+29``), fails on one too large for a float, and cannot write one at all.
msgspec reads and writes integers of any size, so it takes over only then: when orjson fails,
when the text holds a run of 19 or more digits (the only way to spell an integer orjson may
have rounded: 2**63 has 19), or when orjson refuses to write a value. The digit check is a
byte translation and a substring search, both in C (a regular expression is ten times
slower), so ordinary bodies pay well under a microsecond.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

# Every digit becomes "0": a run of 19 digits becomes "0" * 19.
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19
_ENCODE = msgspec.json.Encoder()
_ENCODE_SORTED = msgspec.json.Encoder(order="sorted")
_DECODE = msgspec.json.Decoder()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """``data`` parsed; raises ``orjson.JSONDecodeError`` (a ``ValueError``) when it is not
    JSON."""
    raw = data if type(data) is bytes else data.encode() if isinstance(data, str) else bytes(data)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # Only a number orjson cannot hold goes to msgspec: whatever else orjson refuses
        # (invalid UTF-8, nesting too deep) stays refused.
        if _LONG_RUN not in raw.translate(_DIGITS):
            raise
        try:
            return _DECODE.decode(data)
        except (msgspec.MsgspecError, RecursionError):
            raise exc from None
    if _LONG_RUN in raw.translate(_DIGITS):
        return _DECODE.decode(data)
    return value


def dumps(value: Any, *, sort_keys: bool = False, non_str_keys: bool = False) -> bytes:
    """``value`` as compact JSON (UTF-8)."""
    option = (orjson.OPT_SORT_KEYS if sort_keys else 0) | (
        orjson.OPT_NON_STR_KEYS if non_str_keys else 0
    )
    try:
        return orjson.dumps(value, option=option or None)
    except TypeError:
        # An integer past 64 bits (or a type neither library writes: msgspec raises too).
        return (_ENCODE_SORTED if sort_keys else _ENCODE).encode(value)


def dumps_text(value: Any) -> str:
    """``value`` as compact JSON text."""
    return dumps(value).decode()
