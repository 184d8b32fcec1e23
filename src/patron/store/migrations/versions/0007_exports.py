"""customer exports; an index for segment builds over events

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("filters", JSON, nullable=True),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("failure", sa.String(length=2000), nullable=True),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_exports_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
    )
    op.create_index(op.f("ix_exports_workspace_id_id"), "exports", ["workspace_id", "id"])
    op.create_index(op.f("ix_exports_status"), "exports", ["status"])
    op.create_index(
        op.f("ix_activities_workspace_id_name_type_timestamp_person_pk"),
        "activities",
        ["workspace_id", "name", "type", "timestamp", "person_pk"],
        sqlite_where=sa.text("person_pk IS NOT NULL"),
        postgresql_where=sa.text("person_pk IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_activities_workspace_id_name_type_timestamp_person_pk"), table_name="activities"
    )
    op.drop_table("exports")
