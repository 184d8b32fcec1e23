"""Compile conditions (``domain/conditions.py``) to one SQL query, on SQLite and PostgreSQL.

A condition becomes a boolean expression over ``people``. The same tree compiles in two
scopes: ``full`` (everyone: subqueries as ``pk IN (…)``, which the database runs once) and
``some`` (a few candidates: correlated ``EXISTS``/counts that use the per-person indexes).
Both say the same thing; the segment property tests check that they agree.

Attribute values are JSON. Text operators compare a value's wire form (what the App API
shows: strings as they are, numbers in their JSON text, booleans as ``true``/``false``);
numeric operators read numbers and numeric strings, and ignore everything else.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import sqlalchemy as sa

from patron.domain.conditions import (
    NUMBER_TEXT,
    Attr,
    Condition,
    Device,
    Event,
    Group,
    InSegment,
    Not,
    Related,
)
from patron.domain.identifiers import email_key
from patron.store.schema import (
    activities,
    devices,
    objects,
    people,
    relationships,
    segment_members,
)

Scope = Literal["full", "some"]
Expr = sa.ColumnElement[Any]

# Person fields that are identifiers, held in their own columns rather than in attributes.
_IDENTIFIER_COLUMNS = {
    "id": people.c.external_id,
    "email": people.c.email,
    "cio_id": people.c.cio_id,
    "phone": people.c.phone,
}
_PG_NUMBER = NUMBER_TEXT.pattern.replace("\\s", "[[:space:]]")


def sqlite_number(text: Any) -> float | None:
    """SQLite function ``patron_number``: a numeric string's value, else NULL."""
    if isinstance(text, str) and NUMBER_TEXT.match(text):
        try:
            return float(text)
        except ValueError:
            return None
    return None


class _Value:
    """How to read one field of a JSON column (or an identifier column) as text and number."""

    def __init__(self, dialect: str, column: Any, field: str) -> None:
        self.dialect = dialect
        self.plain: Any = None
        if column is people.c.attributes and field in _IDENTIFIER_COLUMNS:
            self.plain = _IDENTIFIER_COLUMNS[field]
        self.column = column
        self.field = field
        self.path = '$."' + field + '"'

    def _type(self) -> Expr:
        if self.dialect == "postgresql":
            return sa.func.jsonb_typeof(self.column.op("->")(self.field), type_=sa.String)
        return sa.func.json_type(self.column, self.path, type_=sa.String)

    def exists(self) -> Expr:
        if self.plain is not None:
            return self.plain.isnot(None)  # type: ignore[no-any-return]
        return self._type().isnot(None)

    def text(self) -> Expr:
        if self.plain is not None:
            return self.plain  # type: ignore[no-any-return]
        if self.dialect == "postgresql":
            return self.column.op("->>", return_type=sa.String)(self.field)  # type: ignore[no-any-return]
        kind = self._type()
        return sa.case(
            (kind == "text", sa.func.json_extract(self.column, self.path, type_=sa.String)),
            else_=self.column.op("->", return_type=sa.String)(self.path),
        )

    def number(self) -> Expr:
        text = self.text()
        if self.dialect == "postgresql":
            numeric = sa.cast(text, sa.Numeric)
            if self.plain is not None:
                return sa.case((text.op("~")(_PG_NUMBER), numeric))
            kind = self._type()
            return sa.case(
                (kind == "number", numeric),
                (sa.and_(kind == "string", text.op("~")(_PG_NUMBER)), numeric),
            )
        if self.plain is not None:
            return sa.func.patron_number(text, type_=sa.Float)
        kind = self._type()
        raw = sa.func.json_extract(self.column, self.path, type_=sa.Float)
        return sa.case(
            (kind.in_(["integer", "real"]), raw),
            (kind == "text", sa.func.patron_number(raw, type_=sa.Float)),
        )


def _number_literal(dialect: str, value: float) -> Expr:
    return sa.literal(value, sa.Numeric if dialect == "postgresql" else sa.Float)


def attribute(dialect: str, column: Any, test: Attr, now: int) -> Expr:
    """One attribute test against a JSON column (or a person's identifier column)."""
    value = _Value(dialect, column, test.field)
    op = test.operator
    if op == "exists":
        return value.exists()
    if op == "not_exists":
        return sa.not_(value.exists())
    if op == "neq":
        return sa.not_(
            attribute(dialect, column, Attr(test.field, "eq", test.text, test.number), now)
        )
    if op in ("gt", "gte", "lt", "lte") or (op == "eq" and test.number is not None):
        assert test.number is not None
        number = value.number()
        bound = _number_literal(dialect, test.number)
        compare = {"gt": number > bound, "gte": number >= bound, "lt": number < bound}
        compare |= {"lte": number <= bound, "eq": number == bound}
        return sa.and_(number.isnot(None), compare[op])
    if op in ("within_last", "more_than_ago"):
        assert test.seconds is not None
        number = value.number()
        bound = _number_literal(dialect, now - test.seconds)
        return sa.and_(
            number.isnot(None), number >= bound if op == "within_last" else number < bound
        )
    if op == "in":
        return sa.and_(value.exists(), value.text().in_(test.texts))
    assert test.text is not None
    if op == "eq" and value.plain is people.c.email:
        return sa.and_(people.c.email_key.isnot(None), people.c.email_key == email_key(test.text))
    text = value.text()
    if op == "eq":
        return sa.and_(value.exists(), text == test.text)
    position = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    if op == "contains":
        return sa.and_(value.exists(), position(text, test.text) > 0)
    # starts_with
    return sa.and_(value.exists(), sa.func.substr(text, 1, len(test.text)) == test.text)


def unindexed(column: Any) -> Expr:
    """``column`` in a form no index applies to, to steer the query planner.

    SQLite has no statistics unless someone runs ANALYZE, so between two indexes it prefers the
    one with more equality columns, and that is often the wrong one: a candidate's events by
    (workspace, name, type) instead of by (workspace, person), or everyone's events in a key
    range by person instead of the few with one name. Comparing ``name || ''`` or
    ``person_pk + 0`` takes that index out of the choice, on both databases.
    """
    if isinstance(column.type, sa.String):
        expr: Expr = column.op("||")(sa.literal(""))
        return expr
    shifted: Expr = column + 0
    return shifted


def _all(dialect: str, column: Any, tests: tuple[Attr, ...], now: int) -> list[Expr]:
    return [attribute(dialect, column, t, now) for t in tests]


class Compiler:
    """Compiles conditions for one workspace, dialect, scope and moment."""

    def __init__(
        self,
        dialect: str,
        ws: int,
        now: int,
        scope: Scope = "full",
        keys: tuple[int, int] | None = None,
    ) -> None:
        self.dialect = dialect
        self.ws = ws
        self.now = now
        self.scope = scope
        self.keys = keys  # full scope over a range of person keys (a build's step)

    def where(self, condition: Condition) -> Expr:
        """A boolean expression over ``people`` for ``condition``."""
        if isinstance(condition, Group):
            parts = [self.where(c) for c in condition.children]
            return sa.and_(*parts) if condition.op == "and" else sa.or_(*parts)
        if isinstance(condition, Not):
            return sa.not_(self.where(condition.child))
        if isinstance(condition, Attr):
            return attribute(self.dialect, people.c.attributes, condition, self.now)
        if isinstance(condition, Event):
            return self._event(condition)
        if isinstance(condition, Device):
            query = sa.select(devices.c.person_pk).where(devices.c.workspace_id == self.ws)
            if condition.platform is not None:
                query = query.where(devices.c.platform == condition.platform)
            return self._holds(query, devices.c.person_pk)
        if isinstance(condition, Related):
            return self._related(condition)
        assert isinstance(condition, InSegment)
        if not 1 <= condition.id < 2**31:
            return sa.false()  # no such segment can exist (nor be bound as a key)
        query = sa.select(segment_members.c.person_pk).where(
            segment_members.c.workspace_id == self.ws,
            segment_members.c.segment_id == condition.id,
        )
        return self._holds(query, segment_members.c.person_pk)

    def _holds(self, query: sa.Select[Any], person_column: Any) -> Expr:
        """The person appears in ``query`` (which selects person keys)."""
        if self.scope == "full":
            return people.c.pk.in_(self._in_range(query, person_column))
        return sa.exists(query.where(person_column == people.c.pk))

    def _in_range(self, query: sa.Select[Any], person_column: Any) -> sa.Select[Any]:
        if self.keys is None:
            return query
        if person_column is activities.c.person_pk:
            # Read one name's events by (name, type, time), not every event in the key range.
            person_column = unindexed(person_column)
        return query.where(person_column.between(*self.keys))

    def _event_criteria(self, event: Event) -> list[Expr]:
        # For a few candidates, read each one's events by person, not everyone's by name.
        name = activities.c.name if self.scope == "full" else unindexed(activities.c.name)
        criteria = [
            activities.c.workspace_id == self.ws,
            activities.c.person_pk.isnot(None),
            activities.c.type == event.type,
            name == event.name,
            *_all(self.dialect, activities.c.data, event.data, self.now),
        ]
        if event.within is not None:
            criteria.append(activities.c.timestamp >= self.now - event.within)
        return criteria

    def _event(self, event: Event) -> Expr:
        criteria = self._event_criteria(event)
        rows = sa.select(activities.c.person_pk).where(*criteria)
        low, high = event.at_least, event.at_most
        if low == 0 and high is None:
            return sa.true()
        if self.scope == "some":
            mine = activities.c.person_pk == people.c.pk
            if low == 1 and high is None:
                return sa.exists(rows.where(mine))
            count = (
                sa.select(sa.func.count())
                .select_from(activities)
                .where(*criteria, mine)
                .scalar_subquery()
            )
            bounds = [count >= low] + ([] if high is None else [count <= high])
            return sa.and_(*bounds)
        rows = self._in_range(rows, activities.c.person_pk)
        if low == 1 and high is None:
            return people.c.pk.in_(rows)
        grouped = rows.group_by(activities.c.person_pk)
        total = sa.func.count()
        if low == 0:
            assert high is not None
            return people.c.pk.not_in(grouped.having(total > high))
        having = [total >= low] + ([] if high is None else [total <= high])
        return people.c.pk.in_(grouped.having(sa.and_(*having)))

    def _related(self, condition: Related) -> Expr:
        query = (
            sa.select(relationships.c.person_pk)
            .join(objects, objects.c.pk == relationships.c.object_pk)
            .where(
                relationships.c.workspace_id == self.ws,
                relationships.c.person_pk.isnot(None),
                objects.c.type_id == condition.object_type_id,
                *_all(self.dialect, objects.c.attributes, condition.attributes, self.now),
                *_all(
                    self.dialect,
                    relationships.c.attributes,
                    condition.relationship_attributes,
                    self.now,
                ),
            )
        )
        return self._holds(query, relationships.c.person_pk)


def matching(
    dialect: str,
    ws: int,
    condition: Condition,
    now: int,
    *,
    keys: tuple[int, int] | None = None,
) -> sa.Select[Any]:
    """Keys of the workspace's people that satisfy ``condition`` (only those with a key in the
    range ``keys``, when given), in key order. For a few candidates, see :func:`outcomes`."""
    compiler = Compiler(dialect, ws, now, "full", keys)
    # With a key range, people are read by key, not by workspace.
    workspace = people.c.workspace_id if keys is None else unindexed(people.c.workspace_id)
    query = sa.select(people.c.pk).where(workspace == ws, compiler.where(condition))
    if keys is not None:
        query = query.where(people.c.pk.between(*keys))
    return query.order_by(people.c.pk)


@functools.lru_cache(maxsize=256)
def outcomes(dialect: str, ws: int, tests: tuple[tuple[Condition, int], ...]) -> sa.Select[Any]:
    """For each person in the expanding parameter ``candidates``: their key, then 1 or 0 for
    each ``(condition, now)`` of ``tests`` — many segments' answers in one query.

    Built once per set of conditions (and per second, for conditions relative to now):
    building the expression tree costs far more than running it for a few candidates.
    """
    columns = []
    for index, (condition, now) in enumerate(tests):
        compiler = Compiler(dialect, ws, now, "some")
        columns.append(sa.case((compiler.where(condition), 1), else_=0).label(f"t{index}"))
    return (
        sa.select(people.c.pk, *columns)
        .where(
            unindexed(people.c.workspace_id) == ws,
            people.c.pk.in_(sa.bindparam("candidates", expanding=True)),
        )
        .order_by(people.c.pk)
    )


def near_boundary(
    dialect: str, ws: int, part: Attr | Event, since: int, now: int
) -> sa.Select[Any]:
    """People whose outcome for a time-relative ``part`` may have flipped between ``since``
    and ``now``: their timestamp crossed the edge of the window meanwhile."""
    seconds = part.seconds if isinstance(part, Attr) else part.within
    assert seconds is not None
    low, high = since - seconds, now - seconds
    if isinstance(part, Attr):
        number = _Value(dialect, people.c.attributes, part.field).number()
        return sa.select(people.c.pk).where(
            people.c.workspace_id == ws,
            number >= _number_literal(dialect, low),
            number <= _number_literal(dialect, high),
        )
    return (
        sa.select(activities.c.person_pk)
        .where(
            activities.c.workspace_id == ws,
            activities.c.person_pk.isnot(None),
            activities.c.type == part.type,
            activities.c.name == part.name,
            activities.c.timestamp >= low,
            activities.c.timestamp <= high,
        )
        .distinct()
    )


def search(
    conn: sa.Connection, ws: int, condition: Condition, now: int, after: int, limit: int
) -> list[int]:
    """Keys of up to ``limit`` matching people after key ``after`` (people search)."""
    query = matching(conn.dialect.name, ws, condition, now).where(people.c.pk > after)
    return list(conn.execute(query.limit(limit)).scalars())
