"""Campaign definitions (the ``campaigns:`` section of ``patron apply``), checked and compiled.

A campaign's ``workflow`` is a tree (branches hold lists of actions); it compiles to a
:class:`Program`: every action by its id, each knowing the action that follows it once it is
done (``next``) and, for branching actions, the first action of each path. A run's position is
just an action id, so a run survives edits that keep that action's id. Errors name the path of
the bad key (``campaigns[0].workflow[2].duration``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from patron.domain import conditions
from patron.domain.durations import parse_duration
from patron.domain.errors import InvalidInput

STATES = ("running", "draft", "stopped")
FREQUENCIES = ("once", "rematch", "every_time")
EXITS = ("stop_matching", "goal", "goal_or_stop_matching", "never")
ACTION_TYPES = (
    "email",
    "delay",
    "time_window",
    "wait_until",
    "branch",
    "multi_split",
    "random_cohort",
    "webhook",
    "attribute_update",
    "create_event",
    "segment_update",
    "exit",
)
SENDING_STATES = ("automatic", "draft", "off")
EMAIL_FIELDS = ("from", "reply_to", "subject", "preheader", "body", "body_plain", "cc", "bcc")
MAX_GOAL_WINDOW = 90 * 86400
MAX_ID = 2**31 - 1
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Trigger:
    """What starts a run: an event (optionally with conditions on its data), entering or
    leaving a segment, an attribute changing, or a call to the campaign's webhook URL."""

    kind: str  # event | segment | attribute_change | webhook
    event: str | None = None
    where: tuple[conditions.Attr, ...] = ()
    segment: int | str | None = None
    on: str = "enter"
    attribute: str | None = None


@dataclass(frozen=True)
class Node:
    """One action of a compiled workflow."""

    id: int
    type: str
    spec: dict[str, Any]
    next: int | None
    paths: tuple[int | None, ...] = ()  # branch: (yes, no); splits: one per path, else last


@dataclass(frozen=True)
class Program:
    """A compiled workflow: its first action and every action by id."""

    start: int | None
    nodes: dict[int, Node]


@dataclass(frozen=True)
class Campaign:
    """A checked campaign definition."""

    id: int
    name: str
    trigger: Trigger
    workflow: list[dict[str, Any]]
    description: str = ""
    tags: tuple[str, ...] = ()
    state: str = "running"
    filter: Any = None  # the raw condition tree (checked), or None
    frequency: str = "once"
    every: int | None = None  # seconds, for frequency {every: …}
    exit: str = "stop_matching"
    goal: dict[str, Any] | None = None
    goal_within: int = 7 * 86400
    migrate: bool = False
    program: Program = field(default_factory=lambda: Program(None, {}), compare=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)  # segment names resolved
    source: dict[str, Any] = field(default_factory=dict, compare=False)  # as written

    def fingerprint(self) -> str:
        """A digest of the definition: a new version exists when it changes."""
        return hashlib.sha256(orjson.dumps(self.raw, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def condition(self) -> conditions.Condition | None:
        """The audience filter, parsed."""
        return None if self.filter is None else conditions.parse(self.filter, "filter")


def _int_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidInput(f"{where} must be a positive integer")
    return value


def _text(raw: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{where}.{key} {'is required: ' if required else 'must be '}a string")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be a mapping")
    return value


def _known(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput(
            f"{where}.{unknown[0]}: unknown key (one of {', '.join(sorted(allowed))})"
        )


def _condition(value: Any, where: str) -> Any:
    conditions.parse(value, where)
    return value


def _segment_ref(value: Any, where: str) -> int | str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return _int_id(value, where)


def parse_trigger(raw: Any, where: str) -> Trigger:
    """``{event: NAME, where: …}``, ``{segment: ID or name, on: enter|exit}``,
    ``{attribute_change: NAME}`` or ``{webhook: {}}``."""
    raw = _mapping(raw, where)
    kinds = [k for k in ("event", "segment", "attribute_change", "webhook") if k in raw]
    if len(kinds) != 1:
        raise InvalidInput(
            f"{where} needs exactly one of event, segment, attribute_change or webhook"
        )
    kind = kinds[0]
    if kind == "event":
        _known(raw, {"event", "where"}, where)
        name = raw["event"]
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}.event must be an event name")
        tests: tuple[conditions.Attr, ...] = ()
        if raw.get("where") is not None:
            items = raw["where"] if isinstance(raw["where"], list) else [raw["where"]]
            tests = tuple(
                conditions.parse_attribute(item, f"{where}.where[{i}]")
                for i, item in enumerate(items)
            )
        return Trigger("event", event=name.strip(), where=tests)
    if kind == "segment":
        _known(raw, {"segment", "on"}, where)
        on = raw.get("on", "enter")
        if on not in ("enter", "exit"):
            raise InvalidInput(f"{where}.on must be enter or exit")
        return Trigger("segment", segment=_segment_ref(raw["segment"], f"{where}.segment"), on=on)
    if kind == "attribute_change":
        _known(raw, {"attribute_change"}, where)
        name = raw["attribute_change"]
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}.attribute_change must be an attribute name")
        return Trigger("attribute_change", attribute=name.strip())
    _known(raw, {"webhook"}, where)
    return Trigger("webhook")


def _email(raw: dict[str, Any], where: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if raw.get("template") is not None:
        spec["template"] = _int_id(raw["template"], f"{where}.template")
    for key in EMAIL_FIELDS:
        if raw.get(key) is not None:
            spec[key] = _text(raw, key, where)
    if "template" not in spec and not spec.get("body"):
        raise InvalidInput(f"{where}: an email needs body (or template)")
    recipient = raw.get("recipient", "{{customer.email}}")
    if not isinstance(recipient, str):
        raise InvalidInput(f"{where}.recipient must be a string")
    spec["recipient"] = recipient
    state = raw.get("sending_state", "automatic")
    if state not in SENDING_STATES:
        raise InvalidInput(f"{where}.sending_state must be one of {', '.join(SENDING_STATES)}")
    spec["sending_state"] = state
    if raw.get("send_to_unsubscribed") is not None:
        if not isinstance(raw["send_to_unsubscribed"], bool):
            raise InvalidInput(f"{where}.send_to_unsubscribed must be true or false")
        spec["send_to_unsubscribed"] = raw["send_to_unsubscribed"]
    return spec


def _time_window(raw: dict[str, Any], where: str) -> dict[str, Any]:
    days = raw.get("days", list(DAYS))
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise InvalidInput(f"{where}.days must be a list of {', '.join(DAYS)}")
    spec: dict[str, Any] = {"days": days}
    for key in ("from", "to"):
        value = raw.get(key, "00:00" if key == "from" else "24:00")
        if not isinstance(value, str) or not _clock_time(value):
            raise InvalidInput(f"{where}.{key} must be a time like 09:00")
        spec[key] = value
    timezone = raw.get("timezone", "customer")
    if not isinstance(timezone, str):
        raise InvalidInput(f"{where}.timezone must be customer or an IANA time zone")
    if timezone != "customer":
        _zone(timezone, f"{where}.timezone")
    spec["timezone"] = timezone
    return spec


def _clock_time(value: str) -> bool:
    parts = value.split(":")
    return (
        len(parts) == 2
        and all(p.isdigit() and len(p) == 2 for p in parts)
        and (0 <= int(parts[0]) < 24 or value == "24:00")
        and 0 <= int(parts[1]) < 60
    )


def _zone(name: str, where: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"{where}: unknown time zone {name!r}") from exc


def _wait_until(raw: dict[str, Any], where: str) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if raw.get("conditions") is not None:
        spec["conditions"] = _condition(raw["conditions"], f"{where}.conditions")
    if raw.get("event") is not None:
        name = raw["event"]
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}.event must be an event name")
        spec["event"] = name.strip()
    if not spec:
        raise InvalidInput(f"{where}: wait_until needs conditions or event")
    if raw.get("max") is not None:
        spec["max"] = parse_duration(raw["max"], f"{where}.max")
        if spec["max"] <= 0:
            raise InvalidInput(f"{where}.max must be positive")
    return spec


def _attribute_update(raw: dict[str, Any], where: str) -> dict[str, Any]:
    values = raw.get("set") or {}
    if not isinstance(values, dict):
        raise InvalidInput(f"{where}.set must be a mapping of attribute to value")
    unset = raw.get("unset") or []
    if not isinstance(unset, list) or not all(isinstance(u, str) for u in unset):
        raise InvalidInput(f"{where}.unset must be a list of attribute names")
    if not values and not unset:
        raise InvalidInput(f"{where}: attribute_update needs set or unset")
    return {"set": values, "unset": unset}


def _create_event(raw: dict[str, Any], where: str) -> dict[str, Any]:
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{where}.name must be an event name")
    data = raw.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}.data must be a mapping")
    return {"name": name.strip(), "data": data}


def _segment_update(raw: dict[str, Any], where: str) -> dict[str, Any]:
    action = raw.get("action", "add")
    if action not in ("add", "remove"):
        raise InvalidInput(f"{where}.action must be add or remove")
    return {"segment": _segment_ref(raw.get("segment"), f"{where}.segment"), "action": action}


_SPEC_KEYS: dict[str, set[str]] = {
    "email": {
        "template", "recipient", "sending_state", "send_to_unsubscribed", "name", *EMAIL_FIELDS,
    },
    "delay": {"duration", "name"},
    "time_window": {"days", "from", "to", "timezone", "name"},
    "wait_until": {"conditions", "event", "max", "name"},
    "branch": {"if", "yes", "no", "name"},
    "multi_split": {"paths", "else", "name"},
    "random_cohort": {"paths", "name"},
    "webhook": {"method", "url", "headers", "body", "save_response", "sending_state", "name"},
    "attribute_update": {"set", "unset", "name"},
    "create_event": {"name", "data"},
    "segment_update": {"segment", "action", "name"},
    "exit": {"name"},
}  # fmt: skip


class _Compiler:
    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {}

    def sequence(self, raw: Any, where: str, after: int | None) -> int | None:
        """Compile a list of actions that continues at ``after``; returns its first id."""
        if not isinstance(raw, list):
            raise InvalidInput(f"{where} must be a list of actions")
        first = after
        # Back to front, so that each action knows the one after it.
        following = after
        for index in range(len(raw) - 1, -1, -1):
            following = self.action(raw[index], f"{where}[{index}]", following)
            first = following
        return first

    def action(self, raw: Any, where: str, after: int | None) -> int:
        raw = _mapping(raw, where)
        node_id = _int_id(raw.get("id"), f"{where}.id")
        if node_id in self.nodes:
            raise InvalidInput(f"{where}.id: action {node_id} appears twice in the workflow")
        kind = raw.get("type")
        if kind not in ACTION_TYPES:
            raise InvalidInput(f"{where}.type must be one of {', '.join(ACTION_TYPES)}")
        _known(raw, {"id", "type", *_SPEC_KEYS[kind]}, where)
        self.nodes[node_id] = Node(node_id, kind, {}, after)  # reserve the id
        spec: dict[str, Any] = {}
        paths: tuple[int | None, ...] = ()
        if kind == "email":
            spec = _email(raw, where)
        elif kind == "delay":
            spec = {"duration": parse_duration(raw.get("duration"), f"{where}.duration")}
            if spec["duration"] < 0:
                raise InvalidInput(f"{where}.duration cannot be negative")
        elif kind == "time_window":
            spec = _time_window(raw, where)
        elif kind == "wait_until":
            spec = _wait_until(raw, where)
        elif kind == "branch":
            spec = {"if": _condition(raw.get("if"), f"{where}.if")}
            paths = (
                self.sequence(raw.get("yes") or [], f"{where}.yes", after),
                self.sequence(raw.get("no") or [], f"{where}.no", after),
            )
        elif kind == "multi_split":
            items = raw.get("paths")
            if not isinstance(items, list) or not items:
                raise InvalidInput(f"{where}.paths must be a non-empty list")
            conditions_of = []
            found = []
            for i, path in enumerate(items):
                path = _mapping(path, f"{where}.paths[{i}]")
                _known(path, {"if", "workflow"}, f"{where}.paths[{i}]")
                conditions_of.append(_condition(path.get("if"), f"{where}.paths[{i}].if"))
                found.append(
                    self.sequence(path.get("workflow") or [], f"{where}.paths[{i}].workflow", after)
                )
            found.append(self.sequence(raw.get("else") or [], f"{where}.else", after))
            spec, paths = {"if": conditions_of}, tuple(found)
        elif kind == "random_cohort":
            items = raw.get("paths")
            if not isinstance(items, list) or not items:
                raise InvalidInput(f"{where}.paths must be a non-empty list")
            percents = []
            found = []
            for i, path in enumerate(items):
                path = _mapping(path, f"{where}.paths[{i}]")
                _known(path, {"percent", "workflow"}, f"{where}.paths[{i}]")
                percent = path.get("percent")
                if isinstance(percent, bool) or not isinstance(percent, int | float) or percent < 0:
                    raise InvalidInput(f"{where}.paths[{i}].percent must be a number ≥ 0")
                percents.append(float(percent))
                found.append(
                    self.sequence(path.get("workflow") or [], f"{where}.paths[{i}].workflow", after)
                )
            if abs(sum(percents) - 100) > 1e-6:
                raise InvalidInput(f"{where}.paths: the percents must add up to 100")
            spec, paths = {"percents": percents}, tuple(found)
        elif kind == "webhook":
            spec = _webhook(raw, where)
        elif kind == "attribute_update":
            spec = _attribute_update(raw, where)
        elif kind == "create_event":
            spec = _create_event(raw, where)
        elif kind == "segment_update":
            spec = _segment_update(raw, where)
        if raw.get("name") is not None and kind != "create_event":
            spec["name"] = str(raw["name"])
        self.nodes[node_id] = Node(node_id, kind, spec, None if kind == "exit" else after, paths)
        return node_id


def _webhook(raw: dict[str, Any], where: str) -> dict[str, Any]:
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(f"{where}.url is required")
    method = str(raw.get("method", "POST")).upper()
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        raise InvalidInput(f"{where}.method must be GET, POST, PUT, PATCH or DELETE")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise InvalidInput(f"{where}.headers must be a mapping of name to value")
    body = raw.get("body")
    if body is not None and not isinstance(body, str | dict | list):
        raise InvalidInput(f"{where}.body must be text or JSON")
    saves = raw.get("save_response") or {}
    if not isinstance(saves, dict):
        raise InvalidInput(f"{where}.save_response must map names to JSON paths")
    state = raw.get("sending_state", "automatic")
    if state not in SENDING_STATES:
        raise InvalidInput(f"{where}.sending_state must be one of {', '.join(SENDING_STATES)}")
    return {
        "url": url.strip(),
        "method": method,
        "headers": {str(k): str(v) for k, v in headers.items()},
        "body": body,
        "save_response": saves,
        "sending_state": state,
    }


def compile_workflow(raw: Any, where: str) -> Program:
    """Check a workflow and compile it."""
    compiler = _Compiler()
    start = compiler.sequence(raw, where, None)
    return Program(start, compiler.nodes)


def _frequency(raw: Any, where: str) -> tuple[str, int | None]:
    if raw is None:
        return "once", None
    if isinstance(raw, dict):
        _known(raw, {"every"}, where)
        seconds = parse_duration(raw.get("every"), f"{where}.every")
        if seconds <= 0:
            raise InvalidInput(f"{where}.every must be positive")
        return "every", seconds
    if raw not in FREQUENCIES:
        raise InvalidInput(f"{where} must be one of {', '.join(FREQUENCIES)} or {{every: 7d}}")
    return str(raw), None


def _goal(raw: Any, where: str) -> tuple[dict[str, Any] | None, int]:
    if raw is None:
        return None, 7 * 86400
    raw = _mapping(raw, where)
    _known(raw, {"event", "segment", "on", "within"}, where)
    within = parse_duration(raw.get("within", "7d"), f"{where}.within")
    if not 0 < within <= MAX_GOAL_WINDOW:
        raise InvalidInput(f"{where}.within must be from 1 second to 90 days")
    if raw.get("event") is not None:
        if not isinstance(raw["event"], str) or not raw["event"].strip():
            raise InvalidInput(f"{where}.event must be an event name")
        return {"event": raw["event"].strip()}, within
    if raw.get("segment") is not None:
        on = raw.get("on", "enter")
        if on not in ("enter", "exit"):
            raise InvalidInput(f"{where}.on must be enter or exit")
        return {"segment": _segment_ref(raw["segment"], f"{where}.segment"), "on": on}, within
    raise InvalidInput(f"{where} needs event or segment")


def resolve_segment_names(raw: Any, resolve: Callable[[str], int]) -> Any:
    """A copy of a definition in which every condition ``{"segment": {"name": …}}`` names its
    segment by id (``resolve`` finds it), so that conditions compile as everywhere else."""
    if isinstance(raw, list):
        return [resolve_segment_names(item, resolve) for item in raw]
    if not isinstance(raw, dict):
        return raw
    copy = {}
    for key, value in raw.items():
        if key == "segment" and isinstance(value, dict) and isinstance(value.get("name"), str):
            copy[key] = {"id": resolve(value["name"])}
        else:
            copy[key] = resolve_segment_names(value, resolve)
    return copy


CAMPAIGN_KEYS = {
    "id", "name", "description", "tags", "state", "trigger", "filter", "frequency", "exit",
    "goal", "workflow", "migrate",
}  # fmt: skip


def parse_campaigns(raw: Any, resolve: Callable[[str], int] | None = None) -> list[Campaign]:
    """``campaigns:`` entries, each checked and its workflow compiled. Conditions may name a
    segment (``{"segment": {"name": …}}``): ``resolve`` turns names into ids; without it they
    are only checked for shape."""
    if not isinstance(raw, list):
        raise InvalidInput("campaigns must be a list")
    found = []
    for index, item in enumerate(raw):
        where = f"campaigns[{index}]"
        source = _mapping(item, where)
        item = resolve_segment_names(source, resolve or (lambda _name: 0))
        _known(item, CAMPAIGN_KEYS, where)
        state = item.get("state", "running")
        if state not in STATES:
            raise InvalidInput(f"{where}.state must be one of {', '.join(STATES)}")
        tags = item.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput(f"{where}.tags must be a list of strings")
        exit_rule = item.get("exit", "stop_matching")
        if exit_rule not in EXITS:
            raise InvalidInput(f"{where}.exit must be one of {', '.join(EXITS)}")
        goal, within = _goal(item.get("goal"), f"{where}.goal")
        if exit_rule in ("goal", "goal_or_stop_matching") and goal is None:
            raise InvalidInput(f"{where}.exit {exit_rule} needs a goal")
        frequency, every = _frequency(item.get("frequency"), f"{where}.frequency")
        trigger = parse_trigger(item.get("trigger"), f"{where}.trigger")
        if frequency == "every_time" and trigger.kind not in ("event", "webhook"):
            raise InvalidInput(f"{where}.frequency every_time needs an event or webhook trigger")
        filt = item.get("filter")
        if filt is not None:
            _condition(filt, f"{where}.filter")
        migrate = item.get("migrate", False)
        if not isinstance(migrate, bool):
            raise InvalidInput(f"{where}.migrate must be true or false")
        workflow = item.get("workflow")
        found.append(
            Campaign(
                id=_int_id(item.get("id"), f"{where}.id"),
                name=_text(item, "name", where, required=True).strip(),
                trigger=trigger,
                workflow=workflow if isinstance(workflow, list) else [],
                description=_text(item, "description", where),
                tags=tuple(tags),
                state=state,
                filter=filt,
                frequency=frequency,
                every=every,
                exit=exit_rule,
                goal=goal,
                goal_within=within,
                migrate=migrate,
                program=compile_workflow(workflow, f"{where}.workflow"),
                raw=item,
                source=source,
            )
        )
    ids = [c.id for c in found]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise InvalidInput(f"campaigns: id {twice[0]} is declared twice")
    return found


def segment_refs(campaign: Campaign) -> list[tuple[str, int | str]]:
    """Every segment the campaign names (by id or name), with where: the caller resolves them."""
    refs: list[tuple[str, int | str]] = []
    if campaign.trigger.segment is not None:
        refs.append(("trigger.segment", campaign.trigger.segment))
    if campaign.goal is not None and "segment" in campaign.goal:
        refs.append(("goal.segment", campaign.goal["segment"]))
    for node in campaign.program.nodes.values():
        if node.type == "segment_update":
            refs.append((f"workflow action {node.id}.segment", node.spec["segment"]))
    return refs
