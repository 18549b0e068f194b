"""Brings the edge's WebSocket events onto the GUI thread as Qt signals."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from kiosk_ui.client import EventStream, events_url


class EventBridge(QObject):
    """Re-emits :class:`kiosk_ui.client.EventStream` callbacks as queued Qt signals.

    Tests and the screenshot tool call :meth:`inject` to feed events without a socket.
    """

    event = Signal(dict)
    connected = Signal(bool)
    _raw = Signal(dict)
    _link = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stream: EventStream | None = None
        self._raw.connect(self.event, Qt.ConnectionType.QueuedConnection)
        self._link.connect(self.connected, Qt.ConnectionType.QueuedConnection)

    def start(self, base_url: str, token: str, retry_s: float = 1.0) -> None:
        """Connect to ``/events`` of the edge at ``base_url`` (reconnects on its own)."""
        self.stop()
        self._stream = EventStream(events_url(base_url, token), self._raw.emit,
                                   self._link.emit, retry_s=retry_s).start()

    def inject(self, evt: dict[str, Any]) -> None:
        """Deliver ``evt`` as if it came from the edge (synchronously)."""
        self.event.emit(evt)

    def stop(self) -> None:
        """Close the socket and stop the reader thread."""
        if self._stream is not None:
            self._stream.stop()
            self._stream = None
