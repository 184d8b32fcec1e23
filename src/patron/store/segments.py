"""SQL for segments and their members; entries and exits are recorded as they happen.

Every entry and exit writes a change-log row (``segment_entered``/``segment_exited`` with the
segment's id: what journeys consume, and what re-evaluates segments that refer to this one)
and, while the person exists, an activity.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from patron import json_codec
from patron.domain import conditions
from patron.store import activities, changes, segment_sql
from patron.store.prepared import chunks, json_value
from patron.store.schema import people, segment_members, segments

MANUAL = "manual"
DYNAMIC = "dynamic"
FINISHED = "finished"
BUILD_QUEUED = "build_queued"
BUILDING = "build"


class Segment(msgspec.Struct, dict=True):
    """A stored segment."""

    id: int
    ws: int
    name: str
    description: str
    tags: list[str] | None
    type: str
    conditions: Any
    state: str
    progress: int | None
    evaluated_at: int | None
    created_at: int
    updated_at: int

    def view(self) -> dict[str, Any]:
        """The App API's segment object (plus ``conditions`` for dynamic segments)."""
        out: dict[str, Any] = {
            "id": self.id,
            "deduplicate_id": f"{self.id}:{self.updated_at}",
            "name": self.name,
            "description": self.description,
            "state": self.state,
            "progress": self.progress,
            "type": self.type,
            "tags": self.tags,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.type == DYNAMIC:
            out["conditions"] = self.conditions
        return out

    @functools.cached_property
    def condition(self) -> conditions.Condition:
        """The parsed conditions of a dynamic segment."""
        return _parsed(json_codec.dumps(self.conditions, sort_keys=True))

    @functools.cached_property
    def timed(self) -> bool:
        """Whether membership can change as time passes (conditions relative to now)."""
        return _is_timed(self.condition)

    @functools.cached_property
    def facets(self) -> frozenset[conditions.Facet]:
        """What of a person the conditions read (``conditions.facets``)."""
        return conditions.facets(self.condition)

    @functools.cached_property
    def refs(self) -> frozenset[int]:
        """The segments the conditions refer to."""
        return conditions.segment_refs(self.condition)


# Segments are read afresh for every pass of the worker; their conditions are parsed once.
@functools.lru_cache(maxsize=1024)
def _parsed(text: bytes) -> conditions.Condition:
    return conditions.parse(json_codec.loads(text))


@functools.lru_cache(maxsize=1024)
def _is_timed(condition: conditions.Condition) -> bool:
    return bool(conditions.timed(condition))


_COLUMNS = (
    segments.c.id,
    segments.c.workspace_id,
    segments.c.name,
    segments.c.description,
    segments.c.tags,
    segments.c.type,
    segments.c.conditions,
    segments.c.state,
    segments.c.progress,
    segments.c.evaluated_at,
    segments.c.created_at,
    segments.c.updated_at,
)


def _segment(row: Sequence[Any]) -> Segment:
    values = list(row)
    values[4] = json_value(values[4])
    values[6] = json_value(values[6])
    return Segment(*values)


def create(
    conn: Connection,
    ws: int,
    *,
    name: str,
    description: str,
    tags: list[str] | None,
    condition: Any,
    now: int,
) -> Segment:
    """A new manual segment, or a dynamic one (queued for its first build)."""
    dynamic = condition is not None
    values = dict(
        workspace_id=ws,
        name=name,
        description=description,
        tags=tags,
        type=DYNAMIC if dynamic else MANUAL,
        conditions=condition,
        state=BUILD_QUEUED if dynamic else FINISHED,
        progress=0 if dynamic else None,
        evaluated_at=None,
        created_at=now,
        updated_at=now,
    )
    new_id = conn.execute(segments.insert().values(values).returning(segments.c.id)).scalar_one()
    return Segment(id=new_id, ws=ws, **{k: v for k, v in values.items() if k != "workspace_id"})


def redefine(
    conn: Connection,
    segment: Segment,
    *,
    name: str,
    description: str,
    tags: list[str] | None,
    condition: Any,
    now: int,
) -> Segment:
    """Change a segment's name, description, tags and (for a dynamic one) its conditions; a
    change of conditions queues a rebuild."""
    values: dict[str, Any] = dict(name=name, description=description, tags=tags, updated_at=now)
    if segment.type == DYNAMIC and condition != segment.conditions:
        values |= dict(conditions=condition, state=BUILD_QUEUED, progress=0)
    conn.execute(segments.update().where(segments.c.id == segment.id).values(values))
    return msgspec.structs.replace(segment, **values)


def get(conn: Connection, ws: int, segment_id: int, *, lock: bool = False) -> Segment | None:
    """The workspace's segment with this id."""
    query = sa.select(*_COLUMNS).where(segments.c.workspace_id == ws, segments.c.id == segment_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return None if row is None else _segment(row)


def all_of(
    conn: Connection, ws: int | None, *, kind: str | None = None, state: str | None = None
) -> list[Segment]:
    """The workspace's segments (every workspace's, with ``ws=None``), oldest first; only of
    one ``kind`` or in one ``state`` when given."""
    query = sa.select(*_COLUMNS).order_by(segments.c.id)
    if ws is not None:
        query = query.where(segments.c.workspace_id == ws)
    if kind is not None:
        query = query.where(segments.c.type == kind)
    if state is not None:
        query = query.where(segments.c.state == state)
    return [_segment(r) for r in conn.execute(query)]


def any_dynamic(conn: Connection) -> bool:
    """Whether any workspace has a data-driven segment."""
    query = sa.select(segments.c.id).where(segments.c.type == DYNAMIC).limit(1)
    return conn.execute(query).first() is not None


def unfinished(conn: Connection) -> bool:
    """Whether any segment waits for or is in a build."""
    query = sa.select(segments.c.id).where(segments.c.state != FINISHED).limit(1)
    return conn.execute(query).first() is not None


def referring_to(conn: Connection, ws: int, segment_id: int) -> list[int]:
    """Ids of the workspace's dynamic segments whose conditions refer to ``segment_id``."""
    return [
        s.id
        for s in all_of(conn, ws, kind=DYNAMIC)
        if segment_id in conditions.segment_refs(s.condition)
    ]


def delete(conn: Connection, ws: int, segment_id: int) -> bool:
    """Remove a segment and its memberships."""
    conn.execute(segment_members.delete().where(segment_members.c.segment_id == segment_id))
    result = conn.execute(
        segments.delete().where(segments.c.workspace_id == ws, segments.c.id == segment_id)
    )
    return bool(result.rowcount)


def set_state(conn: Connection, segment_id: int, **values: Any) -> None:
    """Record build state, progress or the time conditions were evaluated for."""
    conn.execute(segments.update().where(segments.c.id == segment_id).values(values))


def claim_build(conn: Connection, segment: Segment) -> bool:
    """Take a queued build (one process wins)."""
    result = conn.execute(
        segments.update()
        .where(
            segments.c.id == segment.id,
            segments.c.state == BUILD_QUEUED,
            segments.c.updated_at == segment.updated_at,
        )
        .values(state=BUILDING, progress=0)
    )
    return bool(result.rowcount)


# -- membership -------------------------------------------------------------------------------


def count(conn: Connection, segment_id: int) -> int:
    """How many people are in the segment."""
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(segment_members.c.segment_id == segment_id)
        ).scalar_one()
    )


def member_keys(conn: Connection, segment_id: int, after_pk: int, limit: int) -> list[int]:
    """Members' keys in key order, after ``after_pk``."""
    return list(
        conn.execute(
            sa.select(segment_members.c.person_pk)
            .where(
                segment_members.c.segment_id == segment_id,
                segment_members.c.person_pk > after_pk,
            )
            .order_by(segment_members.c.person_pk)
            .limit(limit)
        ).scalars()
    )


def of_person(conn: Connection, ws: int, person_pk: int) -> list[Segment]:
    """The segments a person is in."""
    query = (
        sa.select(*_COLUMNS)
        .join(segment_members, segment_members.c.segment_id == segments.c.id)
        .where(segments.c.workspace_id == ws, segment_members.c.person_pk == person_pk)
        .order_by(segments.c.id)
    )
    return [_segment(r) for r in conn.execute(query)]


def members_among(conn: Connection, segment_id: int, keys: Sequence[int]) -> set[int]:
    """Which of ``keys`` are members."""
    return _members_of(conn, [segment_id], keys).get(segment_id, set())


def _all_members(
    conn: Connection, segment_id: int, keys: tuple[int, int] | None = None
) -> set[int]:
    """Every member (with a key in the range ``keys``, when given)."""
    query = sa.select(segment_members.c.person_pk).where(segment_members.c.segment_id == segment_id)
    if keys is not None:
        query = query.where(segment_members.c.person_pk.between(*keys))
    return set(conn.execute(query).scalars())


Move = tuple[Segment, Sequence[int], Sequence[int]]  # a segment, who enters, who leaves


def move(conn: Connection, moves: Sequence[Move], now: int) -> None:
    """Record entries (people who must not be members yet) and exits for several segments:
    one insert each for members, change-log rows and activities, however many segments."""
    joined = [
        dict(workspace_id=s.ws, segment_id=s.id, person_pk=pk, entered_at=now)
        for s, entering, _ in moves
        for pk in entering
    ]
    if joined:
        conn.execute(segment_members.insert(), joined)
    for segment, _, leaving in moves:
        for chunk in chunks(leaving):
            conn.execute(
                segment_members.delete().where(
                    segment_members.c.segment_id == segment.id,
                    segment_members.c.person_pk.in_(chunk),
                )
            )
    logged = [
        (s, pk, kind)
        for s, entering, leaving in moves
        for kind, keys in (("segment_entered", entering), ("segment_exited", leaving))
        for pk in keys
    ]
    if logged:
        changes.log_segment_moves(conn, [(s.ws, pk, kind, s.id) for s, pk, kind in logged], now)
        activities.record_segment_moves(
            conn,
            [
                (s.ws, pk, kind, {"segment_id": s.id, "segment_name": s.name})
                for s, pk, kind in logged
            ],
            now,
        )


def enter(conn: Connection, segment: Segment, keys: Sequence[int], now: int) -> None:
    """Make people members (they must not be members yet), recording each entry."""
    move(conn, [(segment, keys, ())], now)


def leave(conn: Connection, segment: Segment, keys: Sequence[int], now: int) -> None:
    """Remove members, recording each exit."""
    move(conn, [(segment, (), keys)], now)


def add(conn: Connection, segment: Segment, keys: Sequence[int], now: int) -> None:
    """Add people to a manual segment (members already in it stay as they are)."""
    keys = sorted(set(keys))
    present = members_among(conn, segment.id, keys)
    enter(conn, segment, [k for k in keys if k not in present], now)


def remove(conn: Connection, segment: Segment, keys: Sequence[int], now: int) -> None:
    """Remove people from a segment (non-members are ignored)."""
    present = members_among(conn, segment.id, sorted(set(keys)))
    leave(conn, segment, sorted(present), now)


def drop_person(conn: Connection, ws: int, person_pk: int, now: int) -> None:
    """A person is about to be deleted: record their exit from every segment (the rows
    themselves go with the person). No activity: the person's activities go too."""
    for segment_id in conn.execute(
        sa.select(segment_members.c.segment_id).where(segment_members.c.person_pk == person_pk)
    ).scalars():
        changes.log(conn, ws, person_pk, "segment_exited", now, segment_id)


def move_manual(conn: Connection, ws: int, from_pk: int, to_pk: int, now: int) -> None:
    """On a merge, the primary person joins the manual segments the secondary was in."""
    rows = conn.execute(
        sa.select(*_COLUMNS)
        .join(segment_members, segment_members.c.segment_id == segments.c.id)
        .where(segments.c.type == MANUAL, segment_members.c.person_pk == from_pk)
    )
    for segment in [_segment(r) for r in rows]:
        add(conn, segment, [to_pk], now)


# -- evaluation ---------------------------------------------------------------------------------


def evaluate(
    conn: Connection,
    segment: Segment,
    now: int,
    candidates: Sequence[int] | None = None,
    keys: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """Bring membership up to date for ``candidates``, or for everyone with a key in the
    range ``keys`` (one query), or for everyone; returns how many people entered and left."""
    dialect = conn.dialect.name
    if candidates is not None:
        return evaluate_candidates(conn, segment.ws, [(segment, candidates)], now)[segment.id]
    matching = set(
        conn.execute(
            segment_sql.matching(dialect, segment.ws, segment.condition, now, keys=keys)
        ).scalars()
    )
    current = _all_members(conn, segment.id, keys)
    entered = sorted(matching - current)
    left = sorted(current - matching)
    move(conn, [(segment, entered, left)], now)
    return len(entered), len(left)


_SEGMENTS_PER_QUERY = 50


def evaluate_candidates(
    conn: Connection, ws: int, wanted: Sequence[tuple[Segment, Sequence[int]]], now: int
) -> dict[int, tuple[int, int]]:
    """Bring several segments' membership up to date, each for its own candidates, with one
    query per group of segments for the outcomes and one for current membership; returns
    (entered, left) per segment id."""
    results: dict[int, tuple[int, int]] = {}
    for start in range(0, len(wanted), _SEGMENTS_PER_QUERY):
        group = wanted[start : start + _SEGMENTS_PER_QUERY]
        everyone = sorted({pk for _, keys in group for pk in keys})
        # Conditions not relative to now never read it: 0 keeps the query cached longer.
        tests = tuple((s.condition, now if s.timed else 0) for s, _ in group)
        query = segment_sql.outcomes(conn.dialect.name, ws, tests)
        holds: list[set[int]] = [set() for _ in group]
        for chunk in chunks(everyone):
            for pk, *answers in conn.execute(query, {"candidates": list(chunk)}):
                for index, answer in enumerate(answers):
                    if answer:
                        holds[index].add(pk)
        current = _members_of(conn, [s.id for s, _ in group], everyone)
        moves: list[Move] = []
        for index, (segment, keys) in enumerate(group):
            mine = set(keys)
            present = current.get(segment.id, set()) & mine
            entered = sorted((holds[index] & mine) - present)
            left = sorted(present - holds[index])
            if entered or left:
                moves.append((segment, entered, left))
            results[segment.id] = (len(entered), len(left))
        move(conn, moves, now)
    return results


def _members_of(
    conn: Connection, segment_ids: Sequence[int], keys: Sequence[int]
) -> dict[int, set[int]]:
    """Which of ``keys`` are members of each of the segments."""
    found: dict[int, set[int]] = {}
    for chunk in chunks(keys):
        rows = conn.execute(
            sa.select(segment_members.c.segment_id, segment_members.c.person_pk).where(
                segment_members.c.segment_id.in_(list(segment_ids)),
                segment_members.c.person_pk.in_(chunk),
            )
        )
        for segment_id, pk in rows:
            found.setdefault(segment_id, set()).add(pk)
    return found


def key_range(conn: Connection, ws: int) -> tuple[int, int] | None:
    """The lowest and highest person key of the workspace."""
    row = conn.execute(
        sa.select(sa.func.min(people.c.pk), sa.func.max(people.c.pk)).where(
            people.c.workspace_id == ws
        )
    ).first()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1])


def replace(conn: Connection, segment: Segment, keys: Sequence[int], now: int) -> tuple[int, int]:
    """Make exactly ``keys`` the members of a manual segment; returns (entered, exited)."""
    wanted, present = set(keys), _all_members(conn, segment.id)
    entering, exiting = sorted(wanted - present), sorted(present - wanted)
    move(conn, [(segment, entering, exiting)], now)
    return len(entering), len(exiting)


def by_name(conn: Connection, ws: int, name: str) -> list[Segment]:
    """The workspace's segments called ``name`` (names are not unique, so maybe several)."""
    query = sa.select(*_COLUMNS).where(segments.c.workspace_id == ws, segments.c.name == name)
    return [_segment(r) for r in conn.execute(query.order_by(segments.c.id))]
