"""Journey runs (one per entrance into a campaign) and the log of their steps."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron.domain import journey
from patron.store.schema import journey_runs, journey_steps

ACTIVE = (journey.RUNNING, journey.WAITING)


@dataclass(frozen=True)
class RunRow:
    """A stored run, with the token of the claim that read it."""

    pk: int
    ws: int
    campaign_id: int
    version: int
    person_pk: int | None
    entry_key: str
    state: journey.Run
    context: dict[str, Any]
    entered_at: int
    lease_token: str | None

    @classmethod
    def of(cls, r: Any) -> RunRow:
        """From a result row of ``journey_runs``."""
        return cls(
            pk=r.pk,
            ws=r.workspace_id,
            campaign_id=r.campaign_id,
            version=r.version,
            person_pk=r.person_pk,
            entry_key=r.entry_key,
            state=journey.Run(
                key=f"{r.workspace_id}:{r.pk}",
                position=r.position,
                status=r.status,
                wake_at=r.wake_at,
                waiting_since=r.waiting_since,
                exit_reason=r.exit_reason,
            ),
            context=r.context or {},
            entered_at=r.entered_at,
            lease_token=r.lease_token,
        )


def exists(conn: Connection, ws: int, campaign_id: int, person_pk: int | None, key: str) -> bool:
    """Whether this entrance was already made."""
    r = journey_runs
    where = [r.c.workspace_id == ws, r.c.campaign_id == campaign_id, r.c.entry_key == key]
    where.append(r.c.person_pk.is_(None) if person_pk is None else r.c.person_pk == person_pk)
    return conn.execute(sa.select(r.c.pk).where(*where).limit(1)).first() is not None


def latest(conn: Connection, ws: int, campaign_id: int, person_pk: int) -> Any:
    """The person's newest run of the campaign (status, entered_at), if any."""
    r = journey_runs
    return conn.execute(
        sa.select(r.c.status, r.c.entered_at)
        .where(r.c.workspace_id == ws, r.c.campaign_id == campaign_id, r.c.person_pk == person_pk)
        .order_by(r.c.pk.desc())
        .limit(1)
    ).first()


def enter(
    conn: Connection,
    ws: int,
    campaign_id: int,
    version: int,
    person_pk: int | None,
    key: str,
    position: int | None,
    context: dict[str, Any],
    now: int,
) -> int:
    """Start a run at the workflow's first action; returns its key."""
    return int(
        conn.execute(
            journey_runs.insert()
            .values(
                workspace_id=ws,
                campaign_id=campaign_id,
                version=version,
                person_pk=person_pk,
                entry_key=key,
                status=journey.RUNNING,
                position=position,
                context=context,
                entered_at=now,
                updated_at=now,
            )
            .returning(journey_runs.c.pk)
        ).scalar_one()
    )


def due_filter(real_now: int, virtual_nows: dict[int, int]) -> Any:
    """Runs that can go on: running ones, and waiting ones whose time has come (by their
    workspace's clock)."""
    r = journey_runs
    waiting_due: Any
    if virtual_nows:
        clauses = [sa.and_(r.c.workspace_id.not_in(list(virtual_nows)), r.c.wake_at <= real_now)]
        clauses += [
            sa.and_(r.c.workspace_id == ws, r.c.wake_at <= now) for ws, now in virtual_nows.items()
        ]
        waiting_due = sa.or_(*clauses)
    else:
        waiting_due = r.c.wake_at <= real_now
    return sa.or_(
        r.c.status == journey.RUNNING,
        sa.and_(r.c.status == journey.WAITING, r.c.wake_at.isnot(None), waiting_due),
    )


def claim(
    conn: Connection, due: Any, limit: int, real_now: int, lease: int, *, skip_locked: bool
) -> list[RunRow]:
    """Lease up to ``limit`` runs that can go on, each with a fencing token."""
    r = journey_runs
    query = (
        sa.select(r.c.pk)
        .where(due, sa.or_(r.c.lease_until.is_(None), r.c.lease_until < real_now))
        .order_by(r.c.pk)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    keys = [row.pk for row in conn.execute(query)]
    if not keys:
        return []
    token = secrets.token_hex(8)
    conn.execute(
        r.update().where(r.c.pk.in_(keys)).values(lease_until=real_now + lease, lease_token=token)
    )
    return [RunRow.of(row) for row in conn.execute(sa.select(r).where(r.c.pk.in_(keys)))]


def waiting_for_event(conn: Connection, ws: int, person_pk: int) -> list[int]:
    """The person's runs that wait (on anything): an event may end their wait."""
    r = journey_runs
    return [
        row.pk
        for row in conn.execute(
            sa.select(r.c.pk).where(
                r.c.workspace_id == ws, r.c.person_pk == person_pk, r.c.status == journey.WAITING
            )
        )
    ]


def wake(conn: Connection, keys: Sequence[int]) -> None:
    """Have waiting runs looked at again on the next pass."""
    if keys:
        r = journey_runs
        conn.execute(
            r.update()
            .where(r.c.pk.in_(list(keys)), r.c.status == journey.WAITING)
            .values(status=journey.RUNNING)
        )


def save(conn: Connection, row: RunRow, state: journey.Run, now: int) -> bool:
    """Record a run's new state, if the claim still holds; returns whether it did."""
    r = journey_runs
    ended = state.status in journey.ENDED
    done = conn.execute(
        r.update()
        .where(r.c.pk == row.pk, r.c.lease_token == row.lease_token)
        .values(
            status=state.status,
            position=state.position,
            wake_at=state.wake_at,
            waiting_since=state.waiting_since,
            exit_reason=state.exit_reason,
            lease_until=None,
            lease_token=None,
            updated_at=now,
            ended_at=now if ended else None,
        )
    )
    return bool(done.rowcount)


def log_steps(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append steps: ``{workspace_id, run_pk, campaign_id, action_id, person_pk, outcome, at}``."""
    if rows:
        conn.execute(journey_steps.insert(), list(rows))


def exit_active(conn: Connection, ws: int, person_pk: int, reason: str, now: int) -> list[Any]:
    """End every active run of a person (deleted or suppressed); returns those runs."""
    r = journey_runs
    found = conn.execute(
        sa.select(r.c.pk, r.c.campaign_id, r.c.position).where(
            r.c.workspace_id == ws, r.c.person_pk == person_pk, r.c.status.in_(ACTIVE)
        )
    ).all()
    if found:
        conn.execute(
            r.update()
            .where(r.c.pk.in_([f.pk for f in found]))
            .values(status=journey.EXITED, exit_reason=reason, ended_at=now, updated_at=now)
        )
    return list(found)


def counts(conn: Connection, ws: int, campaign_id: int) -> dict[int | None, dict[str, int]]:
    """Per action: how many steps ended in each outcome."""
    s = journey_steps
    found: dict[int | None, dict[str, int]] = {}
    for action_id, outcome, count in conn.execute(
        sa.select(s.c.action_id, s.c.outcome, sa.func.count())
        .where(s.c.workspace_id == ws, s.c.campaign_id == campaign_id)
        .group_by(s.c.action_id, s.c.outcome)
    ):
        found.setdefault(action_id, {})[outcome] = int(count)
    return found


def any_due(conn: Connection, due: Any, ws: int | None = None) -> bool:
    """Whether a run (of ``ws``, if given) can go on now."""
    r = journey_runs
    query = sa.select(r.c.pk).where(due)
    if ws is not None:
        query = query.where(r.c.workspace_id == ws)
    return conn.execute(query.limit(1)).first() is not None


def exit_runs(
    conn: Connection, ws: int, campaign_id: int, person_pk: int, reason: str, now: int
) -> None:
    """End the person's active runs of one campaign."""
    r = journey_runs
    conn.execute(
        r.update()
        .where(
            r.c.workspace_id == ws,
            r.c.campaign_id == campaign_id,
            r.c.person_pk == person_pk,
            r.c.status.in_(ACTIVE),
        )
        .values(status=journey.EXITED, exit_reason=reason, ended_at=now, updated_at=now)
    )


def of_person(conn: Connection, ws: int, person_pk: int) -> list[Any]:
    """A person's runs: pk, campaign_id, status."""
    r = journey_runs
    return list(
        conn.execute(
            sa.select(r.c.pk, r.c.campaign_id, r.c.status).where(
                r.c.workspace_id == ws, r.c.person_pk == person_pk
            )
        )
    )


def convert(conn: Connection, run_pk: int, now: int) -> None:
    """End a run because its person met the campaign's goal."""
    r = journey_runs
    conn.execute(
        r.update()
        .where(r.c.pk == run_pk, r.c.status.in_(ACTIVE))
        .values(status="converted", exit_reason="goal met", ended_at=now, updated_at=now)
    )
