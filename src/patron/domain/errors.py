"""Errors the domain raises; the API layer turns them into Customer.io's error shapes."""

from __future__ import annotations


class InvalidInput(Exception):
    """A client sent something Customer.io would reject with a 400.

    ``messages`` are human-readable and name the offending field or attribute; ``reason`` is
    the machine-readable class Track v2 reports (docs/compatibility.md lists them).
    """

    def __init__(self, *messages: str, field: str = "", reason: str = "invalid_value") -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)
        self.field = field
        self.reason = reason


class NotFound(Exception):
    """The addressed thing does not exist (App API 404)."""
