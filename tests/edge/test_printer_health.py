"""The kiosk's receipt printer reports its health: ``DLE EOT`` status over the printer's
real transport (pyserial ``socket://`` to a simulated TCP ESC/POS printer), a failed print,
a port that cannot be opened, and a printer that never answers; the changes are journaled
as ``printer_*`` device events (what the box's status and the central fleet show)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edge.devices import DeviceManager
from edge.errors import DeviceUnavailable
from edge.services.container import EdgeServices
from hardware_sim.escpos_printer import EscposPrinterSim
from smartlib.config import Settings
from tests.edge.doubles import FakeReader
from tests.support.procs import free_port
from tests.sync.gateway.harness import wait_until


@pytest.fixture
def printer() -> Iterator[EscposPrinterSim]:
    sim = EscposPrinterSim().start()
    try:
        yield sim
    finally:
        sim.stop()


def _manager(url: str | None) -> DeviceManager:
    from drivers.tags import SecurityPolicy

    return DeviceManager(None, security=SecurityPolicy("afi", 0x07, 0xC2), printer_url=url,
                         printer_status_timeout_s=0.5)


def _events(svc: EdgeServices) -> list[str]:
    rows = svc.store.query("SELECT kind FROM device_events WHERE kind LIKE 'printer_%' "
                           "ORDER BY id")
    return [str(r["kind"]) for r in rows]


def test_the_printer_tells_its_state_over_tcp(printer: EscposPrinterSim) -> None:
    devices = _manager(printer.url)
    seen: list[tuple[str, str | None]] = []
    devices.bus.subscribe(lambda e: seen.append((e["state"], e.get("error")))
                          if e.get("type") == "printer_state" else None)
    assert devices.check_printer() == "ok"
    assert printer.status_requests == 4 and bytes(printer.printed) == b""
    printer.condition.paper_near_end = True
    assert devices.check_printer() == "paper_low"
    printer.condition.paper_out = True
    assert devices.check_printer() == "paper_out"
    assert devices.check_printer() == "paper_out"          # no change: no second event
    printer.condition.paper_out = printer.condition.paper_near_end = False
    printer.condition.cover_open = True
    assert devices.check_printer() == "cover_open"
    printer.condition.cover_open, printer.condition.cutter_jammed = False, True
    assert devices.check_printer() == "error"
    assert [s for s, _ in seen] == ["ok", "paper_low", "paper_out", "cover_open", "error"]
    printer_entry = next(d for d in devices.status() if d["id"] == "printer")
    assert printer_entry["state"] == "error"


def test_a_printer_that_takes_bytes_but_never_answers_is_reachable(
        printer: EscposPrinterSim) -> None:
    printer.condition.silent = True
    devices = _manager(printer.url)
    assert devices.check_printer() == "reachable"
    devices.print_bytes(b"\x1b@hello\n")
    wait_until(lambda: b"hello" in printer.printed, 5, what="the print")


def test_an_unreachable_printer_and_a_failed_print(printer: EscposPrinterSim) -> None:
    devices = _manager(f"socket://127.0.0.1:{free_port()}")   # nothing listens there
    assert devices.check_printer() == "unreachable"
    with pytest.raises(DeviceUnavailable):
        devices.print_bytes(b"\x1b@receipt\n")
    assert next(d for d in devices.status() if d["id"] == "printer")["state"] == "error"
    # Back to the real printer: the next good print asks it its status again.
    devices.printer_url = printer.url
    devices.print_bytes(b"\x1b@receipt\n")
    assert next(d for d in devices.status() if d["id"] == "printer")["state"] == "ok"
    assert _manager(None).check_printer() is None


def test_the_kiosk_journals_its_printer_state_changes(settings: Settings,
                                                      printer: EscposPrinterSim) -> None:
    kiosk = settings.model_copy(update={
        "kiosk": settings.kiosk.model_copy(update={"printer_url": printer.url}),
        "printer": settings.printer.model_copy(update={"health_interval_s": 0.2,
                                                      "status_timeout_s": 0.5})})
    svc = EdgeServices.build(kiosk, reader=FakeReader())
    svc.start(background=True, poll_pad=False)
    try:
        wait_until(lambda: svc.store.events.printer_state() == "ok", 10,
                   what="the first printer check")
        printer.condition.paper_out = True
        wait_until(lambda: svc.store.events.printer_state() == "paper_out", 10,
                   what="paper out journaled")
        printer.condition.paper_out = False
        wait_until(lambda: svc.store.events.printer_state() == "ok", 10, what="paper back")
        assert _events(svc) == ["printer_ok", "printer_paper_out", "printer_ok"]
    finally:
        svc.stop()


def test_a_kiosk_without_a_printer_says_so_once(settings: Settings) -> None:
    assert settings.kiosk.printer_url is None
    for _ in range(2):
        svc = EdgeServices.build(settings, reader=FakeReader())
        try:
            assert svc.store.events.printer_state() == "none"
            assert _events(svc) == ["printer_none"]
        finally:
            svc.store.close()
