"""campaigns, their versions, journey runs and their steps

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"],
        ["workspaces.id"],
        name=op.f(f"fk_{table}_workspace_id_workspaces"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("trigger_kind", sa.String(length=32), nullable=False),
        sa.Column("trigger_key", sa.String(length=400), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("webhook_token", sa.String(length=32), nullable=True),
        sa.Column("activated_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _workspace_fk("campaigns"),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_campaigns")),
    )
    op.create_index(
        op.f("ix_campaigns_workspace_id_trigger_kind_trigger_key"),
        "campaigns",
        ["workspace_id", "trigger_kind", "trigger_key"],
    )
    op.create_index("uq_campaigns_webhook_token", "campaigns", ["webhook_token"], unique=True)
    op.create_table(
        "campaign_versions",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _workspace_fk("campaign_versions"),
        sa.PrimaryKeyConstraint(
            "workspace_id", "campaign_id", "version", name=op.f("pk_campaign_versions")
        ),
    )
    op.create_table(
        "journey_runs",
        sa.Column("pk", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("person_pk", BigId, nullable=True),
        sa.Column("entry_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("wake_at", sa.BigInteger(), nullable=True),
        sa.Column("waiting_since", sa.BigInteger(), nullable=True),
        sa.Column("context", JSON, nullable=False),
        sa.Column("exit_reason", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("entered_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_pk"],
            ["people.pk"],
            name=op.f("fk_journey_runs_person_pk_people"),
            ondelete="CASCADE",
        ),
        _workspace_fk("journey_runs"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_journey_runs")),
    )
    op.create_index(
        "uq_journey_runs_entry",
        "journey_runs",
        ["workspace_id", "campaign_id", "person_pk", "entry_key"],
        unique=True,
    )
    op.create_index(op.f("ix_journey_runs_status_wake_at"), "journey_runs", ["status", "wake_at"])
    op.create_index(op.f("ix_journey_runs_person_pk"), "journey_runs", ["person_pk"])
    op.create_table(
        "journey_steps",
        sa.Column("pk", BigId, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("run_pk", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("person_pk", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        _workspace_fk("journey_steps"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_journey_steps")),
    )
    op.create_index(
        op.f("ix_journey_steps_workspace_id_campaign_id_action_id"),
        "journey_steps",
        ["workspace_id", "campaign_id", "action_id"],
    )
    op.create_index(op.f("ix_journey_steps_run_pk"), "journey_steps", ["run_pk"])


def downgrade() -> None:
    for table in ("journey_steps", "journey_runs", "campaign_versions", "campaigns"):
        op.drop_table(table)
