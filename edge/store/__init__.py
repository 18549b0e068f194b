"""The edge's SQLite store: schema and migrations, the transaction journal, the cache.

Shared by ``smartlib serve`` (the edge) and ``smartlib sync`` (the agent): the agent
imports this package and nothing else of ``edge``, so nothing here may import
``edge.services``, ``edge.api`` or ``drivers``.

Quick tour::

    store = open_store("var/smartlib.db")        # WAL, integrity check, migrations
    e = store.outbox.append("checkout", {...}, item_id="3000123", patron_ref="2000001")
    # agent:  for e in store.outbox.next_sendable(100): publish(e); store.outbox.mark_sent(e.key)
    #         store.outbox.record_result(key, {"ok": True, ...}, "applied")   # rings the edge
    done = store.outbox.wait_for_result(e.key, timeout=5.0)

Repositories (attributes of :class:`Store`): ``outbox`` (:class:`OutboxRepository`),
``conflicts``, ``commands`` (the central console's), ``cache`` (:class:`CacheRepository`), ``lookups``
(:class:`LookupRepository`), ``security``, ``alarms``, ``counters``, ``events``, ``meta``;
the site view (other boxes' statuses, counts and alarms) is ``store.site``; wrong PINs
and lockouts are ``store.pin_failures``.
They return frozen dataclasses, never rows, and share one connection
(:class:`edge.store.connection.Connection`: transactions, queries, doorbells), which the
:class:`Store` facade composes them over. Wake-ups between processes:
:mod:`edge.store.doorbell` (``store.ring("edge")``, ``store.doorbell("agent").wait(t)``).
"""

from edge.store.cache import CacheRepository, HoldRecord, ItemRecord, LoanRecord, PatronRecord
from edge.store.commands import CommandRecord
from edge.store.connection import stamp, utcnow
from edge.store.db import Store, open_store
from edge.store.doorbell import Doorbell, ring
from edge.store.errors import (
    ClearSecret,
    InvalidState,
    SchemaTooNew,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    UnknownLookup,
    UnknownTransaction,
)
from edge.store.lookups import LookupRecord, LookupRepository
from edge.store.ops import AlarmRecord, DeviceEvent, SecurityTask
from edge.store.outbox import (
    OPEN_STATES,
    TERMINAL_STATES,
    Backlog,
    ConflictRecord,
    OutboxEntry,
    OutboxRepository,
)
from edge.store.pin_failures import PinFailureCount, PinFailureRepository
from edge.store.schema import SCHEMA_VERSION
from edge.store.site import SiteAlarm, SiteDevice, SiteRepository

__all__ = [
    "OPEN_STATES", "SCHEMA_VERSION", "TERMINAL_STATES", "AlarmRecord", "Backlog",
    "CacheRepository", "ClearSecret", "CommandRecord", "ConflictRecord", "DeviceEvent", "Doorbell",
    "HoldRecord",
    "InvalidState", "ItemRecord", "LoanRecord", "LookupRecord", "LookupRepository",
    "OutboxEntry", "OutboxRepository", "PatronRecord", "PinFailureCount", "PinFailureRepository", "SchemaTooNew", "SecurityTask",
    "SiteAlarm", "SiteDevice", "SiteRepository", "Store", "StoreBusy", "StoreCorrupt",
    "StoreError", "UnknownLookup", "UnknownTransaction", "open_store", "ring", "stamp", "utcnow",
]
