"""Workspace as code: one document (YAML or JSON) declares a workspace's segments, subscription
topics and transactional messages; applying it makes the workspace match (docs/apply.md).

Entries are keyed by their integer ``id`` (segments by name). Applying the same document twice
changes nothing; entries the document leaves out stay unless ``prune`` is asked for; a dry run
reports what would change and changes nothing. The CLI (``patron apply``), dev mode's
``POST /__patron/apply`` and the pytest fixture's ``patron.apply(doc)`` all come here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy.engine import Connection

from patron.api.app_segments import Definition
from patron.domain import clock
from patron.domain.campaigns import Campaign, parse_campaigns, segment_refs
from patron.domain.definitions import Topic, Transactional, parse_topics, parse_transactional
from patron.domain.errors import InvalidInput
from patron.store import campaigns as campaign_store
from patron.store import definitions, segments
from patron.yaml_files import YamlError, expand_env, load_yaml

SECTIONS = ("segments", "subscription_topics", "transactional", "campaigns")
# Sections Customer.io workspaces have that later versions of Patron apply.
NOT_YET = ("reporting_webhooks", "broadcasts", "newsletters", "snippets", "senders")


@dataclass(frozen=True)
class Outcome:
    """What applying did (or, in a dry run, would do) to one entry."""

    section: str
    id: int | None
    name: str
    action: str  # created | updated | unchanged | deleted

    def view(self) -> dict[str, Any]:
        """As JSON."""
        return asdict(self)


@dataclass(frozen=True)
class Document:
    """A checked document; a section that is ``None`` was absent and is left alone."""

    segments: list[Definition] | None = None
    topics: list[Topic] | None = None
    transactional: list[Transactional] | None = None
    campaigns: list[Campaign] | None = None


def read_text(text: str, environ: dict[str, str] | None = None) -> Any:
    """Parse a document's text (JSON or YAML) and expand ``${VAR}``."""
    try:
        raw = orjson.loads(text) if text.lstrip().startswith("{") else load_yaml(text)
    except (orjson.JSONDecodeError, YamlError) as exc:
        raise InvalidInput(f"the document is neither valid JSON nor valid YAML: {exc}") from exc
    try:
        return expand_env(raw, "document", environ)
    except YamlError as exc:
        raise InvalidInput(str(exc)) from exc


def parse(raw: Any) -> Document:
    """Check a parsed document section by section."""
    if raw is None:
        return Document()
    if not isinstance(raw, dict):
        raise InvalidInput("a workspace document is a mapping of sections")
    for key in raw:
        if key in NOT_YET:
            raise InvalidInput(f"the {key!r} section is not supported by this version of Patron")
        if key not in SECTIONS:
            raise InvalidInput(f"unknown section {key!r}; sections are {', '.join(SECTIONS)}")
    specs = None
    if raw.get("segments") is not None:
        items = raw["segments"]
        if not isinstance(items, list):
            raise InvalidInput("segments must be a list")
        specs = []
        for index, item in enumerate(items):
            try:
                specs.append(Definition({"segment": item}))
            except InvalidInput as exc:
                raise InvalidInput(f"segments[{index}]: {exc}") from exc
        names = [s.name for s in specs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidInput(f"segments: {twice[0]!r} is declared twice")
    topics = None
    if raw.get("subscription_topics") is not None:
        topics = parse_topics(raw["subscription_topics"])
    transactional = None
    if raw.get("transactional") is not None:
        transactional = parse_transactional(raw["transactional"])
    found = None
    if raw.get("campaigns") is not None:
        found = parse_campaigns(raw["campaigns"])
        for campaign in found:
            webhooks = [n.id for n in campaign.program.nodes.values() if n.type == "webhook"]
            if webhooks:
                raise InvalidInput(
                    f"campaign {campaign.id}: webhook actions (action {webhooks[0]}) are not "
                    "supported by this version of Patron"
                )
    return Document(specs, topics, transactional, found)


def apply(
    conn: Connection, ws: int, doc: Document, *, prune: bool = False, dry_run: bool = False
) -> list[Outcome]:
    """Make the workspace match ``doc`` in one transaction (the caller's)."""
    now = clock.now(ws)
    outcomes: list[Outcome] = []
    topic_ids = {t.id for t in definitions.topics(conn, ws)}
    if doc.topics is not None:
        outcomes += _apply_topics(conn, ws, doc.topics, prune, dry_run)
        topic_ids = {t.id for t in doc.topics} | (set() if prune else topic_ids)
    if doc.transactional is not None:
        for message in doc.transactional:
            topic = message.options.get("topic")
            if topic is not None and topic not in topic_ids:
                raise InvalidInput(
                    f"transactional {message.id}: subscription topic {topic} does not exist"
                )
        outcomes += _apply_transactional(conn, ws, doc.transactional, prune, dry_run, now)
    if doc.segments is not None:
        outcomes += apply_segments(conn, ws, doc.segments, prune=prune, dry_run=dry_run)
    if doc.campaigns is not None:
        # Conditions may name segments: now that the segments exist, name them by id.
        resolved = parse_campaigns(
            [c.source for c in doc.campaigns],
            lambda name: _segment_id(conn, ws, name, "campaign condition"),
        )
        outcomes += _apply_campaigns(conn, ws, resolved, prune, dry_run, now)
    return outcomes


def _segment_id(conn: Connection, ws: int, ref: int | str, where: str) -> int:
    """A segment named by id or by name, which must exist."""
    if isinstance(ref, int):
        if segments.get(conn, ws, ref) is None:
            raise InvalidInput(f"{where}: segment {ref} does not exist")
        return ref
    named = segments.by_name(conn, ws, ref)
    if len(named) != 1:
        raise InvalidInput(
            f"{where}: {'no' if not named else len(named)} segment(s) called {ref!r}"
        )
    return named[0].id


def _trigger_key(conn: Connection, ws: int, campaign: Campaign) -> str | None:
    trigger = campaign.trigger
    for where, ref in segment_refs(campaign):
        _segment_id(conn, ws, ref, f"campaign {campaign.id} {where}")
    if trigger.kind == "event":
        return trigger.event
    if trigger.kind == "attribute_change":
        return trigger.attribute
    if trigger.kind == "segment":
        assert trigger.segment is not None
        return str(_segment_id(conn, ws, trigger.segment, f"campaign {campaign.id} trigger"))
    return None


def _apply_campaigns(
    conn: Connection, ws: int, wanted: list[Campaign], prune: bool, dry_run: bool, now: int
) -> list[Outcome]:
    existing = {s.campaign.id: s for s in campaign_store.all_of(conn, ws)}
    outcomes = []
    for campaign in wanted:
        key = _trigger_key(conn, ws, campaign)
        before = existing.get(campaign.id)
        if dry_run:
            same = (
                before is not None
                and before.campaign.fingerprint() == campaign.fingerprint()
                and before.trigger_key == key
            )
            action = "created" if before is None else "unchanged" if same else "updated"
        else:
            action = campaign_store.put(conn, ws, campaign, key, now)
        outcomes.append(Outcome("campaigns", campaign.id, campaign.name, action))
    if prune:
        for gone in sorted(set(existing) - {c.id for c in wanted}):
            if not dry_run:
                campaign_store.delete(conn, ws, gone)
            outcomes.append(Outcome("campaigns", gone, existing[gone].campaign.name, "deleted"))
    return outcomes


class _Entry(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=_Entry)


def _reconcile(
    section: str,
    existing: dict[int, E],
    wanted: list[E],
    put: Callable[[E], None],
    delete: Callable[[int], None],
    *,
    prune: bool,
    dry_run: bool,
) -> list[Outcome]:
    """Put every wanted entry that differs from the stored one (by id); with ``prune``, delete
    the stored ones not wanted."""
    outcomes = []
    for entry in wanted:
        before = existing.get(entry.id)
        action = "created" if before is None else "unchanged" if before == entry else "updated"
        if action != "unchanged" and not dry_run:
            put(entry)
        outcomes.append(Outcome(section, entry.id, entry.name, action))
    if prune:
        for gone in sorted(set(existing) - {e.id for e in wanted}):
            if not dry_run:
                delete(gone)
            outcomes.append(Outcome(section, gone, existing[gone].name, "deleted"))
    return outcomes


def _apply_topics(
    conn: Connection, ws: int, wanted: list[Topic], prune: bool, dry_run: bool
) -> list[Outcome]:
    return _reconcile(
        "subscription_topics",
        {t.id: t for t in definitions.topics(conn, ws)},
        wanted,
        lambda topic: definitions.put_topic(conn, ws, topic),
        lambda gone: definitions.delete_topic(conn, ws, gone),
        prune=prune,
        dry_run=dry_run,
    )


def _apply_transactional(
    conn: Connection, ws: int, wanted: list[Transactional], prune: bool, dry_run: bool, now: int
) -> list[Outcome]:
    existing = {s.message.id: s.message for s in definitions.transactional(conn, ws)}
    names = {m.name.lower(): m.id for m in existing.values()}
    renamed = {m.id for m in wanted if m.id in existing and existing[m.id].name != m.name}
    for message in wanted:
        holder = names.get(message.name.lower())
        if holder is not None and holder != message.id and holder not in renamed:
            raise InvalidInput(
                f"transactional {message.id}: the name {message.name!r} belongs to "
                f"transactional message {holder}"
            )
    return _reconcile(
        "transactional",
        existing,
        wanted,
        lambda message: definitions.put_transactional(conn, ws, message, now),
        lambda gone: definitions.delete_transactional(conn, ws, gone),
        prune=prune,
        dry_run=dry_run,
    )


def apply_segments(
    conn: Connection,
    ws: int,
    specs: list[Definition],
    *,
    prune: bool = False,
    dry_run: bool = False,
) -> list[Outcome]:
    """Create or change each declared segment, matched by name, in order (later ones may refer
    to earlier ones); with ``prune``, delete the segments the list does not name."""
    from patron.api.app_segments import change_segment, create_segment

    outcomes = []
    for spec in specs:
        kind = segments.MANUAL if spec.conditions is None else segments.DYNAMIC
        named = segments.by_name(conn, ws, spec.name)
        if len(named) > 1:
            raise InvalidInput(f"{len(named)} segments are called {spec.name!r}; rename them")
        if not named:
            created = None if dry_run else create_segment(conn, ws, spec)
            outcomes.append(
                Outcome("segments", None if created is None else created.id, spec.name, "created")
            )
            continue
        existing = named[0]
        if existing.type != kind:
            raise InvalidInput(
                f"segment {existing.id} ({spec.name!r}) is {existing.type}; the file makes it "
                f"{kind}: delete it first or rename one of them"
            )
        unchanged = (
            existing.description == spec.description
            and (spec.tags is None or existing.tags == spec.tags)
            and (spec.conditions is None or existing.conditions == spec.conditions)
        )
        if not unchanged and not dry_run:
            change_segment(
                conn, ws, segments.get(conn, ws, existing.id, lock=True) or existing, spec
            )
        outcomes.append(
            Outcome("segments", existing.id, spec.name, "unchanged" if unchanged else "updated")
        )
    if prune:
        keep = {s.name for s in specs}
        for segment in segments.all_of(conn, ws):
            if segment.name in keep:
                continue
            if not dry_run:
                if segments.referring_to(conn, ws, segment.id):
                    raise InvalidInput(
                        f"segment {segment.id} ({segment.name!r}) is not in the document but "
                        "other segments refer to it"
                    )
                segments.delete(conn, ws, segment.id)
            outcomes.append(Outcome("segments", segment.id, segment.name, "deleted"))
    return outcomes
