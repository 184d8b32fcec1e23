"""workspace settings and phone identifiers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 01:08:00.243124
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: on SQLite a batch rebuild drops and re-creates the
    # table, and dropping `workspaces` would cascade-delete every row that references it.
    op.add_column("people", sa.Column("phone", sa.String(length=32), nullable=True))
    op.create_index(
        "uq_people_workspace_id_phone", "people", ["workspace_id", "phone"], unique=True
    )
    op.add_column(
        "workspaces",
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("workspaces", "settings")
    op.drop_index("uq_people_workspace_id_phone", table_name="people")
    op.drop_column("people", "phone")
