"""segments, segment members, change-log consumers; changes name segments and transactions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN and indexes: no table rebuild on SQLite (docs/architecture.md).
    op.add_column("changes", sa.Column("segment_id", sa.Integer(), nullable=True))
    op.add_column("changes", sa.Column("txid", sa.BigInteger(), nullable=True))
    op.create_index(
        op.f("ix_changes_txid_seq"),
        "changes",
        ["txid", "seq"],
        sqlite_where=sa.text("txid IS NOT NULL"),
        postgresql_where=sa.text("txid IS NOT NULL"),
    )
    op.create_table(
        "consumers",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_consumers")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("tags", JSON, nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("conditions", JSON, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("evaluated_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_segments_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    op.create_index(op.f("ix_segments_workspace_id_name"), "segments", ["workspace_id", "name"])
    op.create_table(
        "segment_members",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("person_pk", BigId, nullable=False),
        sa.Column("entered_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_segment_members_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_segment_members_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_pk"],
            ["people.pk"],
            name=op.f("fk_segment_members_person_pk_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", "person_pk", name=op.f("pk_segment_members")),
    )
    op.create_index(op.f("ix_segment_members_person_pk"), "segment_members", ["person_pk"])


def downgrade() -> None:
    op.drop_table("segment_members")
    op.drop_table("segments")
    op.drop_table("consumers")
    op.drop_index(op.f("ix_changes_txid_seq"), table_name="changes")
    op.drop_column("changes", "txid")
    op.drop_column("changes", "segment_id")
