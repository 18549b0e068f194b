"""How patron credentials reach ``POST /sessions/card``: the card reader's identity rule
(``mapping`` through an injected look-up) and the serial barcode scanner (over a real pty),
both wired by :func:`edge.devices.build_devices`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from drivers.credential import PatronCredential
from drivers.errors import PatronIdentityError
from drivers.pcsc import (
    CardLeft,
    CardUnreadable,
    PatronIdentityRule,
    PcscCardReader,
    ReaderAttached,
    ReaderMissing,
)
from drivers.scanner import ScanRejected, SerialBarcodeScanner
from edge.api import create_app
from edge.devices import DeviceManager, build_devices
from edge.errors import DeviceUnavailable, EdgeError
from edge.services.container import EdgeServices
from edge.services.events import EventBus
from smartlib.config import Settings, load_settings
from tests.edge.doubles import GatewayDouble, Ils

DEV = {"Authorization": "Bearer dev-tok"}
STAFF = {"Authorization": "Bearer staff-tok"}
MIFARE_UID = bytes.fromhex("04 A2 24 6A")


def _settings(tmp_path: Path, **card_reader: Any) -> Settings:
    return load_settings(None, store={"path": tmp_path / "edge.db"}, reader={"enabled": False},
                         card_reader=card_reader,
                         api={"device_token": "dev-tok", "staff_token": "staff-tok"})


def _wait(pred: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ScriptedCard:
    def __init__(self, uid: bytes) -> None:
        self.uid = uid

    def read_uid(self) -> bytes:
        return self.uid

    def read_blocks(self, first: int, count: int) -> bytes:
        raise AssertionError("the mapping rule reads no blocks")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- identity = "mapping" -------------------------------------------------------------------

def test_mapping_rule_uses_the_injected_lookup(tmp_path: Path) -> None:
    table = {"6A24A204": "2000001"}
    settings = _settings(tmp_path, identity="mapping", uid_reversed=True)
    devices = build_devices(settings, EventBus(), card_lookup=table.get)
    assert isinstance(devices.card_reader, PcscCardReader)
    rule = devices.card_reader.identity
    assert isinstance(rule, PatronIdentityRule) and rule.source == "mapping"
    assert rule.identify(ScriptedCard(MIFARE_UID)) == ("2000001", MIFARE_UID)
    with pytest.raises(PatronIdentityError, match="not mapped"):
        rule.identify(ScriptedCard(bytes.fromhex("01 02 03 04")))


def test_mapping_reads_the_cache_fed_by_the_central_snapshot(tmp_path: Path) -> None:
    # The production wiring: EdgeServices hands the store's cache look-up to the rule; the
    # patrons' card UIDs come in with the cache feed (a snapshot chunk, then a delta).
    from sync.messages import CachePatron

    settings = _settings(tmp_path, identity="mapping", uid_reversed=True)
    services = EdgeServices.build(settings)
    try:
        store = services.store
        row = CachePatron(patron_id="2000001", display_name="An", card_uid="6A24A204")
        store.cache.apply_snapshot_chunk("patrons", "snap-1", 0, 1,
                                         [row.model_dump(exclude={"v"})])
        rule = services.devices.card_reader.identity  # type: ignore[union-attr]
        assert rule.identify(ScriptedCard(MIFARE_UID)) == ("2000001", MIFARE_UID)
        assert store.cache.patron("2000001").card_uid == "6A24A204"  # type: ignore[union-attr]
        # A new card for the patron arrives as a delta: the old UID no longer maps.
        store.cache.apply_delta(patrons=[row.model_copy(update={"card_uid": "01020304"})
                                         .model_dump(exclude={"v"})])
        assert store.cache.patron_for_card("01020304") == "2000001"
        with pytest.raises(PatronIdentityError, match="not mapped"):
            rule.identify(ScriptedCard(MIFARE_UID))
    finally:
        services.store.close()


def test_mapping_without_a_lookup_builds_no_card_reader(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path, identity="mapping")
    devices = build_devices(settings, EventBus())
    assert devices.card_reader is None
    assert "identity 'mapping' needs the cache's UID-to-patron look-up" in caplog.text


def test_uid_rule_ignores_the_lookup(tmp_path: Path) -> None:
    devices = build_devices(_settings(tmp_path, identity="uid"), EventBus(),
                            card_lookup={"04A2246A": "2000001"}.get)
    rule = devices.card_reader.identity  # type: ignore[union-attr]
    assert rule.identify(ScriptedCard(MIFARE_UID)) == ("04A2246A", MIFARE_UID)


class FakeCardReader:
    def __init__(self) -> None:
        self.on_event: Callable[[Any], None] | None = None

    def start(self, on_event: Callable[[Any], None]) -> None:
        self.on_event = on_event

    def stop(self) -> None:
        self.on_event = None


def _card_devices(**kw: Any) -> tuple[DeviceManager, FakeCardReader]:
    from drivers.tags import SecurityPolicy

    card = FakeCardReader()
    dm = DeviceManager(None, security=SecurityPolicy("afi", 0x07, 0xC2), card_reader=card, **kw)
    dm.open()
    return dm, card


def test_unknown_card_is_an_unknown_patron_never_its_uid() -> None:
    dm, card = _card_devices()
    assert card.on_event is not None
    card.on_event(CardUnreadable("Virtual PCD 00 00", "the card's UID is not mapped to a patron",
                                 "PatronIdentityError"))
    with pytest.raises(EdgeError) as info:
        dm.current_card()
    assert info.value.code == "unknown_patron"
    assert "not mapped" in info.value.message
    card.on_event(CardUnreadable("Virtual PCD 00 00", "the UID-to-patron look-up failed",
                                 "PatronLookupFailed"))
    with pytest.raises(DeviceUnavailable, match=r"could not be read \(PatronLookupFailed\)"):
        dm.current_card()
    assert dm.status()[0]["card_error"] == "PatronLookupFailed"
    card.on_event(CardLeft("Virtual PCD 00 00"))
    with pytest.raises(DeviceUnavailable, match="no card on the card reader"):
        dm.current_card()
    dm.close()


def test_a_missing_card_reader_is_offline_not_online() -> None:
    """The card reader was always reported online: with pcscd gone, a card tap did nothing
    and neither the kiosk nor the staff console said why."""
    dm, card = _card_devices()
    assert card.on_event is not None
    assert dm.card_reader_state() == "unknown"
    card.on_event(ReaderMissing("pcscd unavailable: Service not available"))
    [status] = dm.status()
    assert status["state"] == "offline" and "pcscd unavailable" in status["error"]
    with pytest.raises(DeviceUnavailable, match="card reader is not available") as info:
        dm.current_card()
    assert info.value.detail["card_reader"] == "offline"
    card.on_event(ReaderAttached("Virtual PCD 00 00"))
    assert dm.card_reader_state() == "online" and dm.status()[0]["error"] is None
    with pytest.raises(DeviceUnavailable, match="no card on the card reader"):
        dm.current_card()
    dm.close()
    no_reader = DeviceManager(None, security=None)
    assert no_reader.card_reader_state() is None


def test_newest_credential_wins_and_scans_expire() -> None:
    clock = Clock()
    scanner = FakeCardReader()   # the same start/stop shape
    dm, card = _card_devices(scanner=scanner, clock=clock, scan_ttl_s=30)
    assert card.on_event is not None and scanner.on_event is not None
    on_card = PatronCredential(source="card", identifier="2000001", raw=MIFARE_UID)
    card.on_event(on_card)
    clock.now += 1
    scanned = PatronCredential(source="barcode", identifier="2000002", raw=b"2000002")
    scanner.on_event(scanned)
    assert dm.current_card() is scanned          # scanned after the card was put down
    clock.now += 31
    assert dm.current_card() is on_card          # the scan expired; the card is still there
    scanner.on_event(scanned)
    assert dm.current_card() is scanned
    scanner.on_event(ScanRejected("scan lacks the configured prefix"))
    assert dm.current_card() is on_card          # a bad scan drops the good one before it
    dm.close()


def test_session_end_drops_a_pending_scan() -> None:
    from drivers.tags import SecurityPolicy

    bus = EventBus()
    scanner = FakeCardReader()
    dm = DeviceManager(None, security=SecurityPolicy("afi", 0x07, 0xC2), scanner=scanner, bus=bus)
    with pytest.raises(DeviceUnavailable, match="no barcode scanned"):
        dm.current_card()
    dm.open()
    assert scanner.on_event is not None
    scanner.on_event(PatronCredential(source="barcode", identifier="2000002", raw=b"2000002"))
    assert dm.current_card().identifier == "2000002"
    bus.publish("session_ended", session="s1", reason="logout")
    with pytest.raises(DeviceUnavailable, match="no barcode scanned"):
        dm.current_card()
    dm.close()
    assert scanner.on_event is None


# ---- the serial barcode scanner -------------------------------------------------------------

def test_build_devices_makes_the_configured_scanner(tmp_path: Path) -> None:
    settings = _settings(tmp_path, enabled=False, scanner_url="socket://127.0.0.1:9",
                         scanner_prefix="]C1", scanner_suffix="#")
    devices = build_devices(settings, EventBus())
    assert devices.card_reader is None
    assert isinstance(devices.scanner, SerialBarcodeScanner)
    assert (devices.scanner.url, devices.scanner.prefix, devices.scanner.suffix) == \
        ("socket://127.0.0.1:9", "]C1", "#")
    assert build_devices(_settings(tmp_path, enabled=False), EventBus()).scanner is None
    gate = load_settings(None, store={"path": tmp_path / "g.db"}, reader={"enabled": False},
                         device={"role": "gate"}, card_reader={"scanner_url": "loop://"})
    assert build_devices(gate, EventBus()).scanner is None


@pytest.fixture
def scanner_box(tmp_path: Path, pty_pair) -> Iterator[tuple[EdgeServices, Any]]:
    settings = _settings(tmp_path, enabled=False, scanner_url=pty_pair.path,
                         scanner_prefix="]C1")
    ils = Ils(patrons={"2000001": "1234"})
    with GatewayDouble(settings.store.path, ils):
        devices = build_devices(settings, EventBus())
        services = EdgeServices.build(settings, devices=devices)
        services.start(background=False, poll_pad=False)
        try:
            yield services, pty_pair
        finally:
            services.stop()


def test_scanner_login_over_a_pty(scanner_box: tuple[EdgeServices, Any],
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    services, pty = scanner_box
    scanner = services.devices.scanner
    assert scanner is not None
    _wait(scanner.port_open.is_set, "the scanner port to open")
    app = create_app(services.settings, services, start_services=False)
    with TestClient(app) as client:
        r = client.post("/sessions/card", headers=DEV, json={"language": "en"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "device_unavailable"
        os.write(pty.device_fd, b"]C12000001\r\n")
        _wait(lambda: any(d["id"] == "scanner" and d["scan_pending"]
                          for d in client.get("/devices", headers=STAFF).json()["devices"]),
              "the scan to reach the edge")
        r = client.post("/sessions/card", headers=DEV, json={"language": "en"})
        assert r.status_code == 201, r.text
        session = r.json()
        assert session["patron"]["id_masked"] != "2000001"
        assert client.delete(f"/sessions/{session['id']}", headers=DEV).status_code == 204
        # the session ended: the same scan does not log the patron in again
        r = client.post("/sessions/card", headers=DEV, json={"language": "en"})
        assert r.json()["error"]["code"] == "device_unavailable"
        os.write(pty.device_fd, b"2000001\r\n")   # no prefix: rejected
        status = _wait(lambda: [d for d in client.get("/devices", headers=STAFF).json()["devices"]
                                if d["id"] == "scanner" and d["last_rejected"]],
                       "the bad scan to be reported")
        assert status[0]["last_rejected"] == "scan lacks the configured prefix"
        assert status[0]["state"] == "online" and status[0]["scan_pending"] is False
    assert "2000001" not in caplog.text


@pytest.mark.pcsc
def test_mapping_through_the_real_pcsc_stack(tmp_path: Path, pcscd_vpcd) -> None:
    from hardware_sim.card import SimIso14443Card
    from tests.drivers.pcsc.support import READER, sim_card_device

    table = {"04A2246A": "2000001"}
    settings = _settings(tmp_path, identity="mapping", name_pattern=READER)
    devices = build_devices(settings, EventBus(), card_lookup=table.get)
    with sim_card_device(pcscd_vpcd) as sim:
        devices.open()
        try:
            sim.insert(SimIso14443Card(MIFARE_UID))
            cred = _wait(lambda: devices._card, "the mapped card")
            assert devices.current_card() is cred
            assert (cred.identifier, cred.raw) == ("2000001", MIFARE_UID)
            sim.insert(SimIso14443Card(bytes.fromhex("04 00 00 01")))   # not in the table
            _wait(lambda: devices.status()[0]["card_error"], "the unknown card")
            with pytest.raises(EdgeError) as info:
                devices.current_card()
            assert info.value.code == "unknown_patron"
            assert "04000001" not in info.value.message
        finally:
            devices.close()
