"""Every table, as SQLAlchemy Core metadata (the source alembic migrations are checked against).

Each row carries ``workspace_id``, and every unique key starts with it, so workspaces are
isolated and the schema can later be distributed by workspace (docs/scaling.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ws() -> sa.Column[int]:
    return sa.Column(
        "workspace_id",
        sa.Integer,
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    )


workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("site_id", sa.String(64), nullable=False, unique=True),
    sa.Column("track_key_hash", sa.String(64), nullable=False),
    sa.Column("app_key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("pipelines_key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # domain.workspace_settings.WorkspaceSettings; absent keys take their defaults.
    sa.Column("settings", JSON, nullable=False, server_default=sa.text("'{}'")),
    # Signs tracking links, unsubscribe and preference-page tokens (never leaves the server).
    sa.Column("secret", sa.String(64)),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("cio_id", sa.String(64), nullable=False),
    sa.Column("external_id", sa.String(200)),
    sa.Column("email", sa.String(400)),
    sa.Column("email_key", sa.String(400)),
    # SHA-256 hex of email_key: lookups by hashed email (docs/pipelines.md), found through
    # email_hash, its first 8 bytes as a signed integer: a random key costs a page write per
    # insert, and 8 bytes fill far fewer pages than 64 hex digits (docs/benchmarks.md).
    sa.Column("email_sha256", sa.String(64)),
    sa.Column("email_hash", sa.BigInteger),
    # E.164, only in workspaces with phone identifiers enabled.
    sa.Column("phone", sa.String(32)),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("attribute_ts", JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace_id", "cio_id"),
    sa.UniqueConstraint("workspace_id", "external_id"),
    sa.UniqueConstraint("workspace_id", "email_key"),
    # An index, not a constraint: SQLite adds it without rebuilding the table.
    sa.Index("uq_people_workspace_id_phone", "workspace_id", "phone", unique=True),
    sa.Index(None, "workspace_id", "email_hash"),
)

anonymous_ids = sa.Table(
    "anonymous_ids",
    metadata,
    _ws(),
    sa.Column("anonymous_id", sa.String(200), nullable=False),
    sa.Column("person_pk", BigId, sa.ForeignKey("people.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("linked_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "anonymous_id"),
    sa.Index(None, "person_pk"),
)

# Traits of a visitor known only by an anonymous id (Pipelines identify without userId); they
# move to the person when the anonymous id is linked.
anonymous_profiles = sa.Table(
    "anonymous_profiles",
    metadata,
    _ws(),
    sa.Column("anonymous_id", sa.String(200), nullable=False),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("attribute_ts", JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "anonymous_id"),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("person_pk", BigId, sa.ForeignKey("people.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("token", sa.String(400), nullable=False),
    sa.Column("platform", sa.String(100), nullable=False),
    sa.Column("last_used", sa.BigInteger),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace_id", "token"),
    sa.Index(None, "person_pk"),
)

# Events, page and screen views, and system activities (attribute changes, merges, failures).
# Anonymous events have no person_pk until their anonymous id is linked to a person.
activities = sa.Table(
    "activities",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("person_pk", BigId, sa.ForeignKey("people.pk", ondelete="CASCADE")),
    sa.Column("anonymous_id", sa.String(200)),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200)),
    sa.Column("event_id", sa.String(200)),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("data", JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index(None, "workspace_id", "person_pk", "timestamp", "seq"),
    sa.Index(None, "workspace_id", "timestamp", "seq"),
    # Segment builds and time windows: "who did NAME (since T)", answered from the index alone.
    sa.Index(
        None,
        "workspace_id",
        "name",
        "type",
        "timestamp",
        "person_pk",
        sqlite_where=sa.text("person_pk IS NOT NULL"),
        postgresql_where=sa.text("person_pk IS NOT NULL"),
    ),
    # Partial indexes: most activities have neither, and an entry not written is a page not
    # synced on commit (docs/benchmarks.md).
    sa.Index(
        "uq_activities_workspace_id_event_id",
        "workspace_id",
        "event_id",
        unique=True,
        sqlite_where=sa.text("event_id IS NOT NULL"),
        postgresql_where=sa.text("event_id IS NOT NULL"),
    ),
    sa.Index(
        None,
        "workspace_id",
        "anonymous_id",
        sqlite_where=sa.text("anonymous_id IS NOT NULL"),
        postgresql_where=sa.text("anonymous_id IS NOT NULL"),
    ),
)

# A suppressed person's identifiers; rows of one suppression share ``block``.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value_key", sa.String(400), nullable=False),
    sa.Column("block", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace_id", "kind", "value_key"),
    sa.Index(None, "workspace_id", "block"),
)

forms = sa.Table(
    "forms",
    metadata,
    _ws(),
    sa.Column("form_id", sa.String(200), nullable=False),
    sa.Column("fields", JSON, nullable=False),
    sa.Column("submissions", sa.Integer, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_submitted_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "form_id"),
)

# One row per message of any origin (transactional now; campaigns, broadcasts, newsletters and
# webhook actions later). ``payload`` is what the message is made from (the send request's
# data and overrides), ``content`` what was rendered (null once forgotten); the sender worker
# claims rows in state ``queued`` whose ``send_at`` has come, under a lease.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("delivery_id", sa.String(200), nullable=False),
    sa.Column("person_pk", BigId, sa.ForeignKey("people.pk", ondelete="SET NULL")),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("origin", sa.String(32)),
    sa.Column("template_id", sa.Integer),
    sa.Column("content_id", sa.Integer),
    sa.Column("campaign_id", sa.Integer),
    sa.Column("action_id", sa.Integer),
    sa.Column("broadcast_id", sa.Integer),
    sa.Column("newsletter_id", sa.Integer),
    sa.Column("trigger_id", sa.Integer),
    sa.Column("recipient", sa.String(2000)),
    sa.Column("subject", sa.String(2000)),
    sa.Column("state", sa.String(16)),
    sa.Column("send_at", sa.BigInteger),
    sa.Column("attempts", sa.Integer),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("lease_token", sa.String(32)),
    sa.Column("failure_message", sa.String(2000)),
    sa.Column("provider", sa.String(32)),
    sa.Column("provider_id", sa.String(400)),
    sa.Column("forgotten", sa.Boolean),
    sa.Column("request_key", sa.String(200)),
    sa.Column("payload", JSON),
    sa.Column("content", JSON),
    sa.Column("updated_at", sa.BigInteger),
    sa.UniqueConstraint("workspace_id", "delivery_id"),
    sa.Index(None, "delivery_id"),
    sa.Index(None, "state", "send_at"),
    sa.Index(None, "workspace_id", "person_pk", "created_at"),
    sa.Index(None, "workspace_id", "template_id", "created_at"),
    # A digest of the send request: a client's replay (X-Retry-Count) finds its delivery.
    sa.Index(
        None,
        "workspace_id",
        "request_key",
        sqlite_where=sa.text("request_key IS NOT NULL"),
        postgresql_where=sa.text("request_key IS NOT NULL"),
    ),
)

delivery_metrics = sa.Table(
    "delivery_metrics",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("delivery_id", sa.String(200), nullable=False),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("data", JSON, nullable=False),
    sa.Index(None, "workspace_id", "delivery_id"),
)

# What the capture provider kept: the message exactly as it would have left (dev inbox).
captured_messages = sa.Table(
    "captured_messages",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("delivery_id", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("recipients", JSON, nullable=False),
    sa.Column("subject", sa.String(2000)),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Index(None, "workspace_id", "pk"),
)

# Email addresses that bounced hard or reported spam: no email goes to them again (ESP
# suppressions).
email_suppressions = sa.Table(
    "email_suppressions",
    metadata,
    _ws(),
    sa.Column("email_key", sa.String(400), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("delivery_id", sa.String(200)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "email_key"),
)

# Transactional messages (templates) from ``patron apply`` or ``auto_create``; ids are the
# workspace's own integers. ``name_key`` is the trigger name lower-cased (names match
# case-insensitively).
transactional_messages = sa.Table(
    "transactional_messages",
    metadata,
    _ws(),
    sa.Column("id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(400), nullable=False),
    sa.Column("name_key", sa.String(400), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("options", JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "id"),
    sa.Index(None, "workspace_id", "name_key"),
)

# One variant of a transactional message per language ('' is the default); ``id`` is the
# App API's content_id.
transactional_contents = sa.Table(
    "transactional_contents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("message_id", sa.Integer, nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("fields", JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace_id", "message_id", "language"),
)

subscription_topics = sa.Table(
    "subscription_topics",
    metadata,
    _ws(),
    sa.Column("id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(400), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False),
    sa.Column("subscribed_by_default", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "id"),
)

# A workspace's virtual clock (dev mode), kept so that a restart never moves time back.
workspace_clocks = sa.Table(
    "workspace_clocks",
    metadata,
    _ws(),
    sa.Column("offset", sa.Float, nullable=False),
    sa.Column("frozen_at", sa.Float),
    sa.PrimaryKeyConstraint("workspace_id"),
)

# Messages each sending provider handed over in one second, across processes (rate limits).
send_windows = sa.Table(
    "send_windows",
    metadata,
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("second", sa.BigInteger, nullable=False),
    sa.Column("sent", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("provider"),
)

# The change log: one row per committed change to a person, consumed by workers in order.
changes = sa.Table(
    "changes",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("person_pk", sa.BigInteger),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # Segment entries and exits name their segment.
    sa.Column("segment_id", sa.Integer),
    # PostgreSQL: the writing transaction's id, so that consumers read in a safe order
    # (store/changes.py). SQLite has one writer, so sequence order is commit order; NULL there.
    sa.Column("txid", sa.BigInteger),
    sa.Index(
        None,
        "txid",
        "seq",
        sqlite_where=sa.text("txid IS NOT NULL"),
        postgresql_where=sa.text("txid IS NOT NULL"),
    ),
)

# How far each change-log consumer has read (store/changes.py); not per workspace.
consumers = sa.Table(
    "consumers",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("txid", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

# Segments: manual (members added by API or import) or dynamic (``conditions``, kept exact by
# the segment worker). ``evaluated_at`` is the clock time that time-relative conditions were
# last brought up to date for.
segments = sa.Table(
    "segments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False),
    sa.Column("tags", JSON),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("conditions", JSON),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("progress", sa.Integer),
    sa.Column("evaluated_at", sa.BigInteger),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index(None, "workspace_id", "name"),
)

segment_members = sa.Table(
    "segment_members",
    metadata,
    _ws(),
    sa.Column(
        "segment_id",
        sa.Integer,
        sa.ForeignKey("segments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("person_pk", BigId, sa.ForeignKey("people.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("entered_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("segment_id", "person_pk"),
    sa.Index(None, "person_pk"),
)

# Object types exist per workspace; an unknown type id is created on first use.
object_types = sa.Table(
    "object_types",
    metadata,
    _ws(),
    sa.Column("type_id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "type_id"),
)

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("type_id", sa.Integer, nullable=False),
    sa.Column("object_id", sa.String(200), nullable=False),
    sa.Column("cio_object_id", sa.String(64), nullable=False),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("attribute_ts", JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace_id", "type_id", "object_id"),
    sa.UniqueConstraint("workspace_id", "cio_object_id"),
)

# A relationship joins an object to a person, or to an anonymous id until that id is linked.
relationships = sa.Table(
    "relationships",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("object_pk", BigId, sa.ForeignKey("objects.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("person_pk", BigId, sa.ForeignKey("people.pk", ondelete="CASCADE")),
    sa.Column("anonymous_id", sa.String(200)),
    sa.Column("attributes", JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index(None, "object_pk", "person_pk", unique=True),
    sa.Index(None, "person_pk"),
    sa.Index(
        None,
        "workspace_id",
        "anonymous_id",
        sqlite_where=sa.text("anonymous_id IS NOT NULL"),
        postgresql_where=sa.text("anonymous_id IS NOT NULL"),
    ),
)

# Saved states of a workspace (dev control plane): every workspace-scoped row, msgpack-encoded.
snapshots = sa.Table(
    "snapshots",
    metadata,
    _ws(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "name"),
)

# Customer exports (App API ``/v1/exports``), built by the export worker. ``content`` is the
# gzip-compressed CSV; ``secret`` signs the expiring download URLs of this export only.
exports = sa.Table(
    "exports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("filters", JSON),
    sa.Column("description", sa.String(2000), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("downloads", sa.Integer, nullable=False),
    sa.Column("failure", sa.String(2000)),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("content", sa.LargeBinary),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index(None, "workspace_id", "id"),
    sa.Index(None, "status"),
)

# Campaigns from ``patron apply``: the current definition, and every version runs may pin.
# ``trigger_key`` is what starts a run (an event or attribute name, a segment id, or the
# webhook token), so that the journey worker finds the campaigns a change may start.
campaigns = sa.Table(
    "campaigns",
    metadata,
    _ws(),
    sa.Column("id", sa.Integer, nullable=False),
    sa.Column("name", sa.String(400), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("trigger_kind", sa.String(32), nullable=False),
    sa.Column("trigger_key", sa.String(400)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("webhook_token", sa.String(32)),
    sa.Column("activated_at", sa.BigInteger),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "id"),
    sa.Index(None, "workspace_id", "trigger_kind", "trigger_key"),
    sa.Index("uq_campaigns_webhook_token", "webhook_token", unique=True),
)

campaign_versions = sa.Table(
    "campaign_versions",
    metadata,
    _ws(),
    sa.Column("campaign_id", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("definition", JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("workspace_id", "campaign_id", "version"),
)

# One row per entrance into a campaign: the run's position, status and timer (``wake_at``),
# claimed by journey workers under a lease with a fencing token.
journey_runs = sa.Table(
    "journey_runs",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("campaign_id", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("person_pk", BigId, sa.ForeignKey("people.pk", ondelete="CASCADE")),
    sa.Column("entry_key", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("position", sa.Integer),
    sa.Column("wake_at", sa.BigInteger),
    sa.Column("waiting_since", sa.BigInteger),
    sa.Column("context", JSON, nullable=False),
    sa.Column("exit_reason", sa.String(200)),
    sa.Column("lease_until", sa.BigInteger),
    sa.Column("lease_token", sa.String(32)),
    sa.Column("entered_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("ended_at", sa.BigInteger),
    sa.Index(
        "uq_journey_runs_entry",
        "workspace_id",
        "campaign_id",
        "person_pk",
        "entry_key",
        unique=True,
    ),
    sa.Index(None, "status", "wake_at"),
    sa.Index(None, "person_pk"),
)

# Every step a run took, in order: per-action counts, "who is here now", the person's timeline.
journey_steps = sa.Table(
    "journey_steps",
    metadata,
    sa.Column("pk", BigId, primary_key=True, autoincrement=True),
    _ws(),
    sa.Column("run_pk", sa.BigInteger, nullable=False),
    sa.Column("campaign_id", sa.Integer, nullable=False),
    sa.Column("action_id", sa.Integer),
    sa.Column("person_pk", sa.BigInteger),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index(None, "workspace_id", "campaign_id", "action_id"),
    sa.Index(None, "run_pk"),
)
