"""The sender: claims due deliveries, renders them and hands them to their provider.

Each pass claims a batch of queued deliveries whose time has come (by the workspace's clock)
under a lease with a fencing token (``SKIP LOCKED`` on PostgreSQL, so several processes share
the queue), reads what rendering needs once for the batch, composes on the event loop (a
message at a time, the loop serving requests and SMTP in between: a composing thread would
make the loop wait for the interpreter lock at each of its SMTP round trips), hands each
message to the provider as soon as it is composed (over several SMTP connections), and
records the outcomes in one transaction. A transient failure (SMTP 4xx, a dropped
connection) puts the delivery back with a backoff for about an hour in all; then it fails. A
worker that dies mid-send leaves its lease to run out, and the delivery is sent again (at
least once; the Message-ID stays the same, so receivers can tell).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from sqlalchemy.engine import Connection

from patron.channels import Accepted, Permanent, Transient
from patron.channels.smtp import EmailProvider, email_provider
from patron.domain import clock
from patron.domain.definitions import Topic, Transactional
from patron.domain.email_compose import Composed, Job, Recipient, Refused, compose
from patron.domain.email_message import split_addresses
from patron.domain.identifiers import Identifier, email_key
from patron.domain.liquid import Renderer
from patron.settings import Settings
from patron.store import definitions, deliveries, people, workspaces
from patron.store.database import Database
from patron.store.suppressions import suppressed_among
from patron.worker.loop import Loop

log = logging.getLogger("patron.sender")

# Seconds before attempt n+1 after a transient failure: 30 s doubling, about an hour in all.
BACKOFF = (30, 60, 120, 240, 480, 960, 1920)


@dataclass
class _Work:
    row: deliveries.Row
    result: Composed | Refused
    outcome: Accepted | Transient | Permanent | None = None


class SenderWorker(Loop):
    """Sends due deliveries (email so far) through the configured provider."""

    name = "patron-sender"

    def __init__(
        self,
        db: Database,
        *,
        provider: EmailProvider,
        links_base: str,
        default_from: str,
        rate: int = 0,
        batch: int = 50,
        lease: int = 60,
        tick: float = 1.0,
    ) -> None:
        super().__init__(db, tick=tick)
        self.provider = provider
        self.links_base = links_base
        self.default_from = default_from
        self.rate = rate
        self.batch = max(1, batch)
        self.lease = lease
        # Claims start this small (a few per SMTP connection) and grow while the queue is deep.
        self._least = min(self.batch, 2 * getattr(provider, "connections", 1))
        self._want = self._least
        self._recording: asyncio.Future[None] | None = None
        self.renderer = Renderer()
        self.message_id_domain = parseaddr(default_from)[1].rpartition("@")[2] or "patron.local"

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> SenderWorker:
        """The sender as the settings configure it."""
        return cls(
            db,
            provider=email_provider(settings.smtp_url, connections=settings.smtp_connections),
            links_base=settings.links_base(),
            default_from=settings.email_from,
            rate=settings.email_rate,
            batch=settings.sender_batch,
            lease=settings.sender_lease,
        )

    async def stop(self) -> None:
        """Stop after the current pass and close the provider's connection."""
        await super().stop()
        await self.provider.close()

    async def settle(self, timeout: float, ws: int | None = None) -> bool:
        """Wait until no queued delivery (of workspace ``ws``, if given) is due; False when
        ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            due = deliveries.due_filter(int(time.time()), clock.virtual_nows())
            if not await self.db.read(lambda c, due=due: deliveries.any_due(c, due, ws)):  # type: ignore[misc]
                return True
            self.poke()
            await asyncio.sleep(0.01)
        return False

    async def run_once(self) -> None:
        """Send everything due now, a batch at a time, and go on while send requests keep
        coming (each one pokes the sender): a batch's outcomes are then recorded while the
        next batch is claimed, in the same group commit."""
        try:
            while not self._stopping:
                wanted = self._want
                claimed = await self.send_due()
                if claimed < wanted:
                    if not self._wake.is_set():
                        break
                    self._wake.clear()  # a poke came meanwhile: the next read will see it
        finally:
            await self._flush()

    async def send_due(self) -> int:
        """One batch: claim, compose, send, record. Returns how many were claimed.

        Each message is handed to the provider as soon as it is composed (the provider sends
        several at once), not after the whole batch; outcomes are recorded together at the
        end, in the background (:meth:`_flush` waits for them). The batch adapts: it starts
        small, doubles (up to ``batch``) while claims come back full, and shrinks to twice
        what the last claim found, so that a lone message waits for no others."""
        second = int(time.time())
        due = deliveries.due_filter(second, clock.virtual_nows())
        # A read first: most passes find nothing, and a read costs no turn of the writer.
        # Deliveries whose outcome is still being recorded are leased: not claimable.
        if not await self.db.read(lambda c: deliveries.any_due(c, due, claimable_at=second)):
            return 0
        want = self._want
        rows = await self.db.write(lambda c: self._claim(c, second, want))
        self._want = min(self.batch, max(self._least, 2 * len(rows)))
        if not rows:
            return 0
        batch = await self.db.read(lambda c: _Batch(c, rows))
        work: list[_Work] = []
        sends: list[asyncio.Task[None]] = []
        held: list[_Work] = []  # for workspaces with suppressed addresses: checked first
        for row in rows:
            w = _Work(row, self._compose(batch, row))
            work.append(w)
            if isinstance(w.result, Composed):
                if batch.addresses_suppressed(row.ws):
                    held.append(w)
                else:
                    sends.append(asyncio.create_task(self._send(w)))
            await asyncio.sleep(0)  # the event loop serves requests and SMTP between messages
        if held:
            blocked = await self.db.read(lambda c: _blocked_addresses(c, held))
            for w in held:
                if w.row.pk in blocked:
                    w.result = Refused(
                        "undeliverable",
                        f"{blocked[w.row.pk]} is suppressed after a hard bounce or a spam report",
                    )
                else:
                    sends.append(asyncio.create_task(self._send(w)))
        await asyncio.gather(*sends)
        await self._flush()  # at most one batch's outcomes outstanding
        self._recording = asyncio.ensure_future(
            self.db.write(lambda c: self._record(c, work, second))
        )
        return len(rows)

    async def _flush(self) -> None:
        """Wait until the last batch's outcomes are committed."""
        recording, self._recording = self._recording, None
        if recording is not None:
            await recording

    def _claim(
        self, conn: Connection, second: int, want: int | None = None
    ) -> list[deliveries.Row]:
        want = self.batch if want is None else want
        if self.rate > 0:
            want = deliveries.take_send_window(conn, self.provider.name, second, want, self.rate)
            if want == 0:
                return []
        due = deliveries.due_filter(second, clock.virtual_nows())
        rows = deliveries.claim(
            conn, due, want, second, self.lease, skip_locked=conn.dialect.name == "postgresql"
        )
        if self.rate > 0 and len(rows) < want:
            deliveries.return_window(conn, self.provider.name, second, want - len(rows))
        return rows

    def _compose(self, batch: _Batch, row: deliveries.Row) -> Composed | Refused:
        try:
            return compose(self._job(batch, row), self.renderer)
        except Exception as exc:  # a bug must fail one delivery, not the whole batch
            log.exception("composing delivery %s failed", row.delivery_id)
            return Refused("failed", f"internal error while composing the message: {exc}")

    def _job(self, batch: _Batch, row: deliveries.Row) -> Job:
        template = batch.template(row.ws, row.template_id)
        topic = None
        if template is not None and template.options.get("topic") is not None:
            topic = batch.topic(row.ws, template.options["topic"])
        return Job(
            delivery_id=row.delivery_id,
            payload=row.payload,
            template=template,
            recipient=batch.recipient(row),
            topic=topic,
            links_base=self.links_base,
            secret=batch.secret(row.ws),
            default_from=self.default_from,
            message_id_domain=self.message_id_domain,
        )

    async def _send(self, work: _Work) -> None:
        if not isinstance(work.result, Composed):
            return
        try:
            work.outcome = await self.provider.send(
                work.result.raw, work.result.sender, work.result.recipients
            )
        except Exception as exc:  # an unexpected provider error is retried like a transient one
            log.exception("provider %s failed on %s", self.provider.name, work.row.delivery_id)
            work.outcome = Transient(f"provider error: {exc}")

    def _record(self, conn: Connection, work: Sequence[_Work], second: int) -> None:
        provider = self.provider
        finishes = [_finish(w, provider) for w in work]
        held = deliveries.finish_all(conn, finishes)
        for w, ok in zip(work, held, strict=True):
            if not ok:
                continue
            row, result, outcome = w.row, w.result, w.outcome
            if not isinstance(result, Composed):
                continue
            now = clock.now(row.ws)
            if isinstance(outcome, Accepted) and provider.captures:
                deliveries.capture(
                    conn,
                    row.ws,
                    row.delivery_id,
                    row.channel,
                    result.recipients,
                    result.subject,
                    result.raw,
                    now,
                )
            elif isinstance(outcome, Permanent) and outcome.bounced:
                for address in split_addresses(result.content.get("to") or ""):
                    deliveries.suppress_address(
                        conn, row.ws, parseaddr(address)[1], "bounced", row.delivery_id, now
                    )


class _Batch:
    """What the messages of one claimed batch need from the database, read in one read
    transaction before any is composed (composing then does no I/O): templates, topics and
    signing secrets by workspace, the people, their suppressions (one query per workspace
    for all of them), and whether each workspace has suppressed addresses at all."""

    def __init__(self, conn: Connection, rows: Sequence[deliveries.Row]) -> None:
        wanted: dict[int, set[int]] = {}
        for row in rows:
            if row.template_id is not None:
                wanted.setdefault(row.ws, set()).add(row.template_id)
        self._templates = {
            (ws, message_id): stored.message
            for ws, ids in wanted.items()
            for message_id, stored in definitions.transactional_by_ids(conn, ws, list(ids)).items()
        }
        spaces = {row.ws for row in rows}
        with_topics = {ws for (ws, _), t in self._templates.items() if t.options.get("topic")}
        self._topics = {ws: {t.id: t for t in definitions.topics(conn, ws)} for ws in with_topics}
        self._secrets = {ws: workspaces.secret_of(conn, ws) for ws in spaces}
        self._people = {
            row.person_pk: people.get(conn, row.person_pk)
            for row in rows
            if row.person_pk is not None
        }
        idents: dict[int, list[Identifier]] = {}
        for row in rows:
            if row.person_pk is not None:
                idents.setdefault(row.ws, []).extend(_identifiers(self._people[row.person_pk]))
        self._blocked = {ws: suppressed_among(conn, ws, found) for ws, found in idents.items()}
        self._suppressing = {ws for ws in spaces if deliveries.any_email_suppression(conn, ws)}

    def template(self, ws: int, message_id: int | None) -> Transactional | None:
        return None if message_id is None else self._templates.get((ws, message_id))

    def topic(self, ws: int, topic_id: int) -> Topic | None:
        return self._topics.get(ws, {}).get(topic_id)

    def secret(self, ws: int) -> bytes:
        return self._secrets[ws]

    def recipient(self, row: deliveries.Row) -> Recipient | None:
        if row.person_pk is None:
            return None
        person = self._people[row.person_pk]
        blocked = self._blocked.get(row.ws, set())
        return Recipient(
            cio_id=person.cio_id,
            id=person.id,
            email=person.email,
            attributes=person.attributes,
            suppressed=any((i.kind, i.key) in blocked for i in _identifiers(person)),
        )

    def addresses_suppressed(self, ws: int) -> bool:
        """Whether the workspace has any suppressed address (most have none): its messages'
        recipients are then checked before they are sent."""
        return ws in self._suppressing


def _blocked_addresses(conn: Connection, held: Sequence[_Work]) -> dict[int, str]:
    """For each delivery (by pk) one of its recipients that no email may go to, if any: one
    query per workspace for the whole batch."""
    by_ws: dict[int, list[_Work]] = {}
    for w in held:
        by_ws.setdefault(w.row.ws, []).append(w)
    found: dict[int, str] = {}
    for ws, items in by_ws.items():
        addresses = [
            a for w in items if isinstance(w.result, Composed) for a in w.result.recipients
        ]
        blocked = {email_key(a) for a in deliveries.suppressed_addresses(conn, ws, addresses)}
        for w in items:
            assert isinstance(w.result, Composed)
            hit = next((a for a in w.result.recipients if email_key(a) in blocked), None)
            if hit is not None:
                found[w.row.pk] = hit
    return found


def _identifiers(person: people.Person) -> list[Identifier]:
    idents = [Identifier("cio_id", person.cio_id)]
    idents += [Identifier("id", person.id)] if person.id else []
    idents += [Identifier("email", person.email)] if person.email else []
    return idents


def _finish(w: _Work, provider: EmailProvider) -> deliveries.Finish:
    """What :func:`deliveries.finish_all` records for one delivery."""
    row, result, outcome = w.row, w.result, w.outcome
    now = clock.now(row.ws)
    if isinstance(result, Refused):
        return deliveries.Finish(
            row, result.state, now, result.state, {"reason": result.reason},
            failure=result.reason,
        )  # fmt: skip
    common: dict[str, Any] = {
        "content": result.content,
        "subject": result.subject,
        "recipient": result.content.get("to"),
        "provider": provider.name,
    }
    if isinstance(outcome, Accepted):
        return deliveries.Finish(
            row, deliveries.SENT, now, "sent", provider_id=outcome.provider_id, **common
        )
    if isinstance(outcome, Transient) and row.attempts <= len(BACKOFF):
        return deliveries.Finish(
            row, deliveries.QUEUED, now, "attempted", {"reason": outcome.reason},
            failure=outcome.reason, retry_at=now + BACKOFF[row.attempts - 1], **common,
        )  # fmt: skip
    assert outcome is not None
    bounced = isinstance(outcome, Permanent) and outcome.bounced
    state = deliveries.BOUNCED if bounced else deliveries.FAILED
    return deliveries.Finish(
        row, state, now, state, {"reason": outcome.reason}, failure=outcome.reason, **common
    )
