"""The sender's bulk record step: outcomes are written only where the claim still holds."""

from __future__ import annotations

import time

import sqlalchemy as sa

from patron.domain import clock, ids
from patron.store import deliveries, workspaces
from patron.store.database import Database


def test_finish_all_keeps_the_fencing_token(database: Database) -> None:
    ws = database.write_sync(lambda c: workspaces.create(c, f"fin-{time.time_ns()}")).workspace_id
    made = [ids.new_delivery_id(ws) for _ in range(3)]

    def queue(conn: object) -> None:
        now = clock.now(ws)
        for n, delivery_id in enumerate(made):
            payload = {"to": f"r{n}@example.com", "overrides": {"subject": "s", "body": "b"}}
            new = deliveries.NewDelivery(delivery_id, None, "email", "transactional", payload, now)
            deliveries.queue(conn, ws, new, now)  # type: ignore[arg-type]

    database.write_sync(queue)
    second = int(time.time())
    # Only this workspace's: the PostgreSQL database is shared with other tests.
    due = sa.and_(
        deliveries.due_filter(second + 10, {}), deliveries.deliveries.c.workspace_id == ws
    )
    rows = database.write_sync(
        lambda c: deliveries.claim(c, due, 10, second, 60, skip_locked=False)
    )
    assert len(rows) == 3
    # Another sender took the second one over after the lease ran out: a new token.
    stolen = rows[1]
    database.write_sync(
        lambda c: c.execute(
            deliveries.deliveries.update()
            .where(deliveries.deliveries.c.pk == stolen.pk)
            .values(lease_token="someone-else")
        )
    )
    now = clock.now(ws)
    finishes = [
        deliveries.Finish(rows[0], deliveries.SENT, now, "sent", content={"to": "a"}, subject="S"),
        deliveries.Finish(rows[1], deliveries.SENT, now, "sent", content={"to": "b"}),
        deliveries.Finish(
            rows[2], deliveries.QUEUED, now, "attempted", {"reason": "4xx"},
            failure="4xx", retry_at=now + 30,
        ),
    ]  # fmt: skip
    held = database.write_sync(lambda c: deliveries.finish_all(c, finishes))
    assert held == [True, False, True]
    got = {d: database.read_sync(lambda c, d=d: deliveries.get(c, ws, d)) for d in made}
    first, second_row, third = (got[d] for d in made)
    assert first is not None and second_row is not None and third is not None
    assert (first.state, first.subject, first.content) == ("sent", "S", {"to": "a"})
    assert second_row.state == "queued"  # untouched: still the other sender's
    assert (third.state, third.send_at, third.failure_message) == ("queued", now + 30, "4xx")
    metrics = database.read_sync(lambda c: deliveries.metrics_of(c, ws, made))
    assert [set(metrics[d]) for d in made] == [{"sent"}, set(), {"attempted"}]
    assert database.read_sync(lambda c: deliveries.metric_events(c, ws, made[2]))[0]["data"] == {
        "reason": "4xx"
    }
