"""Identity resolution for identify calls (wire spec §2.2), as a pure decision.

The store looks up who currently holds each identifier named in a call and asks
:func:`resolve_identify` what to do; it never decides identity rules itself.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from patron.domain.identifiers import Identifier, email_key


class PersonIds(msgspec.Struct, frozen=True):
    """The identifiers a stored person holds."""

    pk: int
    cio_id: str
    id: str | None = None
    email: str | None = None
    phone: str | None = None

    def value(self, kind: str) -> str | None:
        """This person's identifier of the given kind."""
        if kind == "id":
            return self.id
        if kind == "email":
            return self.email
        if kind == "phone":
            return self.phone
        return self.cio_id


class Resolution(msgspec.Struct, frozen=True):
    """What an identify call does: create, update ``person``, or fail (nothing changes)."""

    action: Literal["create", "update", "fail"]
    person: PersonIds | None = None
    assign: dict[str, str] = {}
    reason: str = ""


def _same(kind: str, a: str, b: str) -> bool:
    return email_key(a) == email_key(b) if kind == "email" else a == b


def resolve_identify(
    who: Identifier,
    assign: dict[str, str],
    holders: dict[str, PersonIds | None],
    *,
    update_only: bool,
) -> Resolution:
    """Decide an identify call.

    ``who`` is the addressed identifier, ``assign`` the ``id``/``email`` (and, in workspaces
    with phone identifiers, ``phone``) named in the body,
    ``holders`` who currently holds each of those (keyed ``"path"`` and by kind).
    """
    addressed = holders.get("path")
    if who.kind == "cio_id":
        if addressed is None:
            return Resolution("fail", reason=f"no person has cio_id {who.value}")
        return _update(addressed, assign, holders, changes_allowed=True)

    wanted = dict(assign)
    if who.kind in wanted and not _same(who.kind, wanted[who.kind], who.value):
        return Resolution(
            "fail",
            person=addressed,
            reason=f"{who.kind} can only be changed when the person is addressed by cio_id",
        )
    wanted[who.kind] = who.value
    owners = {p.pk: p for p in (addressed, *(holders.get(k) for k in wanted)) if p is not None}
    if not owners:
        if update_only:
            return Resolution("fail", reason="_update is set and no person matches")
        return Resolution("create", assign=wanted)
    if len(owners) > 1:
        described = ", ".join(f"{k} {v}" for k, v in wanted.items())
        return Resolution(
            "fail",
            person=addressed,
            reason=f"identifiers belong to different people ({described})",
        )
    (person,) = owners.values()
    return _update(person, wanted, holders, changes_allowed=False)


def _update(
    person: PersonIds,
    wanted: dict[str, str],
    holders: dict[str, PersonIds | None],
    *,
    changes_allowed: bool,
) -> Resolution:
    to_assign: dict[str, str] = {}
    for kind, value in wanted.items():
        holder = holders.get(kind)
        if holder is not None and holder.pk != person.pk:
            return Resolution(
                "fail", person=person, reason=f"{kind} {value} belongs to another person"
            )
        current = person.value(kind)
        if current is not None and _same(kind, current, value):
            continue
        if current is not None and not changes_allowed:
            return Resolution(
                "fail",
                person=person,
                reason=f"{kind} can only be changed when the person is addressed by cio_id",
            )
        to_assign[kind] = value
    return Resolution("update", person=person, assign=to_assign)
