"""The exception tree of ``edge.store``: every store error is a :class:`StoreError`.

The sync agent imports this package, so it must not import anything else of ``edge``.
"""

from __future__ import annotations


class StoreError(Exception):
    """Root of all store errors."""


class StoreCorrupt(StoreError):
    """The integrity check at start failed: the database file is damaged."""


class SchemaTooNew(StoreError):
    """The database was written by a newer release (its schema version is unknown here)."""


class UnknownTransaction(StoreError):
    """No outbox entry has the given idempotency key."""


class UnknownLookup(StoreError):
    """No look-up has the given id."""


class InvalidState(StoreError):
    """A state name is not one of the allowed states, or the transition is not allowed."""


class StoreBusy(StoreError):
    """Another process holds the database (for example ``db restore`` while ``serve`` runs)."""


class ClearSecret(StoreError):
    """A look-up was to be stored with a PIN or password in clear (seal it first)."""
