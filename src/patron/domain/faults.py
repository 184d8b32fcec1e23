"""Injected faults (``/__patron/faults``): answer matching requests with an error or a delay.

Rules belong to the workspace that created them and apply only to requests carrying that
workspace's credentials, so one developer's faults never break another workspace's tests.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import threading
from typing import Any

import msgspec

from patron.domain.errors import InvalidInput

RATE_LIMITED = "Your request is over the 10-per-second limit."
# Customer.io's bodies for the statuses clients retry on (docs/compatibility.md).
DEFAULT_BODIES: dict[int, Any] = {
    429: {"meta": {"error": RATE_LIMITED}},
    500: {"meta": {"error": "Internal server error"}},
    502: {"meta": {"error": "Bad gateway"}},
    503: {"meta": {"error": "Service unavailable"}},
    504: {"meta": {"error": "Gateway timeout"}},
}
DEFAULT_RETRY_AFTER = {429: "1", 503: "1"}


class FaultRule(msgspec.Struct, forbid_unknown_fields=True):
    """What to match and what to answer. ``status`` None with ``latency_ms`` only delays."""

    path: str = "*"
    method: str = "*"
    probability: float = 1.0
    status: int | None = 500
    body: Any = None
    headers: dict[str, str] = {}
    latency_ms: int = 0
    times: int | None = None
    id: int = 0
    workspace_id: int = 0
    matched: int = 0

    def public(self) -> dict[str, Any]:
        """The rule as the API shows it."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        data.pop("workspace_id")
        data["remaining"] = None if self.times is None else max(self.times - self.matched, 0)
        return data


class Fault(msgspec.Struct, frozen=True):
    """The answer chosen for one request."""

    status: int | None
    body: Any
    headers: dict[str, str]
    latency_ms: int


def parse_rules(payload: Any) -> list[FaultRule]:
    """Rules from ``{…rule…}``, ``[…rules…]`` or ``{"rules": […]}``; validated."""
    items = payload.get("rules") if isinstance(payload, dict) and "rules" in payload else payload
    if isinstance(items, dict) and items:
        items = [items]
    if not isinstance(items, list) or not items:
        raise InvalidInput('send a fault rule, a list of rules, or {"rules": [...]}')
    rules = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and ({"id", "workspace_id", "matched"} & item.keys()):
            raise InvalidInput(f"rules[{index}]: id, workspace_id and matched are set by Patron")
        try:
            rule = msgspec.convert(item, FaultRule)
        except msgspec.ValidationError as exc:
            raise InvalidInput(f"rules[{index}]: {exc}") from exc
        _check(rule, index)
        rules.append(rule)
    return rules


def _check(rule: FaultRule, index: int) -> None:
    where = f"rules[{index}]"
    if not 0.0 <= rule.probability <= 1.0:
        raise InvalidInput(f"{where}.probability must be between 0 and 1")
    if rule.status is not None and not 100 <= rule.status <= 599:
        raise InvalidInput(f"{where}.status must be an HTTP status (100-599)")
    if rule.status is None and rule.latency_ms <= 0:
        raise InvalidInput(f"{where} needs a status or a latency_ms")
    if not 0 <= rule.latency_ms <= 60_000:
        raise InvalidInput(f"{where}.latency_ms must be between 0 and 60000")
    if rule.times is not None and rule.times < 1:
        raise InvalidInput(f"{where}.times must be at least 1")
    rule.method = rule.method.upper()


class Faults:
    """The active rules of every workspace; first matching rule wins."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._dice: dict[int, random.Random] = {}

    def seed(self, workspace_id: int, value: int | None) -> None:
        """Make the workspace's probabilistic rules repeat across runs (None: random again)."""
        with self._lock:
            self._dice[workspace_id] = random.Random(value)

    def _roll(self, workspace_id: int) -> float:
        dice = self._dice.get(workspace_id)
        if dice is None:
            dice = self._dice[workspace_id] = random.Random()
        return dice.random()

    def add(self, workspace_id: int, rules: list[FaultRule]) -> list[FaultRule]:
        """Activate rules for a workspace; returns them with their ids."""
        with self._lock:
            for rule in rules:
                rule.id = next(self._ids)
                rule.workspace_id = workspace_id
                self._rules.append(rule)
        return rules

    def list(self, workspace_id: int) -> list[FaultRule]:
        """The workspace's active rules."""
        with self._lock:
            return [r for r in self._rules if r.workspace_id == workspace_id]

    def clear(self, workspace_id: int, rule_id: int | None = None) -> int:
        """Remove the workspace's rules (or one of them); returns how many."""
        with self._lock:
            keep = [
                r
                for r in self._rules
                if r.workspace_id != workspace_id or (rule_id is not None and r.id != rule_id)
            ]
            removed = len(self._rules) - len(keep)
            self._rules = keep
        return removed

    def pick(self, workspace_id: int, method: str, path: str) -> Fault | None:
        """The fault for this request, if a rule matches and its dice say so."""
        with self._lock:
            for rule in self._rules:
                if rule.workspace_id != workspace_id:
                    continue
                if rule.method not in ("*", method) or not fnmatch.fnmatchcase(path, rule.path):
                    continue
                if rule.times is not None and rule.matched >= rule.times:
                    continue
                if rule.probability < 1.0 and self._roll(workspace_id) >= rule.probability:
                    continue
                rule.matched += 1
                return _answer(rule)
        return None


def _answer(rule: FaultRule) -> Fault:
    headers = dict(rule.headers)
    body = rule.body
    if rule.status is not None:
        if body is None:
            body = DEFAULT_BODIES.get(rule.status, {"meta": {"error": f"Injected {rule.status}"}})
        if rule.status in DEFAULT_RETRY_AFTER and not any(
            k.lower() == "retry-after" for k in headers
        ):
            headers["Retry-After"] = DEFAULT_RETRY_AFTER[rule.status]
    return Fault(rule.status, body, headers, rule.latency_ms)
