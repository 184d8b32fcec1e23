"""hashed-email lookups through an 8-byte integer index instead of the 64-digit hex one

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 23:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _prefix(digest: str) -> int:
    # The same value as patron.domain.identifiers.email_hash, frozen here with the migration.
    return int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)


def upgrade() -> None:
    # Plain ADD COLUMN and indexes: batch mode could rebuild the table (docs/architecture.md).
    op.add_column("people", sa.Column("email_hash", sa.BigInteger(), nullable=True))
    op.drop_index(op.f("ix_people_workspace_id_email_sha256"), table_name="people")
    people = sa.table("people", sa.column("pk"), sa.column("email_sha256"), sa.column("email_hash"))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(people.c.pk, people.c.email_sha256).where(people.c.email_sha256.isnot(None))
    ).all()
    update = (
        people.update()
        .where(people.c.pk == sa.bindparam("row_pk"))
        .values(email_hash=sa.bindparam("prefix"))
    )
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        conn.execute(update, [{"row_pk": pk, "prefix": _prefix(digest)} for pk, digest in chunk])
    op.create_index(
        op.f("ix_people_workspace_id_email_hash"), "people", ["workspace_id", "email_hash"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_people_workspace_id_email_hash"), table_name="people")
    op.create_index(
        op.f("ix_people_workspace_id_email_sha256"), "people", ["workspace_id", "email_sha256"]
    )
    op.drop_column("people", "email_hash")
