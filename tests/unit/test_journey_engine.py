"""The step engine (domain/journey.py) on random workflows and random worlds: every run ends or
waits with a time to wake (or an event to wait for), no action sends twice in one run, and
runs are deterministic; plus exact cases for delays, waits, windows and cohorts."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from patron.domain import journey
from patron.domain.campaigns import parse_campaigns

COND = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}


class World:
    """Facts that follow a fixed script: the person matches conditions by a coin per call."""

    def __init__(self, answers: list[bool], events: set[str], zone: str | None = None):
        self.answers = answers
        self.calls = 0
        self.events = events
        self.zone = zone

    def matches(self, condition: Any) -> bool:
        answer = self.answers[self.calls % len(self.answers)] if self.answers else False
        self.calls += 1
        return answer

    def performed_since(self, event: str, since: int) -> bool:
        return event in self.events

    def timezone(self) -> str | None:
        return self.zone


def _actions(draw: Any, ids: list[int], depth: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 4 if depth == 0 else 2))):
        ids[0] += 1
        kind = draw(
            st.sampled_from(
                ["email", "delay", "wait_until", "branch", "attribute_update", "exit", "random"]
                if depth < 2
                else ["email", "delay", "attribute_update"]
            )
        )
        me = ids[0]
        if kind == "email":
            out.append({"id": me, "type": "email", "subject": "s", "body": "b"})
        elif kind == "delay":
            out.append({"id": me, "type": "delay", "duration": draw(st.integers(0, 5)) * 3600})
        elif kind == "wait_until":
            out.append({"id": me, "type": "wait_until", "event": "go", "max": "2h"})
        elif kind == "branch":
            out.append(
                {
                    "id": me,
                    "type": "branch",
                    "if": COND,
                    "yes": _actions(draw, ids, depth + 1),
                    "no": _actions(draw, ids, depth + 1),
                }
            )
        elif kind == "random":
            out.append(
                {
                    "id": me,
                    "type": "random_cohort",
                    "paths": [
                        {"percent": 30, "workflow": _actions(draw, ids, depth + 1)},
                        {"percent": 70, "workflow": _actions(draw, ids, depth + 1)},
                    ],
                }
            )
        elif kind == "attribute_update":
            out.append({"id": me, "type": "attribute_update", "set": {"a": "1"}})
        else:
            out.append({"id": me, "type": "exit"})
    return out


@st.composite
def workflows(draw: Any) -> list[dict[str, Any]]:
    return _actions(draw, [0], 0)


@settings(max_examples=300)
@given(
    workflow=workflows(),
    answers=st.lists(st.booleans(), max_size=5),
    events=st.sets(st.sampled_from(["go", "other"])),
    hops=st.lists(st.integers(0, 4 * 3600), min_size=1, max_size=8),
    key=st.text(min_size=1, max_size=5),
)
def test_random_runs_end_or_wait_and_never_send_twice(
    workflow: list[dict[str, Any]],
    answers: list[bool],
    events: set[str],
    hops: list[int],
    key: str,
) -> None:
    (campaign,) = parse_campaigns(
        [{"id": 1, "name": "c", "trigger": {"event": "e"}, "workflow": workflow}]
    )

    def run_through() -> tuple[journey.Run, list[tuple[int, str]]]:
        state = journey.Run(key=key, position=campaign.program.start)
        sent: list[tuple[int, str]] = []
        now = 1_700_000_000
        for hop in hops:
            now += hop
            result = journey.advance(campaign, state, World(answers, events), now)
            sent += [(e.action_id, e.kind) for e in result.effects]
            state = result.run
            assert state.status in journey.ENDED or state.status == journey.WAITING
            if state.status == journey.WAITING:
                assert state.wake_at is None or state.wake_at > now or state.waiting_since
        return state, sent

    first, sent = run_through()
    messages = [a for a, kind in sent if kind == "message"]
    assert len(messages) == len(set(messages)), "an action sent twice in one run"
    again, sent_again = run_through()
    assert (first, sent) == (again, sent_again)


def _campaign(workflow: list[dict[str, Any]]) -> Any:
    return parse_campaigns(
        [{"id": 1, "name": "c", "trigger": {"event": "e"}, "workflow": workflow}]
    )[0]


def test_delay_then_wait_measured_from_arrival() -> None:
    c = _campaign(
        [
            {"id": 1, "type": "delay", "duration": "1h"},
            {"id": 2, "type": "wait_until", "event": "go", "max": "2h"},
            {"id": 3, "type": "email", "subject": "s", "body": "b"},
        ]
    )
    start = journey.Run(key="k", position=1)
    waiting = journey.advance(c, start, World([], set()), 1000).run
    assert (waiting.status, waiting.wake_at) == (journey.WAITING, 1000 + 3600)
    # Three hours later in one go: the wait began when the delay ended, so it is over too.
    done = journey.advance(c, waiting, World([], set()), 1000 + 3 * 3600)
    assert done.run.status == journey.COMPLETED
    assert [s.outcome for s in done.steps] == ["done", "timed_out", "done"]
    assert [e.action_id for e in done.effects] == [3]


def test_time_window_in_the_persons_zone_across_dst() -> None:
    spec = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "09:00",
            "to": "10:00", "timezone": "customer"}  # fmt: skip
    # 2026-03-08 is the day US clocks spring forward; 08:00 New York that day is 12:00 UTC.
    before = 1_772_971_200  # 2026-03-08T12:00:00Z
    opens = journey.next_window(spec, "America/New_York", before)
    assert opens == before + 3600  # 09:00 EDT = 13:00 UTC
    inside = opens + 60
    assert journey.next_window(spec, "America/New_York", inside) == inside
    # A day earlier (EST) 09:00 is 14:00 UTC.
    assert journey.next_window(spec, "America/New_York", before - 86400) == before - 86400 + 7200


def test_random_cohort_is_stable_per_run_and_splits_roughly() -> None:
    c = _campaign(
        [
            {
                "id": 1,
                "type": "random_cohort",
                "paths": [
                    {"percent": 25, "workflow": [{"id": 2, "type": "exit"}]},
                    {
                        "percent": 75,
                        "workflow": [{"id": 3, "type": "email", "subject": "s", "body": "b"}],
                    },
                ],
            }
        ]
    )
    outcomes = [
        journey.advance(c, journey.Run(key=f"r{n}", position=1), World([], set()), 0)
        .steps[0]
        .outcome
        for n in range(2000)
    ]
    share = outcomes.count("path 0") / len(outcomes)
    assert 0.21 < share < 0.29
    again = journey.advance(c, journey.Run(key="r7", position=1), World([], set()), 0)
    assert again.steps[0].outcome == outcomes[7]
