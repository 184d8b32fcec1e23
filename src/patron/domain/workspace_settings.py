"""Per-workspace switches (set with ``patron workspace settings``)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from patron.domain.errors import InvalidInput

ObjectTypes = Literal["auto", "strict"]


class WorkspaceSettings(msgspec.Struct, frozen=True):
    """What a workspace allows beyond the defaults.

    ``phone_identifiers``: people may be addressed by ``phone`` (E.164), as in Customer.io
    workspaces with phone identifiers enabled. ``object_types``: ``auto`` creates an unknown
    object type on first use; ``strict`` rejects operations naming one.
    """

    phone_identifiers: bool = False
    object_types: ObjectTypes = "auto"


def settings_from(raw: Any) -> WorkspaceSettings:
    """Stored settings (unknown keys from newer versions ignored, missing ones defaulted)."""
    try:
        return msgspec.convert(raw or {}, WorkspaceSettings)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid workspace settings: {exc}") from exc
