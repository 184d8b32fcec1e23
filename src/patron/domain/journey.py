"""What a journey run does next: given where it stands, what is true of the person now and the
time, the steps it takes and the effects they have. Pure: the journey worker supplies the facts
(``Facts``), then writes the new state and the effects in one transaction, so a crash repeats
no step and skips none.

A run stands at an action id (``position``) with a status: ``running`` (can go on now),
``waiting`` (a delay, a time window or a ``wait_until``; ``wake_at`` is when to look again),
or one of the ends: ``completed``, ``exited``, ``failed``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patron.domain.campaigns import DAYS, Campaign, Node

RUNNING = "running"
WAITING = "waiting"
COMPLETED = "completed"
EXITED = "exited"
FAILED = "failed"
ENDED = frozenset({COMPLETED, EXITED, FAILED, "converted"})
MAX_STEPS = 200  # per advance; a workflow is a tree, so this only guards against bugs


class Facts(Protocol):
    """What the engine may ask about the run's person (the worker answers from the database)."""

    def matches(self, condition: Any) -> bool:
        """Whether the person matches a condition of the segment language now."""

    def performed_since(self, event: str, since: int) -> bool:
        """Whether the person performed ``event`` at or after ``since``."""

    def timezone(self) -> str | None:
        """The person's ``timezone`` attribute (IANA), if any."""


@dataclass(frozen=True)
class Run:
    """A run's state, as stored."""

    key: str  # stable per run: random cohorts are drawn from it
    position: int | None
    status: str = RUNNING
    wake_at: int | None = None
    waiting_since: int | None = None  # when the current wait began
    exit_reason: str | None = None


@dataclass(frozen=True)
class Effect:
    """Something a step does beyond moving the run: ``kind`` is ``message`` (an email),
    ``webhook``, ``attribute_update``, ``create_event`` or ``segment_update``; ``spec`` is the
    action's definition."""

    kind: str
    action_id: int
    spec: dict[str, Any]
    draft: bool = False


@dataclass(frozen=True)
class Step:
    """One action a run went through (the journey's step log)."""

    action_id: int
    outcome: str  # done | skipped | waiting | yes | no | path N | exited


@dataclass
class Advance:
    """What :func:`advance` did: the new state, the effects and the steps taken."""

    run: Run
    effects: list[Effect] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    # When the run reached its current action: after a delay, the moment the delay ended, even
    # if the worker (or a jump of the clock) comes later, so waits are measured from there.
    at: int = 0


def advance(campaign: Campaign, run: Run, facts: Facts, now: int) -> Advance:
    """Take every step the run can take now."""
    result = Advance(run, at=now)
    program = campaign.program
    for _ in range(MAX_STEPS):
        state = result.run
        if state.status in ENDED:
            return result
        if state.position is None:
            result.run = replace(state, status=COMPLETED, wake_at=None, waiting_since=None)
            return result
        node = program.nodes.get(state.position)
        if node is None:  # the version the run pinned always has its actions; belt and braces
            result.run = replace(state, status=FAILED, exit_reason="action missing")
            return result
        if not _step(campaign, node, state, facts, now, result):
            return result
    result.run = replace(result.run, status=FAILED, exit_reason="too many steps")
    return result


def _go(
    result: Advance, node: Node, to: int | None, outcome: str = "done", at: int | None = None
) -> bool:
    result.steps.append(Step(node.id, outcome))
    if at is not None:
        result.at = at
    result.run = replace(result.run, position=to, status=RUNNING, wake_at=None, waiting_since=None)
    return True


def _wait(result: Advance, node: Node, since: int, wake_at: int | None) -> bool:
    state = result.run
    if state.waiting_since is None:
        result.steps.append(Step(node.id, "waiting"))
    result.run = replace(state, status=WAITING, wake_at=wake_at, waiting_since=since)
    return False


def _step(
    campaign: Campaign, node: Node, state: Run, facts: Facts, now: int, result: Advance
) -> bool:
    """Take one step; False when the run must wait (it has been set waiting or ended)."""
    kind, spec = node.type, node.spec
    since = state.waiting_since if state.waiting_since is not None else result.at
    if kind in ("email", "webhook"):
        if (
            kind == "email"
            and campaign.exit in ("stop_matching", "goal_or_stop_matching")
            and campaign.filter is not None
            and not facts.matches(campaign.filter)
        ):
            result.steps.append(Step(node.id, "exited"))
            result.run = replace(state, status=EXITED, exit_reason="stopped matching")
            return False
        sending = spec.get("sending_state", "automatic")
        if sending == "off":
            return _go(result, node, node.next, "skipped")
        result.effects.append(Effect("message" if kind == "email" else "webhook", node.id, spec,
                                     draft=sending == "draft"))  # fmt: skip
        return _go(result, node, node.next)
    if kind in ("attribute_update", "create_event", "segment_update"):
        result.effects.append(Effect(kind, node.id, spec))
        return _go(result, node, node.next)
    if kind == "exit":
        result.steps.append(Step(node.id, "exited"))
        result.run = replace(state, position=None, status=EXITED, exit_reason="exit action")
        return False
    if kind == "delay":
        wake = since + spec["duration"]
        if now >= wake:
            return _go(result, node, node.next, at=wake)
        return _wait(result, node, since, wake)
    if kind == "time_window":
        opens = next_window(spec, facts.timezone(), since)
        if opens <= now:
            return _go(result, node, node.next, at=opens)
        return _wait(result, node, since, opens)
    if kind == "wait_until":
        met = (spec.get("conditions") is not None and facts.matches(spec["conditions"])) or (
            spec.get("event") is not None and facts.performed_since(spec["event"], since)
        )
        if met:
            return _go(result, node, node.next, "skipped" if state.waiting_since is None else "met")
        deadline = since + spec["max"] if spec.get("max") is not None else None
        if deadline is not None and now >= deadline:
            return _go(result, node, node.next, "timed_out", at=deadline)
        return _wait(result, node, since, deadline)
    if kind == "branch":
        yes = facts.matches(spec["if"])
        return _go(result, node, node.paths[0 if yes else 1], "yes" if yes else "no")
    if kind == "multi_split":
        for index, condition in enumerate(spec["if"]):
            if facts.matches(condition):
                return _go(result, node, node.paths[index], f"path {index}")
        return _go(result, node, node.paths[-1], "else")
    if kind == "random_cohort":
        draw = _draw(state.key, node.id) * 100
        total = 0.0
        for index, percent in enumerate(spec["percents"]):
            total += percent
            if draw < total:
                return _go(result, node, node.paths[index], f"path {index}")
        return _go(result, node, node.paths[-1], f"path {len(spec['percents']) - 1}")
    raise ValueError(f"unknown action type {kind!r}")  # parse_campaigns admits no other


def _draw(key: str, action_id: int) -> float:
    """A number in [0, 1) fixed for this run and action (random cohorts are stable)."""
    digest = hashlib.sha256(f"{key}:{action_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def next_window(spec: dict[str, Any], person_zone: str | None, now: int) -> int:
    """The first moment at or after ``now`` inside the window (days, from-to, in the person's
    time zone or the one named); ``now`` itself when inside it."""
    named = spec.get("timezone", "customer")
    zone = _zone(person_zone if named == "customer" else named, "UTC")
    start_h, start_m = (int(x) for x in spec["from"].split(":"))
    end_h, end_m = (int(x) for x in spec["to"].split(":"))
    local = datetime.fromtimestamp(now, zone)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if DAYS[day.weekday()] not in spec["days"]:
            continue
        opens = datetime(day.year, day.month, day.day, start_h, start_m, tzinfo=zone)
        if end_h == 24:
            closes = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)
        else:
            closes = datetime(day.year, day.month, day.day, end_h, end_m, tzinfo=zone)
        # Wall-clock times that fall in a DST gap normalise through UTC.
        opens_at = int(opens.astimezone(UTC).timestamp())
        closes_at = int(closes.astimezone(UTC).timestamp())
        if now < opens_at:
            return opens_at
        if now < closes_at:
            return now
    return now  # a window that never opens (no days) cannot be defined; go on
