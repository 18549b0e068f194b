"""The kiosk's pad reader going off- and online is journaled as ``reader_offline`` /
``reader_online`` device events: what the box's status (the sync agent) and the central
console's fleet show as the reader's health. A gate's reader state is the gate service's."""

from __future__ import annotations

from typing import Any

from drivers.reader import InventoryItem, ReaderError
from edge.services.container import EdgeServices
from smartlib.config import Settings
from tests.edge.doubles import FakeReader


class FailingReader(FakeReader):
    """A pad reader whose inventory fails while ``broken`` is set."""

    broken = False

    def inventory(self, antennas: Any = None, afi: int | None = None) -> list[InventoryItem]:
        if self.broken:
            raise ReaderError("no answer from the reader (timeout)")
        return super().inventory(antennas, afi)


def _events(svc: EdgeServices) -> list[str]:
    rows = svc.store.query("SELECT kind FROM device_events WHERE kind LIKE 'reader_%' "
                               "ORDER BY id")
    return [str(r["kind"]) for r in rows]


def test_the_kiosk_journals_its_pad_reader_state_changes(settings: Settings) -> None:
    reader = FailingReader()
    svc = EdgeServices.build(settings, reader=reader)
    svc.start(background=False, poll_pad=False)
    try:
        assert _events(svc) == ["reader_online"]  # opened at start
        svc.devices.poll_once()
        assert _events(svc) == ["reader_online"]  # no change, no event
        reader.broken = True
        svc.devices.poll_once()
        svc.devices.poll_once()
        assert _events(svc) == ["reader_online", "reader_offline"]
        state, failures = svc.store.events.reader_summary("1970-01-01T00:00:00")
        assert (state, failures) == ("offline", 1)
        reader.broken = False
        svc.devices.poll_once()
        assert _events(svc) == ["reader_online", "reader_offline", "reader_online"]
        assert svc.store.events.reader_summary("1970-01-01T00:00:00") == ("online", 1)
    finally:
        svc.stop()


def test_a_gate_box_leaves_its_reader_state_to_the_gate_service(settings: Settings) -> None:
    gate = settings.model_copy(update={"device": settings.device.model_copy(
        update={"role": "gate"})})
    reader = FailingReader()
    reader.broken = True
    svc = EdgeServices.build(gate, reader=reader)
    svc.start(background=False, poll_pad=False)
    try:
        svc.devices.poll_once()
        assert _events(svc) == []
    finally:
        svc.stop()
