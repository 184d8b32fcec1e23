"""The sender worker against a real database and a real SMTP server: two senders (two
processes' worth of connections on PostgreSQL) never send one delivery twice, and the
per-provider rate limit holds across them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from patron.channels.smtp import SmtpConfig, SmtpProvider
from patron.domain import clock, ids
from patron.store import deliveries, workspaces
from patron.store.database import Database
from patron.worker.sender import SenderWorker
from smtp_sink import SmtpSink


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def _queue(db: Database, ws: int, count: int) -> list[str]:
    made = [ids.new_delivery_id(ws) for _ in range(count)]

    def write(conn: object) -> None:
        now = clock.now(ws)
        for n, delivery_id in enumerate(made):
            payload = {
                "to": f"r{n}@example.com",
                "overrides": {"subject": f"n{n}", "body": f"<p>{n}</p>"},
            }
            deliveries.queue(
                conn,  # type: ignore[arg-type]
                ws,
                deliveries.NewDelivery(delivery_id, None, "email", "transactional", payload, now),
                now,
            )

    db.write_sync(write)
    return made


def _sender(db: Database, smtp: SmtpSink, **kw: int) -> SenderWorker:
    provider = SmtpProvider(SmtpConfig.from_url(smtp.url))
    return SenderWorker(
        db, provider=provider, links_base="http://p.test", default_from="a@b.test", **kw
    )


def _sent_metrics(db: Database, ws: int, made: list[str]) -> dict[str, dict[str, int]]:
    return db.read_sync(lambda c: deliveries.metrics_of(c, ws, made))


@pytest.mark.postgres
def test_two_senders_never_send_one_delivery_twice(pg_database: str, smtp: SmtpSink) -> None:
    first, second = Database(pg_database), Database(pg_database)
    try:
        ws = first.write_sync(lambda c: workspaces.create(c, f"send-{time.time_ns()}")).workspace_id
        made = _queue(first, ws, 120)
        a, b = _sender(first, smtp, batch=7), _sender(second, smtp, batch=5)

        async def both() -> None:
            await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
            await a.provider.close()
            await b.provider.close()

        asyncio.run(both())
        received = smtp.wait_for(120)
        got = [m.message["X-CIO-Delivery-ID"] for m in received]
        assert sorted(got) == sorted(made)  # each once
        metrics = _sent_metrics(first, ws, made)
        assert all(set(m) == {"sent"} for m in metrics.values())
    finally:
        first.close()
        second.close()


def test_rate_limit_is_counted_in_the_database(db_url: str, smtp: SmtpSink) -> None:
    db = Database(db_url)
    try:
        ws = db.write_sync(lambda c: workspaces.create(c, f"rate-{time.time_ns()}")).workspace_id
        _queue(db, ws, 12)
        a, b = _sender(db, smtp, rate=5, batch=50), _sender(db, smtp, rate=5, batch=50)

        second = int(time.time())
        # Two senders claiming in one second may take 5 between them; the next second, 5 more.
        claimed = [
            db.write_sync(lambda c, w=w: w._claim(c, second))  # type: ignore[misc]
            for w in (a, b)
        ]
        assert [len(c) for c in claimed] == [5, 0]
        assert len(db.write_sync(lambda c: b._claim(c, second + 1))) == 5
        assert len(db.write_sync(lambda c: a._claim(c, second + 1))) == 0
        taken = {r.delivery_id for batch in claimed for r in batch}
        assert len(taken) == 5
    finally:
        # The rest stay queued: take them away, or other tests' senders on a shared
        # PostgreSQL database would send them.
        db.write_sync(
            lambda c: c.execute(
                deliveries.deliveries.delete().where(deliveries.deliveries.c.workspace_id == ws)
            )
        )
        db.close()
