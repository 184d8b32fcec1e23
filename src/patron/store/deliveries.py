"""SQL for message deliveries: queueing, the sender's leases and outcomes, metrics, reads."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain.identifiers import email_key
from patron.store.prepared import Prepared
from patron.store.schema import (
    captured_messages,
    deliveries,
    delivery_metrics,
    email_suppressions,
    send_windows,
)

# States (docs/messaging.md): queued → sent, or draft, failed, undeliverable, bounced.
QUEUED = "queued"
DRAFT = "draft"
SENT = "sent"
FAILED = "failed"
UNDELIVERABLE = "undeliverable"
BOUNCED = "bounced"


def workspace_of_delivery(conn: Connection, delivery_id: str, ws: int | None = None) -> int | None:
    """The workspace a delivery belongs to (restricted to ``ws`` when given), or None."""
    query = sa.select(deliveries.c.workspace_id).where(deliveries.c.delivery_id == delivery_id)
    if ws is not None:
        query = query.where(deliveries.c.workspace_id == ws)
    value = conn.execute(query.limit(1)).scalar_one_or_none()
    return None if value is None else int(value)


def create(
    conn: Connection, ws: int, delivery_id: str, person_pk: int | None, channel: str, now: int
) -> None:
    """Record a delivery made elsewhere (tests and seeds; messaging uses :func:`queue`)."""
    conn.execute(
        deliveries.insert().values(
            workspace_id=ws,
            delivery_id=delivery_id,
            person_pk=person_pk,
            channel=channel,
            created_at=now,
            state=SENT,
        )
    )


@dataclass(frozen=True)
class NewDelivery:
    """A message to send: who, what it is made of, and when."""

    delivery_id: str
    person_pk: int | None
    channel: str
    origin: str
    payload: dict[str, Any]
    send_at: int
    draft: bool = False
    template_id: int | None = None
    recipient: str | None = None
    request_key: str | None = None
    forgotten: bool = False
    campaign_id: int | None = None
    action_id: int | None = None


_QUEUE = Prepared(deliveries.insert(), json=("payload",))


def queue(conn: Connection, ws: int, new: NewDelivery, now: int) -> None:
    """Store a delivery to be sent at ``send_at`` (or held as a draft), with its ``created``
    (and ``drafted``) metric."""
    _QUEUE.run(
        conn,
        {
            "workspace_id": ws,
            "delivery_id": new.delivery_id,
            "person_pk": new.person_pk,
            "channel": new.channel,
            "origin": new.origin,
            "template_id": new.template_id,
            "campaign_id": new.campaign_id,
            "action_id": new.action_id,
            "recipient": new.recipient,
            "state": DRAFT if new.draft else QUEUED,
            "send_at": new.send_at,
            "attempts": 0,
            "forgotten": new.forgotten,
            "request_key": new.request_key,
            "payload": new.payload,
            "created_at": now,
            "updated_at": now,
        },
    )
    if new.draft:
        add_metric(conn, ws, new.delivery_id, "drafted", now)


def replayed(conn: Connection, ws: int, request_key: str, since: int) -> Row | None:
    """The delivery a request with this digest made since ``since``, if any."""
    d = deliveries
    row = conn.execute(
        sa.select(d)
        .where(d.c.workspace_id == ws, d.c.request_key == request_key, d.c.created_at >= since)
        .order_by(d.c.pk.desc())
        .limit(1)
    ).first()
    return None if row is None else Row.of(row)


@dataclass(frozen=True)
class Row:
    """A delivery as stored."""

    pk: int
    ws: int
    delivery_id: str
    person_pk: int | None
    channel: str
    origin: str | None
    template_id: int | None
    content_id: int | None
    campaign_id: int | None
    action_id: int | None
    recipient: str | None
    subject: str | None
    state: str | None
    send_at: int | None
    attempts: int
    failure_message: str | None
    forgotten: bool
    payload: dict[str, Any]
    content: dict[str, Any] | None
    created_at: int
    updated_at: int | None
    lease_token: str | None = None

    @classmethod
    def of(cls, r: Any) -> Row:
        """From a result row of ``deliveries``."""
        return cls(
            pk=r.pk,
            ws=r.workspace_id,
            delivery_id=r.delivery_id,
            person_pk=r.person_pk,
            channel=r.channel,
            origin=r.origin,
            template_id=r.template_id,
            content_id=r.content_id,
            campaign_id=r.campaign_id,
            action_id=r.action_id,
            recipient=r.recipient,
            subject=r.subject,
            state=r.state,
            send_at=r.send_at,
            attempts=r.attempts or 0,
            failure_message=r.failure_message,
            forgotten=bool(r.forgotten),
            payload=r.payload or {},
            content=r.content,
            created_at=r.created_at,
            updated_at=r.updated_at,
            lease_token=r.lease_token,
        )


def get(conn: Connection, ws: int | None, delivery_id: str) -> Row | None:
    """One delivery by id (in any workspace when ``ws`` is None)."""
    query = sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id)
    if ws is not None:
        query = query.where(deliveries.c.workspace_id == ws)
    row = conn.execute(query.limit(1)).first()
    return None if row is None else Row.of(row)


def due_filter(real_now: int, virtual_nows: dict[int, int]) -> Any:
    """Deliveries whose time has come: by real time, or by their workspace's virtual clock."""
    d = deliveries
    if not virtual_nows:
        return d.c.send_at <= real_now
    clauses = [sa.and_(d.c.workspace_id.not_in(list(virtual_nows)), d.c.send_at <= real_now)]
    clauses += [
        sa.and_(d.c.workspace_id == ws, d.c.send_at <= now) for ws, now in virtual_nows.items()
    ]
    return sa.or_(*clauses)


def claim(
    conn: Connection, due: Any, limit: int, real_now: int, lease: int, *, skip_locked: bool
) -> list[Row]:
    """Lease up to ``limit`` queued deliveries that are due (oldest due first) for ``lease``
    seconds of real time; each claim gets a fresh token that its outcome must present (a
    fencing token), so a worker whose lease ran out cannot record over another's."""
    d = deliveries
    query = (
        sa.select(d.c.pk)
        .where(
            d.c.state == QUEUED,
            due,
            sa.or_(d.c.lease_until.is_(None), d.c.lease_until < real_now),
        )
        .order_by(d.c.send_at, d.c.pk)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    keys = [r.pk for r in conn.execute(query).all()]
    if not keys:
        return []
    token = secrets.token_hex(8)
    conn.execute(
        d.update()
        .where(d.c.pk.in_(keys))
        .values(lease_until=real_now + lease, lease_token=token, attempts=d.c.attempts + 1)
    )
    rows = conn.execute(sa.select(d).where(d.c.pk.in_(keys)).order_by(d.c.send_at, d.c.pk))
    return [Row.of(r) for r in rows]


def _finish_values(
    row: Row,
    *,
    state: str,
    now: int,
    content: dict[str, Any] | None = None,
    subject: str | None = None,
    recipient: str | None = None,
    failure: str | None = None,
    provider: str | None = None,
    provider_id: str | None = None,
    retry_at: int | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": QUEUED if retry_at is not None else state,
        "lease_until": None,
        "lease_token": None,
        "updated_at": now,
        "failure_message": failure,
    }
    if retry_at is not None:
        values["send_at"] = retry_at
    if content is not None or (row.forgotten and state != QUEUED):
        values["content"] = None if row.forgotten else content
    if subject is not None:
        values["subject"] = subject[:2000]
    if recipient is not None:
        values["recipient"] = recipient[:2000]
    if provider is not None:
        values["provider"] = provider
    if provider_id is not None:
        values["provider_id"] = provider_id[:400]
    return values


def finish(
    conn: Connection,
    row: Row,
    *,
    state: str,
    now: int,
    content: dict[str, Any] | None = None,
    subject: str | None = None,
    recipient: str | None = None,
    failure: str | None = None,
    provider: str | None = None,
    provider_id: str | None = None,
    retry_at: int | None = None,
) -> bool:
    """Record the outcome of a claimed delivery, if the claim still holds (its token); returns
    whether it did. ``retry_at`` puts it back in the queue for another attempt."""
    d = deliveries
    values = _finish_values(
        row,
        state=state,
        now=now,
        content=content,
        subject=subject,
        recipient=recipient,
        failure=failure,
        provider=provider,
        provider_id=provider_id,
        retry_at=retry_at,
    )
    done = conn.execute(
        d.update().where(d.c.pk == row.pk, d.c.lease_token == row.lease_token).values(**values)
    )
    return bool(done.rowcount)


@dataclass(frozen=True)
class Finish:
    """The outcome of one claimed delivery for :func:`finish_all`: what :func:`finish` takes,
    and the metric to record with it (``data`` its details)."""

    row: Row
    state: str
    now: int
    metric: str
    data: dict[str, Any] | None = None
    content: dict[str, Any] | None = None
    subject: str | None = None
    recipient: str | None = None
    failure: str | None = None
    provider: str | None = None
    provider_id: str | None = None
    retry_at: int | None = None


_FINISH = Prepared(
    deliveries.update().where(
        deliveries.c.pk == sa.bindparam("b_pk"),
        deliveries.c.lease_token == sa.bindparam("b_token"),
    ),
    json=("content",),
)
_ADD_METRIC = Prepared(delivery_metrics.insert(), json=("data",))
_NO_TOKEN = object()


def finish_all(conn: Connection, finishes: Sequence[Finish]) -> list[bool]:
    """Record many outcomes with their metrics in a few statements, each only if its claim
    still holds (its fencing token, read under a row lock on PostgreSQL so that it cannot
    change before the update); returns for each whether it did."""
    if not finishes:
        return []
    d = deliveries
    query = sa.select(d.c.pk, d.c.lease_token).where(d.c.pk.in_([f.row.pk for f in finishes]))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    tokens = {pk: token for pk, token in conn.execute(query).all()}
    held = [tokens.get(f.row.pk, _NO_TOKEN) == f.row.lease_token for f in finishes]
    # One executemany per shape of update (a batch is usually all "sent").
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    metrics: list[dict[str, Any]] = []
    for f, ok in zip(finishes, held, strict=True):
        if not ok:
            continue
        values = _finish_values(
            f.row,
            state=f.state,
            now=f.now,
            content=f.content,
            subject=f.subject,
            recipient=f.recipient,
            failure=f.failure,
            provider=f.provider,
            provider_id=f.provider_id,
            retry_at=f.retry_at,
        )
        values["b_pk"], values["b_token"] = f.row.pk, f.row.lease_token
        shapes.setdefault(tuple(sorted(values)), []).append(values)
        metrics.append(
            {
                "workspace_id": f.row.ws,
                "delivery_id": f.row.delivery_id,
                "metric": f.metric,
                "source": "patron",
                "timestamp": f.now,
                "data": f.data or {},
            }
        )
    for rows in shapes.values():
        _FINISH.run_many(conn, rows)
    _ADD_METRIC.run_many(conn, metrics)
    return held


def release_draft(conn: Connection, ws: int, delivery_id: str, now: int) -> bool:
    """Send a draft now; returns whether there was such a draft."""
    d = deliveries
    done = conn.execute(
        d.update()
        .where(d.c.workspace_id == ws, d.c.delivery_id == delivery_id, d.c.state == DRAFT)
        .values(state=QUEUED, send_at=now, updated_at=now)
    )
    return bool(done.rowcount)


def add_metric(
    conn: Connection,
    ws: int,
    delivery_id: str,
    metric: str,
    now: int,
    *,
    source: str = "patron",
    data: dict[str, Any] | None = None,
) -> None:
    """Record one metric of a delivery (every occurrence is kept)."""
    conn.execute(
        delivery_metrics.insert().values(
            workspace_id=ws,
            delivery_id=delivery_id,
            metric=metric,
            source=source,
            timestamp=now,
            data=data or {},
        )
    )


def metrics_of(conn: Connection, ws: int, delivery_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Each delivery's metrics as ``{metric: first time}``."""
    m = delivery_metrics
    found: dict[str, dict[str, int]] = {d: {} for d in delivery_ids}
    if not delivery_ids:
        return found
    rows = conn.execute(
        sa.select(m.c.delivery_id, m.c.metric, sa.func.min(m.c.timestamp))
        .where(m.c.workspace_id == ws, m.c.delivery_id.in_(list(delivery_ids)))
        .group_by(m.c.delivery_id, m.c.metric)
    )
    for delivery_id, metric, first in rows:
        found[delivery_id][metric] = int(first)
    return found


def metric_events(conn: Connection, ws: int, delivery_id: str) -> list[dict[str, Any]]:
    """Every metric of one delivery, oldest first."""
    m = delivery_metrics
    rows = conn.execute(
        sa.select(m.c.metric, m.c.timestamp, m.c.source, m.c.data)
        .where(m.c.workspace_id == ws, m.c.delivery_id == delivery_id)
        .order_by(m.c.timestamp, m.c.pk)
    )
    return [
        {"metric": r.metric, "timestamp": r.timestamp, "source": r.source, "data": r.data}
        for r in rows
    ]


def capture(
    conn: Connection,
    ws: int,
    delivery_id: str,
    channel: str,
    recipients: list[str],
    subject: str | None,
    raw: bytes,
    now: int,
) -> None:
    """Keep a message as the capture provider's outbox (the dev inbox reads it)."""
    conn.execute(
        captured_messages.insert().values(
            workspace_id=ws,
            delivery_id=delivery_id,
            channel=channel,
            recipients=recipients,
            subject=subject,
            raw=raw,
            created_at=now,
        )
    )


def take_send_window(conn: Connection, provider: str, second: int, want: int, rate: int) -> int:
    """How many of ``want`` messages ``provider`` may hand over in ``second`` under ``rate``
    per second, counted across processes; records them as taken."""
    w = send_windows
    row = conn.execute(
        sa.select(w.c.second, w.c.sent).where(w.c.provider == provider).with_for_update()
    ).first()
    used = row.sent if row is not None and row.second == second else 0
    granted = max(0, min(want, rate - used))
    if row is None:
        conn.execute(w.insert().values(provider=provider, second=second, sent=granted))
    elif granted or row.second != second:
        conn.execute(
            w.update().where(w.c.provider == provider).values(second=second, sent=used + granted)
        )
    return granted


def return_window(conn: Connection, provider: str, second: int, unused: int) -> None:
    """Give back part of a window taken but not used."""
    w = send_windows
    if unused > 0:
        conn.execute(
            w.update()
            .where(w.c.provider == provider, w.c.second == second)
            .values(sent=w.c.sent - unused)
        )


def suppress_address(
    conn: Connection, ws: int, address: str, reason: str, delivery_id: str | None, now: int
) -> None:
    """Send no more email to ``address`` (after a hard bounce or a spam report)."""
    s = email_suppressions
    key = email_key(address)
    exists = conn.execute(
        sa.select(s.c.email_key).where(s.c.workspace_id == ws, s.c.email_key == key)
    ).first()
    if exists is None:
        conn.execute(
            s.insert().values(
                workspace_id=ws,
                email_key=key,
                reason=reason,
                delivery_id=delivery_id,
                created_at=now,
            )
        )


_ANY_EMAIL_SUPPRESSION = Prepared(
    sa.select(email_suppressions.c.email_key)
    .where(email_suppressions.c.workspace_id == sa.bindparam("ws"))
    .limit(1)
)


def any_email_suppression(conn: Connection, ws: int) -> bool:
    """Whether any address of the workspace is suppressed (most workspaces have none)."""
    return _ANY_EMAIL_SUPPRESSION.first(conn, {"ws": ws}) is not None


def suppressed_addresses(conn: Connection, ws: int, addresses: Sequence[str]) -> list[str]:
    """Those of ``addresses`` that no email may go to."""
    s = email_suppressions
    keys = {email_key(a): a for a in addresses}
    if not keys:
        return []
    found = conn.execute(
        sa.select(s.c.email_key).where(s.c.workspace_id == ws, s.c.email_key.in_(list(keys)))
    ).scalars()
    return [keys[k] for k in found]


def any_due(
    conn: Connection, due: Any, ws: int | None = None, *, claimable_at: int | None = None
) -> bool:
    """Whether a queued delivery (of ``ws``, if given) is due, claimed or not: the sender is
    not done. With ``claimable_at`` (real time), only one that no lease holds then: a claim
    would find it."""
    d = deliveries
    query = sa.select(d.c.pk).where(d.c.state == QUEUED, due)
    if ws is not None:
        query = query.where(d.c.workspace_id == ws)
    if claimable_at is not None:
        query = query.where(sa.or_(d.c.lease_until.is_(None), d.c.lease_until < claimable_at))
    return conn.execute(query.limit(1)).first() is not None


@dataclass(frozen=True)
class Filters:
    """What ``GET /v1/messages`` and its relatives select (all optional)."""

    person_pk: int | None = None
    template_id: int | None = None
    content_id: int | None = None
    campaign_id: int | None = None
    action_id: int | None = None
    channel: str | None = None
    drafts: bool = False
    metric: str | None = None
    start_ts: int | None = None
    end_ts: int | None = None


def page(
    conn: Connection, ws: int, filters: Filters, before_pk: int | None, limit: int
) -> list[tuple[Row, Any]]:
    """Deliveries newest first, below ``before_pk``, with the identifiers of their person
    (``None`` once the person is gone)."""
    from patron.store.schema import people

    d, m = deliveries, delivery_metrics
    query = (
        sa.select(d, people.c.cio_id, people.c.external_id, people.c.email)
        .select_from(d.outerjoin(people, people.c.pk == d.c.person_pk))
        .where(d.c.workspace_id == ws)
        .order_by(d.c.pk.desc())
        .limit(limit)
    )
    if before_pk is not None:
        query = query.where(d.c.pk < before_pk)
    query = query.where(d.c.state == DRAFT if filters.drafts else d.c.state != DRAFT)
    if filters.person_pk is not None:
        query = query.where(d.c.person_pk == filters.person_pk)
    if filters.template_id is not None:
        query = query.where(d.c.template_id == filters.template_id)
    if filters.content_id is not None:
        query = query.where(d.c.content_id == filters.content_id)
    if filters.campaign_id is not None:
        query = query.where(d.c.campaign_id == filters.campaign_id)
    if filters.action_id is not None:
        query = query.where(d.c.action_id == filters.action_id)
    if filters.channel is not None:
        query = query.where(d.c.channel == filters.channel)
    if filters.start_ts is not None:
        query = query.where(d.c.created_at >= filters.start_ts)
    if filters.end_ts is not None:
        query = query.where(d.c.created_at <= filters.end_ts)
    if filters.metric is not None:
        query = query.where(
            sa.exists().where(
                m.c.workspace_id == ws,
                m.c.delivery_id == d.c.delivery_id,
                m.c.metric == filters.metric,
            )
        )
    rows = conn.execute(query).all()
    return [(Row.of(r), r) for r in rows]


def last_of_campaign(conn: Connection, ws: int, campaign_id: int, person_pk: int) -> Any:
    """The newest delivery a campaign made for a person (delivery_id, created_at), if any."""
    d = deliveries
    return conn.execute(
        sa.select(d.c.delivery_id, d.c.created_at)
        .where(d.c.workspace_id == ws, d.c.campaign_id == campaign_id, d.c.person_pk == person_pk)
        .order_by(d.c.pk.desc())
        .limit(1)
    ).first()
