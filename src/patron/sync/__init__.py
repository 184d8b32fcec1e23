"""Warehouse sync: keep Patron (or Customer.io) in step with a SQL model (docs/sync.md).

A client of the wire APIs only: it never reaches into Patron's database, so it works the same
against Customer.io's own hosts.
"""
