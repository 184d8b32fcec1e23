"""Rows of a people CSV (``patron import people``) as identify operations.

The file has a header row. One column names the person (``id``, ``email`` or ``cio_id``);
every other column is an attribute (a ``cio_id`` column is only read when it is the match
column, since Patron assigns cio_ids). Empty cells leave an attribute as it is. Values stay
text, as the columns of a CSV are; ``created_at`` and other rules apply as on Track v1.
"""

from __future__ import annotations

from collections.abc import Sequence

from patron.domain.attributes import parse_identify
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import identifier
from patron.domain.operations import Identify

MATCH_COLUMNS = ("id", "email", "cio_id")


def match_column(header: Sequence[str], match: str | None) -> str:
    """The column that names people: ``match`` if given, else the first of id/email/cio_id."""
    names = [h.strip() for h in header]
    if match is not None:
        if match not in names:
            raise InvalidInput(f"the file has no {match!r} column", field=match)
        return match
    for name in MATCH_COLUMNS:
        if name in names:
            return name
    raise InvalidInput("the file needs an id, email or cio_id column", field="header")


def row_operation(header: Sequence[str], row: Sequence[str], match: str) -> Identify:
    """The identify operation for one data row (``InvalidInput`` says why it cannot be)."""
    names = [h.strip() for h in header]
    if len(row) != len(names):
        raise InvalidInput(f"the row has {len(row)} cells; the header has {len(names)}")
    cells = dict(zip(names, row, strict=True))
    value = cells.pop(match).strip()
    if not value:
        raise InvalidInput(f"the {match} cell is empty", field=match)
    if match != "cio_id":
        cells.pop("cio_id", None)
    who = identifier(match, value, match)
    return parse_identify(who, {k: v for k, v in cells.items() if v != ""})
