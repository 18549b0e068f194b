"""The in-process event bus behind the WebSocket ``/events`` (and the gate's hooks).

Services publish plain JSON-able dicts ``{"type": ..., "at": iso8601, ...}``; subscribers
are callables run in the publisher's thread, so they must be quick (the WebSocket
subscriber only hands the event to its asyncio loop). It does no I/O itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from edge.store import utcnow

log = logging.getLogger(__name__)

Event = dict[str, Any]
Subscriber = Callable[[Event], None]


class EventBus:
    """Fan-out of events to subscribers; thread-safe."""

    def __init__(self) -> None:
        self._subs: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it."""
        with self._lock:
            self._subs.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subs:
                    self._subs.remove(callback)

        return unsubscribe

    def publish(self, type_: str, **fields: Any) -> Event:
        """Send ``{"type": type_, "at": now, **fields}`` to every subscriber."""
        event: Event = {"type": type_, "at": utcnow(), **fields}
        with self._lock:
            subs = list(self._subs)
        for cb in subs:
            try:
                cb(event)
            except Exception:
                log.exception("event subscriber failed on %s", type_)
        return event
