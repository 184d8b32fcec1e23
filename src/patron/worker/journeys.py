"""The journey worker: starts runs from the change log and moves runs along.

Two duties, each one transaction at a time on the write path:

- **Entries.** A change-log consumer (like the segment worker) reads events, segment entries
  and exits and attribute changes, starts the runs of the running campaigns they trigger
  (after the audience filter and the re-entry rule), ends runs whose person left a trigger
  segment, records conversions, and wakes runs waiting on that person. Its cursor commits with
  the runs it starts.
- **Steps.** Runs that can go on (running, or waiting until a time that has come by their
  workspace's clock) are claimed under a lease with a fencing token and advanced with
  ``domain/journey.py``; every effect — a delivery, an attribute update or event through the
  one write path, a segment change — is written in the same transaction as the run's new
  state, so a crash repeats no step and skips none.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from patron.domain import clock, conditions, ids, journey
from patron.domain.campaigns import Campaign
from patron.domain.identifiers import Identifier
from patron.domain.liquid import MessageContext, Renderer, RenderError
from patron.domain.operations import Identify, TrackEvent
from patron.settings import Settings
from patron.store import activities as activity_store
from patron.store import campaigns, changes, deliveries, journeys, people, segment_sql, segments
from patron.store.apply import apply
from patron.store.database import Database
from patron.worker.loop import Loop

CONSUMER = "journeys"
BATCH = 1000  # changes read per step
STEP_BATCH = 200  # runs advanced per transaction


class DbFacts:
    """What the engine asks about a person, answered from the database within the step's
    transaction."""

    def __init__(self, conn: Connection, ws: int, person: people.Person | None, now: int):
        self.conn, self.ws, self.person, self.now = conn, ws, person, now

    def matches(self, condition: Any) -> bool:
        if self.person is None:
            return False
        parsed = _parsed(condition)
        timed = bool(conditions.timed(parsed))
        query = segment_sql.outcomes(
            self.conn.dialect.name, self.ws, ((parsed, self.now if timed else 0),)
        )
        row = self.conn.execute(query, {"candidates": [self.person.pk]}).first()
        return bool(row and row[1])

    def performed_since(self, event: str, since: int) -> bool:
        if self.person is None:
            return False
        return activity_store.performed_since(self.conn, self.ws, self.person.pk, event, since)

    def timezone(self) -> str | None:
        value = self.person.attributes.get("timezone") if self.person else None
        return value if isinstance(value, str) else None


_CONDITIONS: dict[str, conditions.Condition] = {}


def _parsed(raw: Any) -> conditions.Condition:
    import orjson

    key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
    found = _CONDITIONS.get(key)
    if found is None:
        found = _CONDITIONS[key] = conditions.parse(raw, "condition")
        if len(_CONDITIONS) > 4096:
            _CONDITIONS.clear()
    return found


@dataclass(frozen=True)
class _Trigger:
    ws: int
    person_pk: int
    kind: str  # event | segment_entered | segment_exited | attribute_change
    key: str
    at: int  # when it happened (the change's time)
    data: dict[str, Any]
    ref: int | None = None  # the activity behind it


def _triggers(conn: Connection, batch: list[changes.Change]) -> list[_Trigger]:
    """What in a batch of changes may start, end or wake runs."""
    found: list[_Trigger] = []
    seen: set[tuple[int, int, str, int]] = set()
    for change in batch:
        if change.person_pk is None:
            continue
        ws, pk = change.ws, change.person_pk
        if change.kind in ("segment_entered", "segment_exited") and change.segment_id:
            found.append(
                _Trigger(ws, pk, change.kind, str(change.segment_id), change.created_at, {})
            )
            continue
        kind = {"event": "event", "identify": "attribute_change"}.get(change.kind)
        if kind is None or (ws, pk, kind, change.created_at) in seen:
            continue
        seen.add((ws, pk, kind, change.created_at))
        rows = activity_store.written_at(conn, ws, pk, kind, change.created_at)
        for row in rows:
            if kind == "event":
                found.append(
                    _Trigger(ws, pk, kind, row.name, row.timestamp, row.data or {}, row.seq)
                )
            else:
                for name in row.data or {}:
                    found.append(_Trigger(ws, pk, kind, name, row.timestamp, {}, row.seq))
    return found


def _entry_key(campaign: Campaign, trigger: _Trigger, conn: Connection, now: int) -> str | None:
    """The key that makes this entrance unique, or None when the re-entry rule refuses it."""
    if campaign.frequency == "once":
        return "once"
    if campaign.frequency == "every_time":
        return f"a{trigger.ref}" if trigger.ref is not None else f"t{trigger.at}"
    last = journeys.latest(conn, trigger.ws, campaign.id, trigger.person_pk)
    if last is not None and last.status in journeys.ACTIVE:
        return None  # rematch / every: never two runs at once
    if campaign.frequency == "every" and last is not None:
        assert campaign.every is not None
        if now - last.entered_at < campaign.every:
            return None
    return f"r{trigger.ref if trigger.ref is not None else now}:{trigger.at}"


def consume(conn: Connection, limit: int = BATCH) -> int:
    """Process up to ``limit`` changes after the consumer's cursor; returns how many."""
    position = changes.cursor(conn, CONSUMER, int(time.time()), start_at_end=True)
    batch = changes.read(conn, position, limit)
    if not batch:
        return 0
    active = {ws for ws in {c.ws for c in batch} if campaigns.any_running(conn, ws)}
    if active:
        triggers = _triggers(conn, [c for c in batch if c.ws in active])
        woken: dict[int, set[int]] = defaultdict(set)
        for change in batch:
            if change.ws in active and change.person_pk is not None:
                woken[change.ws].add(change.person_pk)
        for ws, keys in woken.items():
            for pk in keys:
                journeys.wake(conn, journeys.waiting_for_event(conn, ws, pk))
        for trigger in triggers:
            _start(conn, trigger)
    last = batch[-1]
    changes.advance(conn, CONSUMER, (last.txid, last.seq), int(time.time()))
    return len(batch)


def _start(conn: Connection, trigger: _Trigger) -> None:
    ws, now = trigger.ws, clock.now(trigger.ws)
    if trigger.kind in ("segment_entered", "segment_exited"):
        on = "enter" if trigger.kind == "segment_entered" else "exit"
        found = campaigns.triggered_by(conn, ws, "segment", [trigger.key])
        for stored in found:
            c = stored.campaign
            if c.trigger.on != on and c.exit in ("stop_matching", "goal_or_stop_matching"):
                journeys.exit_runs(conn, ws, c.id, trigger.person_pk, "stopped matching", now)
        candidates = [s for s in found if s.campaign.trigger.on == on]
    else:
        candidates = campaigns.triggered_by(conn, ws, trigger.kind, [trigger.key])
    person: people.Person | None = None
    for stored in candidates:
        c = stored.campaign
        if stored.activated_at is not None and trigger.at < stored.activated_at:
            continue  # it happened before the campaign ran
        if c.trigger.kind == "event" and not all(
            conditions.attribute_holds(t, trigger.data, now) for t in c.trigger.where
        ):
            continue
        if person is None:
            person = people.get(conn, trigger.person_pk)
        if c.filter is not None and not DbFacts(conn, ws, person, now).matches(c.filter):
            continue
        key = _entry_key(c, trigger, conn, now)
        if key is None or journeys.exists(conn, ws, c.id, trigger.person_pk, key):
            continue
        context: dict[str, Any] = {}
        if c.trigger.kind == "event":
            context = {"event": trigger.data, "event_name": trigger.key, "event_id": trigger.ref}
        run_pk = journeys.enter(
            conn, ws, c.id, stored.version, trigger.person_pk, key, c.program.start, context, now
        )
        _timeline(conn, ws, trigger.person_pk, run_pk, c, None, "entered", now)
    if trigger.kind == "event":
        _convert(conn, ws, trigger, now)


def _convert(conn: Connection, ws: int, trigger: _Trigger, now: int) -> None:
    """An event that is a campaign's goal converts the person's runs whose last message was
    sent within the goal's window."""
    for run in journeys.of_person(conn, ws, trigger.person_pk):
        stored = campaigns.get(conn, ws, run.campaign_id)
        if stored is None or (stored.campaign.goal or {}).get("event") != trigger.key:
            continue
        c = stored.campaign
        last = deliveries.last_of_campaign(conn, ws, c.id, trigger.person_pk)
        if last is None or not 0 <= trigger.at - last.created_at <= c.goal_within:
            continue
        if "converted" in deliveries.metrics_of(conn, ws, [last.delivery_id])[last.delivery_id]:
            continue
        deliveries.add_metric(conn, ws, last.delivery_id, "converted", now)
        _timeline(conn, ws, trigger.person_pk, run.pk, c, None, "converted", now)
        if run.status in journeys.ACTIVE and c.exit in ("goal", "goal_or_stop_matching"):
            journeys.convert(conn, run.pk, now)


def _timeline(
    conn: Connection,
    ws: int,
    person_pk: int | None,
    run_pk: int,
    campaign: Campaign,
    action_id: int | None,
    outcome: str,
    now: int,
) -> None:
    journeys.log_steps(
        conn,
        [
            {
                "workspace_id": ws,
                "run_pk": run_pk,
                "campaign_id": campaign.id,
                "action_id": action_id,
                "person_pk": person_pk,
                "outcome": outcome,
                "at": now,
            }
        ],
    )
    if person_pk is not None:
        activity_store.record(
            conn,
            ws,
            type="journey",
            name=campaign.name,
            timestamp=now,
            now=now,
            person_pk=person_pk,
            data={"campaign_id": campaign.id, "action_id": action_id, "outcome": outcome},
        )


class JourneyWorker(Loop):
    """Starts and advances journey runs."""

    name = "patron-journeys"

    def __init__(self, db: Database, *, lease: int = 60, tick: float = 1.0) -> None:
        super().__init__(db, tick=tick)
        self.lease = lease
        self.renderer = Renderer()

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> JourneyWorker:
        """The journey worker as the settings configure it."""
        return cls(db, lease=settings.sender_lease)

    async def prepare(self) -> None:
        """Make the consumer's cursor before anything is served: changes from before the
        worker first ran start no campaigns, and none after it is missed."""
        now = int(time.time())
        await self.db.write(lambda c: changes.cursor(c, CONSUMER, now, start_at_end=True))

    async def run_once(self) -> None:
        """Take in new changes, then move every run that can go on."""
        # Reads first: a pass that writes nothing must not commit (each commit pokes again).
        if await self.db.read(lambda c: changes.behind(c, CONSUMER)):
            while await self.db.write(consume) >= BATCH:
                pass
        while not self._stopping:
            real_now = int(time.time())
            due = journeys.due_filter(real_now, clock.virtual_nows())
            if not await self.db.read(lambda c, due=due: journeys.any_due(c, due)):  # type: ignore[misc]
                return
            stepped = await self.db.write(lambda c, n=real_now: self.step(c, n))  # type: ignore[misc]
            if stepped < STEP_BATCH:
                return

    async def settle(self, timeout: float, ws: int | None = None) -> bool:
        """Wait until the change log is read and no run (of ``ws``) can go on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await self.db.read(lambda c: self._busy(c, ws)):
                return True
            self.poke()
            await asyncio.sleep(0.01)
        return False

    @staticmethod
    def _busy(conn: Connection, ws: int | None) -> bool:
        if changes.behind(conn, CONSUMER):
            return True
        due = journeys.due_filter(int(time.time()), clock.virtual_nows())
        return journeys.any_due(conn, due, ws)

    def step(self, conn: Connection, real_now: int) -> int:
        """Advance a batch of runs; returns how many were claimed."""
        due = journeys.due_filter(real_now, clock.virtual_nows())
        rows = journeys.claim(
            conn,
            due,
            STEP_BATCH,
            real_now,
            self.lease,
            skip_locked=conn.dialect.name == "postgresql",
        )
        for row in rows:
            self._advance(conn, row)
        return len(rows)

    def _advance(self, conn: Connection, row: journeys.RunRow) -> None:
        ws, now = row.ws, clock.now(row.ws)
        current = campaigns.get(conn, ws, row.campaign_id)
        campaign = campaigns.version(conn, ws, row.campaign_id, row.version)
        person = people.get(conn, row.person_pk) if row.person_pk is not None else None
        if current is None or campaign is None or current.campaign.state != "running":
            state = journey.Run(
                row.state.key, row.state.position, journey.EXITED, exit_reason="campaign stopped"
            )
            journeys.save(conn, row, state, now)
            return
        result = journey.advance(campaign, row.state, DbFacts(conn, ws, person, now), now)
        if not journeys.save(conn, row, result.run, now):
            return  # another worker took the run over: its outcome stands
        for effect in result.effects:
            self._effect(conn, row, campaign, person, effect, now)
        for step in result.steps:
            _timeline(conn, ws, row.person_pk, row.pk, campaign, step.action_id, step.outcome, now)
        if result.run.status in journey.ENDED:
            _timeline(conn, ws, row.person_pk, row.pk, campaign, None, result.run.status, now)

    def _namespaces(self, row: journeys.RunRow, campaign: Campaign) -> dict[str, Any]:
        namespaces: dict[str, Any] = {
            "campaign": {"id": campaign.id, "name": campaign.name, "type": "behavioral"},
            "journey": row.context.get("journey", {}),
        }
        if "event" in row.context:
            namespaces["event"] = row.context["event"]
        if "trigger" in row.context:
            namespaces["trigger"] = row.context["trigger"]
        return namespaces

    def _effect(
        self,
        conn: Connection,
        row: journeys.RunRow,
        campaign: Campaign,
        person: people.Person | None,
        effect: journey.Effect,
        now: int,
    ) -> None:
        ws, spec = row.ws, effect.spec
        if effect.kind == "message":
            overrides = {
                k: v
                for k, v in spec.items()
                if k
                in ("from", "reply_to", "subject", "preheader", "body", "body_plain", "cc", "bcc")
            }
            payload = {
                "to": spec.get("recipient", "{{customer.email}}"),
                "overrides": overrides,
                "namespaces": self._namespaces(row, campaign),
                "flags": {"send_to_unsubscribed": spec.get("send_to_unsubscribed", False)},
            }
            deliveries.queue(
                conn,
                ws,
                deliveries.NewDelivery(
                    delivery_id=ids.new_delivery_id(ws),
                    person_pk=row.person_pk,
                    channel="email",
                    origin="campaign",
                    payload=payload,
                    send_at=now,
                    draft=effect.draft,
                    template_id=spec.get("template"),
                    campaign_id=campaign.id,
                    action_id=effect.action_id,
                ),
                now,
            )
            return
        if person is None:
            return
        who = Identifier("cio_id", person.cio_id)
        if effect.kind == "attribute_update":
            values = {k: self._render(v, row, campaign, person) for k, v in spec["set"].items()}
            values.update({name: None for name in spec["unset"]})
            apply(conn, ws, [Identify(who=who, attributes=values)])
        elif effect.kind == "create_event":
            data = {k: self._render(v, row, campaign, person) for k, v in spec["data"].items()}
            apply(conn, ws, [TrackEvent(name=spec["name"], who=who, data=data)])
        elif effect.kind == "segment_update":
            target = self._segment(conn, ws, spec["segment"])
            if target is not None and target.type == segments.MANUAL:
                change = segments.add if spec["action"] == "add" else segments.remove
                change(conn, target, [person.pk], now)

    def _segment(self, conn: Connection, ws: int, ref: int | str) -> segments.Segment | None:
        if isinstance(ref, int):
            return segments.get(conn, ws, ref)
        named = segments.by_name(conn, ws, ref)
        return named[0] if len(named) == 1 else None

    def _render(
        self, value: Any, row: journeys.RunRow, campaign: Campaign, person: people.Person
    ) -> Any:
        if not isinstance(value, str) or "{" not in value:
            return value
        from patron.domain.email_compose import Recipient

        recipient = Recipient(person.cio_id, person.id, person.email, person.attributes)
        namespaces = {"customer": recipient.liquid(), **self._namespaces(row, campaign)}
        try:
            return self.renderer.render(value, MessageContext(namespaces=namespaces))
        except RenderError:
            return value
