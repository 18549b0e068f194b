"""PcscCardReader through the real stack: pyscard -> pcscd -> vpcd -> SimCardDevice."""

from __future__ import annotations

import logging

import pytest

from drivers.credential import PatronCredential
from drivers.errors import (
    CardBlockNotFound,
    CardOperationFailed,
    CardRemoved,
    CardSecurityError,
    NoCardReader,
)
from drivers.pcsc import (
    CardInserted,
    CardKind,
    CardLeft,
    CardUnreadable,
    PatronIdentityRule,
    PcscCardReader,
    ReaderAttached,
    ReaderDetached,
    ReaderMissing,
)
from hardware_sim.card import SimCardDevice, SimIso14443Card, SimIso15693Card, patron_card
from tests.drivers.pcsc.support import (
    READER,
    EventRecorder,
    restart_pcscd,
    start_pcscd,
    wait_card_state,
)
from tests.support.pcscd import PcscdVpcd

pytestmark = pytest.mark.pcsc

UID15693 = bytes.fromhex("E0 04 01 50 12 34 56 78")
MIFARE_UID = bytes.fromhex("04 A2 24 6A")


@pytest.fixture
def reader_factory(sim_card: SimCardDevice):
    readers: list[PcscCardReader] = []

    def make(rule: PatronIdentityRule | None = PatronIdentityRule(),
             recorder: EventRecorder | None = None) -> PcscCardReader:
        r = PcscCardReader(READER, poll_interval=0.1, identity=rule)
        readers.append(r)
        if recorder is not None:
            r.start(recorder)
        return r

    yield make
    for r in readers:
        r.stop()


def test_lists_and_picks_the_reader(reader_factory) -> None:
    r = reader_factory()
    assert READER in r.readers()
    assert r.matching_reader() == READER
    with pytest.raises(NoCardReader, match="no PC/SC reader matches"):
        PcscCardReader("no such reader").matching_reader()
    with pytest.raises(ValueError, match="not a regex"):
        PcscCardReader("(")


def test_insert_login_remove(sim_card: SimCardDevice, reader_factory, recorder: EventRecorder,
                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reader_factory(PatronIdentityRule(source="iso28560"), recorder)
    recorder.wait_type(ReaderAttached)
    sim_card.insert(patron_card("P2024001"))
    ins = recorder.wait_type(CardInserted)
    assert ins.reader == READER
    assert ins.atr is not None and ins.atr.kind is CardKind.ISO15693
    assert ins.atr_raw == bytes.fromhex("3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 14 00 00 00 00 77")
    cred = recorder.wait_type(PatronCredential)
    assert cred.source == "card"
    assert cred.identifier == "P2024001"
    assert cred.reader == READER
    mark = recorder.mark()
    sim_card.remove()
    recorder.wait_type(CardLeft, start=mark)
    # privacy: the identifier and the UID reach the log masked only
    assert "P2024001" not in caplog.text
    assert cred.raw.hex().upper() not in caplog.text.upper()
    assert "*****001" in caplog.text
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == ["ReaderAttached", "CardInserted", "PatronCredential", "CardLeft"]


@pytest.mark.parametrize(("fmt", "rev", "expected"), [
    ("hex", False, "04A2246A"),
    ("hex", True, "6A24A204"),
    ("decimal", False, "77735018"),
    ("decimal", True, "1780785668"),
])
def test_uid_formats(sim_card: SimCardDevice, reader_factory, recorder: EventRecorder,
                     fmt: str, rev: bool, expected: str) -> None:
    reader_factory(PatronIdentityRule(uid_format=fmt, uid_reversed=rev), recorder)  # type: ignore[arg-type]
    sim_card.insert(SimIso14443Card(MIFARE_UID))
    ins = recorder.wait_type(CardInserted)
    assert ins.atr.kind is CardKind.MIFARE_CLASSIC
    cred = recorder.wait_type(PatronCredential)
    assert cred.identifier == expected
    assert cred.raw == MIFARE_UID


def test_mapping_rule_unknown_card(sim_card: SimCardDevice, reader_factory,
                                   recorder: EventRecorder) -> None:
    table = {"04A2246A": "P0007"}
    reader_factory(PatronIdentityRule(source="mapping", mapping=table.get), recorder)
    sim_card.insert(SimIso14443Card(bytes.fromhex("04 00 00 01")))
    bad = recorder.wait_type(CardUnreadable)
    assert bad.error_type == "PatronIdentityError"
    mark = recorder.mark()
    sim_card.insert(SimIso14443Card(MIFARE_UID))
    cred = recorder.wait_type(PatronCredential, start=mark)
    assert cred.identifier == "P0007"


def test_iso15693_blocks_read_write(sim_card: SimCardDevice, reader_factory) -> None:
    r = reader_factory(None)
    sim_card.insert(SimIso15693Card(UID15693, bytes(range(112))))
    wait_card_state(present=True)
    assert r.atr().kind is CardKind.ISO15693
    assert r.read_uid() == UID15693
    assert r.read_blocks(0, 3) == bytes(range(12))
    assert r.read_blocks(27, 1) == bytes([108, 109, 110, 111])
    r.write_block(5, b"ABCD")
    assert r.read_blocks(5, 1) == b"ABCD"
    assert bytes(sim_card.card.memory[20:24]) == b"ABCD"  # type: ignore[union-attr]
    with pytest.raises(CardBlockNotFound) as info:
        r.read_blocks(28, 1)
    assert (info.value.sw1, info.value.sw2) == (0x6A, 0x82)
    with pytest.raises(ValueError):
        r.write_block(1, b"abc")


def test_mifare_classic_read_needs_auth(sim_card: SimCardDevice, reader_factory) -> None:
    r = reader_factory(None)
    sim_card.insert(SimIso14443Card(MIFARE_UID))
    wait_card_state(present=True)
    with pytest.raises(CardSecurityError):
        r.read_blocks(4, 1)


def test_no_card(sim_card: SimCardDevice, reader_factory) -> None:
    r = reader_factory(None)
    with pytest.raises(CardRemoved):
        r.read_uid()
    with pytest.raises(CardRemoved):
        r.atr()


def test_fault_wrong_status_word(sim_card: SimCardDevice, reader_factory,
                                 recorder: EventRecorder) -> None:
    r = reader_factory(PatronIdentityRule(), recorder)
    sim_card.fault("status-word", sw="6300")
    sim_card.insert(SimIso15693Card(UID15693))
    bad = recorder.wait_type(CardUnreadable)
    assert bad.error_type == "CardOperationFailed"
    assert "63 00" in bad.error
    # the fault was for one APDU: the next read works
    assert r.read_uid() == UID15693
    sim_card.fault("status-word", sw="6300", count=2)
    with pytest.raises(CardOperationFailed):
        r.read_uid()
    with pytest.raises(CardOperationFailed):
        r.read_blocks(0, 1)
    assert r.read_blocks(0, 1) == bytes(4)
    assert sim_card.state()["faults"]["applied"] == ["status-word 6300"] * 3


def test_fault_removed_mid_apdu(sim_card: SimCardDevice, reader_factory,
                                recorder: EventRecorder) -> None:
    r = reader_factory(None, recorder)
    sim_card.insert(SimIso15693Card(UID15693))
    recorder.wait_type(CardInserted)
    sim_card.fault("remove-mid-apdu")
    with pytest.raises(CardRemoved, match="left"):
        r.read_blocks(0, 4)
    recorder.wait_type(CardLeft)
    assert sim_card.card is None
    assert sim_card.state()["faults"]["applied"] == ["remove-mid-apdu"]


def test_fault_slow_answer(sim_card: SimCardDevice, reader_factory,
                           recorder: EventRecorder) -> None:
    r = reader_factory(PatronIdentityRule(), recorder)
    sim_card.fault("slow", delay_s=0.5, count=1)
    sim_card.insert(SimIso15693Card(UID15693))
    cred = recorder.wait_type(PatronCredential)
    assert cred.identifier == "E004015012345678"
    assert sim_card.state()["faults"]["applied"] == ["slow 0.5s"]
    assert r.read_uid() == UID15693


def test_fault_slow_answer_longer_than_the_timeout(sim_card: SimCardDevice,
                                                    recorder: EventRecorder) -> None:
    # The identity read runs on the monitor thread: a card that does not answer must give a
    # typed event and leave the monitor free for the next events.
    r = PcscCardReader(READER, poll_interval=0.1, identity=PatronIdentityRule(),
                       command_timeout=0.5)
    r.start(recorder)
    try:
        sim_card.fault("slow", delay_s=5.0, count=1)
        sim_card.insert(SimIso15693Card(UID15693))
        bad = recorder.wait_type(CardUnreadable)
        assert bad.error_type == "CardTimeout"
        assert "GET DATA (UID): no answer from the card within 0.5 s" in bad.error
        assert not any(isinstance(e, PatronCredential) for e in recorder.events)
        # still hung (the sim answers after 5 s): taking the card away is still reported
        mark = recorder.mark()
        sim_card.remove()
        recorder.wait_type(CardLeft, start=mark)
        sim_card.insert(SimIso15693Card(UID15693))
        cred = recorder.wait_type(PatronCredential, start=mark)
        assert cred.identifier == "E004015012345678"
        assert sim_card.state()["faults"]["applied"] == ["slow 5.0s"]
    finally:
        r.stop()


def test_trace_log_masks_update_binary_data(sim_card: SimCardDevice, reader_factory,
                                            caplog: pytest.LogCaptureFixture) -> None:
    r = reader_factory(None)
    sim_card.insert(SimIso15693Card(UID15693))
    wait_card_state(present=True)
    caplog.set_level(5, logger="drivers.pcsc.reader")
    r.write_block(5, b"P202")
    assert bytes(sim_card.card.memory[20:24]) == b"P202"  # type: ignore[union-attr]
    assert "FF D6 00 05 04 <4 bytes masked>" in caplog.text
    assert "50 32 30 32" not in caplog.text.upper()
    assert "50323032" not in caplog.text.upper()


def test_card_stays_through_pcscd_restart(pcscd_vpcd: PcscdVpcd, sim_card: SimCardDevice,
                                          reader_factory, recorder: EventRecorder) -> None:
    r = reader_factory(PatronIdentityRule(), recorder)
    sim_card.insert(SimIso15693Card(UID15693))
    recorder.wait_type(PatronCredential)
    connections = sim_card.state()["connections"]
    mark = recorder.mark()
    restart_pcscd(pcscd_vpcd)
    # the monitor sees the reader (and the card) go and come back; the card reconnects
    seq = [recorder.wait_type(cls, start=mark) for cls in (CardLeft, ReaderDetached)]
    assert [type(e) for e in seq] == [CardLeft, ReaderDetached]
    recorder.wait_type(ReaderAttached, start=mark)
    cred = recorder.wait_type(PatronCredential, start=mark)
    assert cred.identifier == "E004015012345678"
    assert sim_card.state()["connections"] > connections
    assert r.read_uid() == UID15693


def test_reader_loss_and_return(pcscd_vpcd: PcscdVpcd, sim_card: SimCardDevice,
                                reader_factory, recorder: EventRecorder) -> None:
    r = reader_factory(PatronIdentityRule(), recorder)
    recorder.wait_type(ReaderAttached)
    mark = recorder.mark()
    pcscd_vpcd.stop_daemon()  # every reader disappears, as when unplugged
    try:
        recorder.wait_type(ReaderDetached, start=mark)
        assert r.readers() == []
        with pytest.raises(NoCardReader):
            r.read_uid()
    finally:
        start_pcscd(pcscd_vpcd)
    recorder.wait_type(ReaderAttached, start=mark)
    sim_card.insert(SimIso15693Card(UID15693))
    assert recorder.wait_type(PatronCredential, start=mark).identifier == "E004015012345678"


def test_sim_device_stopped_is_card_gone_reader_stays(sim_card: SimCardDevice, reader_factory,
                                                      recorder: EventRecorder) -> None:
    # vpcd: the virtual card's connection is the card; the reader slot stays listed.
    r = reader_factory(PatronIdentityRule(), recorder)
    sim_card.insert(SimIso15693Card(UID15693))
    recorder.wait_type(PatronCredential)
    mark = recorder.mark()
    sim_card.stop()
    recorder.wait_type(CardLeft, start=mark)
    assert READER in r.readers()
    assert not any(isinstance(e, ReaderDetached) for e in recorder.events)
    sim_card.start()
    sim_card.insert(SimIso15693Card(UID15693))
    recorder.wait_type(PatronCredential, start=mark)


def test_faulty_event_handler_does_not_kill_monitor(sim_card: SimCardDevice, reader_factory,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    rec = EventRecorder()

    def handler(e: object) -> None:
        rec(e)
        raise RuntimeError("handler bug")

    r = reader_factory(PatronIdentityRule())
    r.start(handler)
    sim_card.insert(SimIso15693Card(UID15693))
    rec.wait_type(PatronCredential)
    assert "handler failed" in caplog.text


def test_no_reader_is_said_once_at_start_and_after_a_loss(pcscd_vpcd: PcscdVpcd,
                                                         sim_card: SimCardDevice,
                                                         recorder: EventRecorder) -> None:
    """A reader that never attached (no reader matches; pcscd gone) was silent: the edge
    could not tell "no card" from "no reader"."""
    none = PcscCardReader("No Such Reader", poll_interval=0.05)
    none_events = EventRecorder()
    none.start(none_events)
    try:
        assert "No Such Reader" in none_events.wait_type(ReaderMissing).why
    finally:
        none.stop()
    assert [type(e) for e in none_events.events] == [ReaderMissing]   # once, not every poll

    r = PcscCardReader(READER, poll_interval=0.1)
    r.start(recorder)
    try:
        recorder.wait_type(ReaderAttached)
        mark = recorder.mark()
        pcscd_vpcd.stop_daemon()
        try:
            recorder.wait_type(ReaderDetached, start=mark)
            assert recorder.wait_type(ReaderMissing, start=mark).why
        finally:
            start_pcscd(pcscd_vpcd)
        recorder.wait_type(ReaderAttached, start=mark)
    finally:
        r.stop()
    assert sum(isinstance(e, ReaderMissing) for e in recorder.events) == 1
