"""How people are addressed: ``id``, ``email`` and ``cio_id`` (Customer.io wire spec §2.5)."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import msgspec

from patron.domain.errors import InvalidInput
from patron.domain.limits import MAX_ID_BYTES

Kind = Literal["id", "email", "cio_id", "phone"]
KINDS: tuple[Kind, ...] = ("id", "email", "cio_id")
# With phone identifiers enabled for the workspace (checked where the workspace is known).
ALL_KINDS: tuple[Kind, ...] = (*KINDS, "phone")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PHONE_PUNCTUATION = str.maketrans("", "", " -().")
CIO_PREFIX = "cio_"

# Deliberately loose: Customer.io decides "from the shape of the value", and a stricter
# pattern would turn valid-looking ids into emails or the reverse less predictably.
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


class Identifier(msgspec.Struct, frozen=True):
    """One way of naming a person."""

    kind: Kind
    value: str

    @property
    def key(self) -> str:
        """The value as stored for uniqueness (emails compare case-insensitively)."""
        return email_key(self.value) if self.kind == "email" else self.value


def looks_like_email(value: str) -> bool:
    """True when ``value`` has the shape of an email address."""
    return bool(_EMAIL_SHAPE.match(value))


def email_key(email: str) -> str:
    """The normalized form used to compare emails."""
    return email.strip().lower()


def email_sha256(email: str) -> str:
    """SHA-256 (hex) of the normalized email: what hashed-email lookups match."""
    return hashlib.sha256(email_key(email).encode()).hexdigest()


def digest_prefix(digest: str) -> int | None:
    """The first 8 bytes of a SHA-256 hex digest as a signed integer (the indexed part of a
    hashed email); None when ``digest`` is not 64 hex digits."""
    digest = digest.strip().lower()
    if len(digest) != 64:
        return None
    try:
        return int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)
    except ValueError:
        return None


def check_phone(value: Any, field: str) -> str:
    """A phone identifier in E.164 form (``+`` and 7 to 15 digits; spaces, dashes, dots and
    parentheses are dropped)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string in E.164 form (+15551234567)", field=field)
    phone = value.strip().translate(_PHONE_PUNCTUATION)
    if not _PHONE.match(phone):
        raise InvalidInput(
            f"{field} '{value[:40]}' is not a phone number in E.164 form (+15551234567)",
            field=field,
        )
    return phone


def identifier(kind: str, value: Any, field: str) -> Identifier:
    """An identifier of ``kind`` (one of :data:`ALL_KINDS`) from a request value."""
    if kind == "phone":
        return Identifier("phone", check_phone(value, field))
    return Identifier(kind, check_value(value, field))  # type: ignore[arg-type]


def from_path(raw: str) -> Identifier:
    """Classify a Track v1 path identifier: ``cio_<id>``, an email, or else an id."""
    if raw.startswith(CIO_PREFIX) and len(raw) > len(CIO_PREFIX):
        return Identifier("cio_id", raw[len(CIO_PREFIX) :])
    value = check_value(raw, "identifier")
    return Identifier("email" if looks_like_email(value) else "id", value)


def check_value(value: Any, field: str) -> str:
    """An identifier value as a string: numbers become their decimal text; limits apply."""
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a string or a number", field=field)
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise InvalidInput(f"{field} must be a string or an integer", field=field)
        value = str(int(value))
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string or a number", field=field)
    text: str = value.strip()
    if not text:
        raise InvalidInput(f"{field} cannot be blank", field=field)
    if len(text.encode()) > MAX_ID_BYTES:
        raise InvalidInput(
            f"{field} '{text[:40]}…' cannot be longer than {MAX_ID_BYTES} bytes", field=field
        )
    return text


def optional_value(value: Any, field: str) -> str | None:
    """Like :func:`check_value`, but ``None`` and "" mean absent."""
    return None if value in (None, "") else check_value(value, field)


def from_object(obj: Any, field: str) -> Identifier:
    """Exactly one of ``id`` / ``email`` / ``cio_id`` in an object such as a merge side."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{field} must be an object with one of id, email or cio_id")
    present = [k for k in ALL_KINDS if obj.get(k) not in (None, "")]
    if len(present) != 1:
        raise InvalidInput(
            "You cannot have multiple identifiers or no identifier in the primary or secondary "
            f"objects: {field} needs exactly one of id, email or cio_id",
            field=field,
        )
    kind = present[0]
    return identifier(kind, obj[kind], f"{field}.{kind}")
