"""messaging: deliveries to send, transactional messages, topics, captured mail, dev clocks

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:00:00.000000
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")

_DELIVERY_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("origin", sa.String(length=32), nullable=True),
    sa.Column("template_id", sa.Integer(), nullable=True),
    sa.Column("content_id", sa.Integer(), nullable=True),
    sa.Column("campaign_id", sa.Integer(), nullable=True),
    sa.Column("action_id", sa.Integer(), nullable=True),
    sa.Column("broadcast_id", sa.Integer(), nullable=True),
    sa.Column("newsletter_id", sa.Integer(), nullable=True),
    sa.Column("trigger_id", sa.Integer(), nullable=True),
    sa.Column("recipient", sa.String(length=2000), nullable=True),
    sa.Column("subject", sa.String(length=2000), nullable=True),
    sa.Column("state", sa.String(length=16), nullable=True),
    sa.Column("send_at", sa.BigInteger(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=True),
    sa.Column("lease_until", sa.BigInteger(), nullable=True),
    sa.Column("lease_token", sa.String(length=32), nullable=True),
    sa.Column("failure_message", sa.String(length=2000), nullable=True),
    sa.Column("provider", sa.String(length=32), nullable=True),
    sa.Column("provider_id", sa.String(length=400), nullable=True),
    sa.Column("forgotten", sa.Boolean(), nullable=True),
    sa.Column("request_key", sa.String(length=200), nullable=True),
    sa.Column("payload", JSON, nullable=True),
    sa.Column("content", JSON, nullable=True),
    sa.Column("updated_at", sa.BigInteger(), nullable=True),
]


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"],
        ["workspaces.id"],
        name=op.f(f"fk_{table}_workspace_id_workspaces"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    # Plain ADD COLUMN and indexes: batch mode could rebuild a table (docs/architecture.md).
    op.add_column("workspaces", sa.Column("secret", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    workspaces = sa.table("workspaces", sa.column("id"), sa.column("secret"))
    for (ws,) in conn.execute(sa.select(workspaces.c.id)).all():
        conn.execute(
            workspaces.update().where(workspaces.c.id == ws).values(secret=secrets.token_hex(32))
        )
    for column in _DELIVERY_COLUMNS:
        op.add_column("deliveries", column)
    op.create_index(op.f("ix_deliveries_state_send_at"), "deliveries", ["state", "send_at"])
    op.create_index(
        op.f("ix_deliveries_workspace_id_person_pk_created_at"),
        "deliveries",
        ["workspace_id", "person_pk", "created_at"],
    )
    op.create_index(
        op.f("ix_deliveries_workspace_id_template_id_created_at"),
        "deliveries",
        ["workspace_id", "template_id", "created_at"],
    )
    op.create_index(
        op.f("ix_deliveries_workspace_id_request_key"),
        "deliveries",
        ["workspace_id", "request_key"],
        sqlite_where=sa.text("request_key IS NOT NULL"),
        postgresql_where=sa.text("request_key IS NOT NULL"),
    )
    op.create_table(
        "captured_messages",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("recipients", JSON, nullable=False),
        sa.Column("subject", sa.String(length=2000), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _workspace_fk("captured_messages"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_captured_messages")),
    )
    op.create_index(
        op.f("ix_captured_messages_workspace_id_pk"), "captured_messages", ["workspace_id", "pk"]
    )
    op.create_table(
        "email_suppressions",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("email_key", sa.String(length=400), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        _workspace_fk("email_suppressions"),
        sa.PrimaryKeyConstraint("workspace_id", "email_key", name=op.f("pk_email_suppressions")),
    )
    op.create_table(
        "transactional_messages",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("name_key", sa.String(length=400), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _workspace_fk("transactional_messages"),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_transactional_messages")),
    )
    op.create_index(
        op.f("ix_transactional_messages_workspace_id_name_key"),
        "transactional_messages",
        ["workspace_id", "name_key"],
    )
    op.create_table(
        "transactional_contents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        _workspace_fk("transactional_contents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactional_contents")),
        sa.UniqueConstraint(
            "workspace_id",
            "message_id",
            "language",
            name=op.f("uq_transactional_contents_workspace_id_message_id_language"),
        ),
    )
    op.create_table(
        "subscription_topics",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("subscribed_by_default", sa.Boolean(), nullable=False),
        _workspace_fk("subscription_topics"),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_subscription_topics")),
    )
    op.create_table(
        "workspace_clocks",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("offset", sa.Float(), nullable=False),
        sa.Column("frozen_at", sa.Float(), nullable=True),
        _workspace_fk("workspace_clocks"),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_workspace_clocks")),
    )
    op.create_table(
        "send_windows",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_send_windows")),
    )


def downgrade() -> None:
    for table in (
        "send_windows",
        "workspace_clocks",
        "subscription_topics",
        "transactional_contents",
        "transactional_messages",
        "email_suppressions",
        "captured_messages",
    ):
        op.drop_table(table)
    for name in (
        "ix_deliveries_workspace_id_request_key",
        "ix_deliveries_workspace_id_template_id_created_at",
        "ix_deliveries_workspace_id_person_pk_created_at",
        "ix_deliveries_state_send_at",
    ):
        op.drop_index(op.f(name), table_name="deliveries")
    for column in reversed(_DELIVERY_COLUMNS):
        op.drop_column("deliveries", column.name)
    op.drop_column("workspaces", "secret")
