"""Property test: a batch applied in one call (through the unit of work's identity map and bulk
writes) leaves exactly the state that applying its operations one call each leaves.

Random sequences mix identify (with identifier changes, removals, older and newer timestamps,
``_update``), events (with repeated event ids and anonymous ids), identify with an anonymous
id, merges, deletes, suppressions, devices and an operation that breaks a rule, over a few
overlapping identifiers. The same sequence goes to two fresh workspaces, once as one batch and
once operation by operation, with the same seeded ids; people, devices, suppressions,
anonymous ids, activities (in order), the facets the change log flags per person and the
reported errors must agree.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.domain import ids
from patron.domain.attributes import parse_identify
from patron.domain.conditions import CHANGE_FACETS, EVERYTHING
from patron.domain.identifiers import Identifier
from patron.domain.operations import (
    AddDevice,
    DeletePerson,
    Identify,
    Merge,
    Operation,
    Suppress,
    TrackEvent,
    Unsuppress,
)
from patron.store.apply import apply_each
from patron.store.database import Database
from patron.store.schema import activities, anonymous_ids, changes, devices, people, suppressions
from support import new_workspace

NOW = 1_800_000_000
IDS = [f"u{i}" for i in range(3)]
EMAILS = [f"e{i}@x.co" for i in range(3)] + ["E0@X.CO"]

SEED = 7  # both workspaces draw the same cio_ids, so cio_ids can be named and compared


def _seeded_cio_ids(count: int) -> list[str]:
    ids.seed(-1, SEED)
    try:
        return [ids.new_cio_id(-1) for _ in range(count)]
    finally:
        ids.seed(-1, None)


identifier = st.one_of(
    st.sampled_from(IDS).map(lambda v: Identifier("id", v)),
    st.sampled_from(EMAILS).map(lambda v: Identifier("email", v)),
)
# Addressed by cio_id, identify may change a person's id and email.
addressed = st.one_of(
    identifier, st.sampled_from(_seeded_cio_ids(3)).map(lambda v: Identifier("cio_id", v))
)


@st.composite
def identify(draw: st.DrawFn) -> Operation:
    body: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "id": st.sampled_from(IDS),
                "email": st.sampled_from(EMAILS),
                "plan": st.sampled_from(["free", "pro", None]),
                "_timestamp": st.sampled_from([NOW - 50, NOW + 50]),
                "_update": st.just(True),
            },
        )
    )
    body[f"k{draw(st.integers(0, 5))}"] = draw(st.integers(0, 9))
    op = parse_identify(draw(addressed), body)
    if draw(st.integers(0, 5)) == 0:
        op = msgspec.structs.replace(op, anonymous_id=draw(st.sampled_from(["a0", "a1"])))
    return op


event = st.builds(
    TrackEvent,
    name=st.sampled_from(["signup", "purchase"]),
    who=st.one_of(addressed, identifier, st.none()),
    anonymous_id=st.sampled_from([None, "a0", "a1"]),
    data=st.fixed_dictionaries({"n": st.integers(0, 3)}),
    event_id=st.sampled_from([None, None, "ev0", "ev1"]),
    timestamp=st.sampled_from([None, NOW - 10]),
)
operation = st.one_of(
    identify(),
    identify(),
    identify(),
    event,
    event,
    st.builds(Merge, identifier, identifier),
    st.builds(DeletePerson, identifier),
    st.builds(Suppress, identifier),
    st.builds(Unsuppress, identifier),
    st.builds(AddDevice, identifier, st.sampled_from(["t0", "t1"]), st.just("ios")),
    # Phone identifiers are off in these workspaces: a per-operation error.
    st.just(Identify(who=Identifier("phone", "+15551234567"), attributes={})),
)


def _state(db: Database, ws: int) -> dict[str, Any]:
    def read(conn: sa.Connection) -> dict[str, Any]:
        rows = list(conn.execute(sa.select(people).where(people.c.workspace_id == ws)))
        who = {r.pk: r.cio_id for r in rows}

        def person(pk: int | None) -> str:
            return "-" if pk is None else who.get(pk, "gone")

        def table(t: sa.Table, *columns: str) -> list[Any]:
            query = sa.select(t).where(t.c.workspace_id == ws)
            return [tuple(getattr(r, c) for c in columns) for r in conn.execute(query)]

        acts = conn.execute(
            sa.select(activities).where(activities.c.workspace_id == ws).order_by(activities.c.seq)
        )
        return {
            "people": sorted(
                (r.cio_id, r.external_id, r.email, r.phone, r.attributes, r.attribute_ts)
                for r in rows
            ),
            "devices": sorted(
                (person(pk), token, platform)
                for pk, token, platform in table(devices, "person_pk", "token", "platform")
            ),
            "suppressions": sorted(table(suppressions, "kind", "value_key", "block")),
            "anonymous_ids": sorted(
                (anonymous_id, person(pk))
                for anonymous_id, pk in table(anonymous_ids, "anonymous_id", "person_pk")
            ),
            "activities": [
                (
                    a.type,
                    a.name,
                    person(a.person_pk),
                    a.anonymous_id,
                    a.event_id,
                    a.timestamp,
                    a.data,
                )
                for a in acts
            ],
            # What the change log tells its readers: which facets changed, per person.
            "changes": sorted(
                {
                    (person(pk), facet)
                    for pk, kind in table(changes, "person_pk", "kind")
                    for facet in CHANGE_FACETS.get(kind, EVERYTHING)
                }
            ),
        }

    return db.read_sync(read)


def check_equivalent(db: Database, ops: list[Operation]) -> None:
    batched = new_workspace(db).workspace_id
    alone = new_workspace(db).workspace_id
    ids.seed(batched, SEED)
    ids.seed(alone, SEED)
    errors = db.write_sync(lambda conn: apply_each(conn, batched, ops, NOW))
    singles = {}
    for index, op in enumerate(ops):
        failed = db.write_sync(lambda conn, op=op: apply_each(conn, alone, [op], NOW))
        if failed:
            singles[index] = failed[0]
    assert {i: e.messages for i, e in errors.items()} == {i: e.messages for i, e in singles.items()}
    assert _state(db, batched) == _state(db, alone)


# Cases a random search finds rarely: a person's id changes (addressed by cio_id) and the old
# id is named again; an email changes case; a repeated event id; a direct operation between
# buffered ones; an error after a person was created.
_FIRST_CIO_ID = _seeded_cio_ids(1)[0]
EXAMPLES: list[list[Operation]] = [
    [
        parse_identify(Identifier("id", "u0"), {"email": "e0@x.co", "k0": 1}),
        parse_identify(Identifier("cio_id", _FIRST_CIO_ID), {"id": "u1", "email": "e1@x.co"}),
        parse_identify(Identifier("id", "u0"), {"k1": 2}),
        parse_identify(Identifier("email", "e0@x.co"), {"k2": 3}),
        TrackEvent(name="signup", who=Identifier("id", "u1"), event_id="ev0"),
        TrackEvent(name="signup", who=Identifier("email", "E1@X.CO"), event_id="ev0"),
    ],
    [
        parse_identify(Identifier("id", "u0"), {"k0": 1}),
        AddDevice(Identifier("id", "u0"), "t0", "ios"),
        Merge(Identifier("id", "u2"), Identifier("id", "u0")),
        TrackEvent(name="purchase", who=Identifier("id", "u0")),
        Identify(who=Identifier("phone", "+15551234567"), attributes={}),
        parse_identify(Identifier("id", "u2"), {"email": "E2@x.co", "plan": None}),
        Suppress(Identifier("email", "e2@X.co")),
        TrackEvent(name="purchase", who=Identifier("id", "u2")),
    ],
]


@pytest.mark.parametrize("ops", EXAMPLES, ids=["identifier-changes", "direct-ops"])
def test_batch_equals_one_by_one_examples(database: Database, ops: list[Operation]) -> None:
    check_equivalent(database, ops)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=2, max_size=30))
def test_batch_equals_one_by_one(database: Database, ops: list[Operation]) -> None:
    check_equivalent(database, ops)


@pytest.mark.slow
@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=2, max_size=60))
def test_batch_equals_one_by_one_long(database: Database, ops: list[Operation]) -> None:
    check_equivalent(database, ops)
