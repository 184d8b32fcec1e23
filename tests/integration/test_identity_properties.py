"""Property tests: random identify / merge / delete / suppress sequences with overlapping
identifiers never leave two people sharing an id or an email, and never lose an attribute
that was not removed."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron.domain.attributes import parse_identify
from patron.domain.identifiers import Identifier
from patron.domain.operations import DeletePerson, Merge, Operation, Suppress, Unsuppress
from patron.store.apply import apply
from patron.store.database import Database
from patron.store.schema import people
from support import new_workspace

IDS = [f"u{i}" for i in range(4)]
EMAILS = [f"e{i}@x.co" for i in range(3)] + ["E0@X.CO"]

identifier = st.one_of(
    st.sampled_from(IDS).map(lambda v: Identifier("id", v)),
    st.sampled_from(EMAILS).map(lambda v: Identifier("email", v)),
)
identify_step = st.tuples(
    st.just("identify"),
    identifier,
    st.fixed_dictionaries(
        {}, optional={"id": st.sampled_from(IDS), "email": st.sampled_from(EMAILS)}
    ),
)
steps = st.lists(
    st.one_of(
        identify_step,
        identify_step,
        st.tuples(st.just("merge"), identifier, identifier),
        st.tuples(st.just("delete"), identifier),
        st.tuples(st.just("suppress"), identifier),
        st.tuples(st.just("unsuppress"), identifier),
    ),
    max_size=25,
)


def _snapshot(db: Database, ws: int) -> list[Any]:
    return db.read_sync(
        lambda c: list(
            c.execute(
                sa.select(
                    people.c.pk, people.c.external_id, people.c.email_key, people.c.attributes
                ).where(people.c.workspace_id == ws)
            )
        )
    )


def _holder(rows: list[Any], ident: Identifier) -> int | None:
    for r in rows:
        if (ident.kind == "id" and r.external_id == ident.value) or (
            ident.kind == "email" and r.email_key == ident.value.lower()
        ):
            return int(r.pk)
    return None


def run_sequence(db: Database, sequence: list[tuple[Any, ...]]) -> None:
    ws = new_workspace(db).workspace_id
    expected: dict[str, int] = {}  # attribute name -> pk of the person who must hold it
    for n, step in enumerate(sequence):
        before = _snapshot(db, ws)
        kind = step[0]
        op: Operation
        if kind == "identify":
            name = f"k{n}"
            op = parse_identify(step[1], {**step[2], name: n})
        elif kind == "merge":
            op = Merge(step[1], step[2])
        elif kind == "delete":
            op = DeletePerson(step[1])
        elif kind == "suppress":
            op = Suppress(step[1])
        else:
            op = Unsuppress(step[1])
        db.write_sync(lambda conn, op=op: apply(conn, ws, [op]))
        after = _snapshot(db, ws)

        # Invariant 1: no identifier is shared (the database enforces it; check anyway).
        ids = [r.external_id for r in after if r.external_id is not None]
        emails = [r.email_key for r in after if r.email_key is not None]
        assert len(ids) == len(set(ids)) and len(emails) == len(set(emails))

        # Update the model of where each attribute must be.
        alive = {int(r.pk) for r in after}
        if kind == "identify":
            holders = [int(r.pk) for r in after if f"k{n}" in r.attributes]
            assert len(holders) <= 1
            if holders:
                expected[f"k{n}"] = holders[0]
                assert _holder(after, step[1]) == holders[0]
        elif kind == "merge":
            primary, secondary = _holder(before, step[1]), _holder(before, step[2])
            if secondary is not None and secondary not in alive:
                target = _holder(after, step[1])
                assert target is not None
                for name, pk in expected.items():
                    if pk == secondary:
                        expected[name] = target
            elif primary is not None:
                assert primary in alive
        for name, pk in list(expected.items()):
            if pk not in alive:
                # Only delete, suppress or merge (for the secondary) remove a person.
                assert kind in ("delete", "suppress", "merge")
                del expected[name]

        # Invariant 2: every attribute that was not removed is where it should be, and
        # no attribute appears anywhere else.
        present = {name: int(r.pk) for r in after for name in r.attributes}
        assert present == expected


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
def test_identity_invariants(database: Database, sequence: list[tuple[Any, ...]]) -> None:
    run_sequence(database, sequence)


@pytest.mark.slow
@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
def test_identity_invariants_long(database: Database, sequence: list[tuple[Any, ...]]) -> None:
    run_sequence(database, sequence)
