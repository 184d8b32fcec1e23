"""Patron: a self-hosted customer-data engine that speaks Customer.io's wire protocol."""

from __future__ import annotations

__version__ = "0.1.0"
