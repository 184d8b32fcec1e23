"""Errors the domain raises; the API layer turns them into Customer.io's error shapes."""

from __future__ import annotations


class InvalidInput(Exception):
    """A client sent something Customer.io would reject with a 400.

    ``messages`` are human-readable and name the offending field or attribute.
    """

    def __init__(self, *messages: str, field: str = "") -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)
        self.field = field


class NotFound(Exception):
    """The addressed thing does not exist (App API 404)."""
