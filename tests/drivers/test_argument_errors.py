"""Bad arguments to the drivers' public API raise typed errors (review M8).

Every rejection is a :class:`DriverArgumentError` (so ``except DriverError`` catches it) and
still a ``ValueError`` (so older ``except ValueError`` callers keep working); wrong types
are also ``TypeError``. The reader checks run before anything reaches the wire: the fake
transport below records every frame written and the tests assert it stayed empty.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from drivers.credential import PatronCredential
from drivers.errors import (
    DriverArgumentError,
    DriverArgumentTypeError,
    DriverError,
    DriverIndexError,
    DriverStateError,
    ReaderTimeout,
)
from drivers.feig import codec, commands
from drivers.feig.reader import FeigReader
from drivers.pcsc import apdu
from drivers.pcsc.identity import PatronIdentityRule, format_uid
from drivers.reader import Inputs, normalize_uid
from drivers.registry import create_reader
from drivers.scanner import KeyboardWedgeScanner, SerialBarcodeScanner, parse_scan

GOOD_UID = "E004010000000001"


class RecordingTransport:
    """Stands in for :class:`drivers.transport.Transport`: records writes, never answers."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.is_open = False

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def read_some(self, deadline: float) -> bytes:
        return b""

    def discard_input(self) -> bytes:
        return b""


@pytest.fixture
def reader() -> Iterator[tuple[FeigReader, RecordingTransport]]:
    t = RecordingTransport()
    r = FeigReader("fake://", transport=t, timeout_s=0.01, retries=0,  # type: ignore[arg-type]
                   antennas=("pad",))
    r.open()
    yield r, t
    r.close()


def _typed(exc: BaseException) -> None:
    assert isinstance(exc, DriverArgumentError)
    assert isinstance(exc, DriverError)
    assert isinstance(exc, ValueError)


# ---- the reader: UIDs -----------------------------------------------------------------------

@pytest.mark.parametrize("uid,expect", [
    ("E00401", "8 bytes"),                       # too short
    ("E0040100000000010203", "8 bytes"),         # too long
    ("E00401000000000G", "16 hex digits"),       # not hex
    ("", "8 bytes"),
    (b"\xe0\x04", "8 bytes"),
])
def test_bad_uid_is_typed_and_nothing_is_sent(reader: Any, uid: Any, expect: str) -> None:
    r, t = reader
    for call in (lambda: r.read_blocks(uid, 0, 1), lambda: r.write_afi(uid, 0x07),
                 lambda: r.system_info(uid), lambda: r.select(uid), lambda: r.set_eas(uid, True),
                 lambda: r.write_blocks(uid, 0, b"\0" * 4), lambda: r.lock_afi(uid)):
        with pytest.raises(DriverArgumentError, match=expect) as info:
            call()
        _typed(info.value)
        assert "UID" in str(info.value)
    assert t.writes == []


@pytest.mark.parametrize("uid", [12345, None, 1.5, ["E0"]])
def test_uid_of_the_wrong_type_is_a_typed_type_error(uid: Any) -> None:
    with pytest.raises(DriverArgumentTypeError, match="UID must be hex text or 8 bytes") as info:
        normalize_uid(uid)
    _typed(info.value)
    assert isinstance(info.value, TypeError)


def test_good_uid_forms_are_accepted() -> None:
    want = bytes.fromhex(GOOD_UID)
    assert normalize_uid(GOOD_UID) == want
    assert normalize_uid("e0:04:01:00:00:00:00:01") == want
    assert normalize_uid("E0 04 01 00 00 00 00 01") == want
    assert normalize_uid(bytearray(want)) == want


def test_a_valid_call_does_reach_the_wire(reader: Any) -> None:
    """Control for the tests above: the same call with good arguments is sent (and times
    out, as the fake never answers), so the checks are not rejecting everything."""
    r, t = reader
    with pytest.raises(ReaderTimeout):
        r.read_blocks(GOOD_UID, 0, 1)
    assert len(t.writes) == 1


# ---- the reader: AFI, DSFID, blocks, antennas --------------------------------------------

@pytest.mark.parametrize("afi", [-1, 256, 0x1000])
def test_afi_out_of_range(reader: Any, afi: int) -> None:
    r, t = reader
    with pytest.raises(DriverArgumentError, match=rf"AFI must be 0\.\.255, got {afi}") as info:
        r.write_afi(GOOD_UID, afi)
    _typed(info.value)
    with pytest.raises(DriverArgumentError, match="AFI must be 0..255"):
        r.inventory(afi=afi)
    assert t.writes == []


@pytest.mark.parametrize("afi", ["7", 7.0, True, None])
def test_afi_of_the_wrong_type(reader: Any, afi: Any) -> None:
    r, t = reader
    with pytest.raises(DriverArgumentTypeError, match="AFI must be an integer 0..255"):
        r.write_afi(GOOD_UID, afi)
    assert t.writes == []


@pytest.mark.parametrize("dsfid", [-1, 256])
def test_dsfid_out_of_range(reader: Any, dsfid: int) -> None:
    r, t = reader
    with pytest.raises(DriverArgumentError, match="DSFID must be 0..255"):
        r.write_dsfid(GOOD_UID, dsfid)
    assert t.writes == []


@pytest.mark.parametrize("first,count,expect", [
    (0, 0, "block count must be 1..256, got 0"),
    (0, -3, "block count must be 1..256, got -3"),
    (-1, 1, "first block must be 0..255, got -1"),
    (256, 1, "first block must be 0..255, got 256"),
    (250, 10, r"blocks 250\.\.259 run past block 255"),
    (0, 257, "block count must be 1..256, got 257"),
])
def test_bad_block_counts(reader: Any, first: int, count: int, expect: str) -> None:
    r, t = reader
    for call in (r.read_blocks, r.block_security):
        with pytest.raises(DriverArgumentError, match=expect) as info:
            call(GOOD_UID, first, count)
        _typed(info.value)
    assert t.writes == []


@pytest.mark.parametrize("data,expect", [
    (b"", "non-empty multiple of the 4-byte block size, got 0 bytes"),
    (b"\0" * 5, "got 5 bytes"),
])
def test_write_data_not_whole_blocks(reader: Any, data: bytes, expect: str) -> None:
    r, t = reader
    with pytest.raises(DriverArgumentError, match=expect):
        r.write_blocks(GOOD_UID, 0, data)
    with pytest.raises(DriverArgumentError, match="run past block 255"):
        r.write_blocks(GOOD_UID, 255, b"\0" * 8)
    with pytest.raises(DriverArgumentTypeError, match="data must be bytes"):
        r.write_blocks(GOOD_UID, 0, "abcd")
    assert t.writes == []


def test_unknown_antenna_and_other_arguments(reader: Any) -> None:
    r, t = reader
    with pytest.raises(DriverArgumentError, match="unknown antenna 'gate'; expected a name of"):
        r.inventory("gate")
    with pytest.raises(DriverArgumentError, match="antenna number must be 1..1, got 2"):
        r.inventory(2)
    with pytest.raises(DriverArgumentError, match="no antenna selected"):
        r.inventory([])
    with pytest.raises(DriverArgumentError, match="green must be 'on', 'off', 'flash' or None"):
        r.set_outputs(green="blue")  # type: ignore[arg-type]
    with pytest.raises(DriverArgumentError, match="duration must be 0.1..6553.5 s"):
        r.set_outputs(green="on", duration_s=0)
    with pytest.raises(DriverArgumentError, match="max_records must be 1..65535, got 0"):
        r.read_buffer(0)
    assert t.writes == []


def test_constructor_arguments() -> None:
    with pytest.raises(DriverArgumentError, match="at least one antenna name"):
        FeigReader("loop://", antennas=())
    with pytest.raises(DriverArgumentError, match="unique and at most 8"):
        FeigReader("loop://", antennas=("a", "a"))
    with pytest.raises(DriverArgumentError, match="block size must be 1..32, got 0"):
        FeigReader("loop://", block_size=0)
    with pytest.raises(DriverArgumentError, match="COM address must be 0..255, got 300"):
        FeigReader("loop://", com_address=300)
    with pytest.raises(DriverArgumentError, match="timeout_s must be a positive number"):
        FeigReader("loop://", timeout_s=0)
    with pytest.raises(DriverArgumentError, match="parity must be N, E or O"):
        FeigReader("loop://", parity="X")
    with pytest.raises(DriverArgumentError, match="does not take these options"):
        create_reader("feig", "loop://", no_such_option=1)


def test_inputs_index() -> None:
    inputs = Inputs(0b10)
    assert inputs[2] is True and inputs[1] is False
    with pytest.raises(DriverIndexError, match="numbered from 1, got 0") as info:
        inputs[0]
    assert isinstance(info.value, IndexError) and isinstance(info.value, DriverError)


# ---- FEIG command builders and framing (sans-IO) ------------------------------------------

def test_feig_builders_reject_bad_arguments() -> None:
    cases: list[tuple[Any, str]] = [
        (lambda: commands.read_multiple(b"\0" * 7, 0, 1), "a UID is 8 bytes, got 7"),
        (lambda: commands.read_multiple(None, 0, 0), "block count must be 1..255, got 0"),
        (lambda: commands.read_multiple(None, 200, 100), "run past block 255"),
        (lambda: commands.write_multiple(None, 0, []), "nothing to write"),
        (lambda: commands.write_multiple(None, 0, [b"\0" * 4, b"\0" * 3]), r"sizes \[3, 4\]"),
        (lambda: commands.write_afi(None, 256), "AFI must be 0..255, got 256"),
        (lambda: commands.write_dsfid(None, -1), "DSFID must be 0..255, got -1"),
        (lambda: commands.inventory(antenna_mask=0), "ANT-SEL antenna mask must be 1..255"),
        (lambda: commands.nxp_eas(0x10, None), "not an NXP EAS command"),
        (lambda: commands.set_output(0x10000), "OS must be 0..65535"),
        (lambda: commands.read_buffer(0), "DATA-SETS must be 1..65535, got 0"),
        (lambda: codec.encode_frame(256, 0xB0), "COM-ADR must be 0..255, got 256"),
        (lambda: codec.encode_frame(0, 0xB0, bytes(70000)), "exceeds the advanced-frame limit"),
        (lambda: codec.FeigFrameDecoder("both"), "kind must be 'response' or 'request'"),  # type: ignore[arg-type]
    ]
    for call, expect in cases:
        with pytest.raises(DriverArgumentError, match=expect) as info:
            call()
        _typed(info.value)


# ---- PC/SC APDUs and identity --------------------------------------------------------------

@pytest.mark.parametrize("block,length,expect", [
    (-1, 4, "READ BINARY block must be 0..65535, got -1"),
    (0x10000, 4, "READ BINARY block must be 0..65535, got 65536"),
    (0, 0, r"READ BINARY length \(Le\) must be 1..256, got 0"),
    (0, 257, r"READ BINARY length \(Le\) must be 1..256, got 257"),
])
def test_read_binary_bad_lengths(block: int, length: int, expect: str) -> None:
    with pytest.raises(DriverArgumentError, match=expect) as info:
        apdu.read_binary(block, length)
    _typed(info.value)


@pytest.mark.parametrize("data,expect", [
    (b"", r"UPDATE BINARY data of 0 bytes, expected 1..255 \(Lc\)"),
    (bytes(256), r"UPDATE BINARY data of 256 bytes, expected 1..255 \(Lc\)"),
])
def test_update_binary_bad_lengths(data: bytes, expect: str) -> None:
    with pytest.raises(DriverArgumentError, match=expect) as info:
        apdu.update_binary(0, data)
    _typed(info.value)
    with pytest.raises(DriverArgumentTypeError, match="UPDATE BINARY data must be bytes"):
        apdu.update_binary(0, "text")  # type: ignore[arg-type]


def test_pcsc_reader_bad_arguments_before_any_card_access() -> None:
    pcsc_reader = pytest.importorskip("drivers.pcsc.reader")
    r = pcsc_reader.PcscCardReader("no reader has this name", identity=None)
    with pytest.raises(DriverArgumentError, match="block count must be 1..65536, got 0"):
        r.read_blocks(0, 0)
    with pytest.raises(DriverArgumentError, match="expected exactly one block of 4"):
        r.write_block(0, b"\0" * 5)
    with pytest.raises(DriverArgumentError, match="is not a regex"):
        pcsc_reader.PcscCardReader("([")


def test_identity_rule_and_uid_format() -> None:
    with pytest.raises(DriverArgumentError, match="uid_format must be 'hex' or 'decimal'"):
        format_uid(b"\x01", "octal")  # type: ignore[arg-type]
    with pytest.raises(DriverArgumentError, match="needs a mapping callable"):
        PatronIdentityRule(source="mapping")
    with pytest.raises(DriverArgumentError, match="iso28560_blocks must be 1..256, got 0"):
        PatronIdentityRule(source="iso28560", iso28560_blocks=0)


# ---- credentials and scanners ----------------------------------------------------------------

def test_credential_fields() -> None:
    with pytest.raises(DriverArgumentError, match="credential source must be one of card"):
        PatronCredential(source="nfc", identifier="123")  # type: ignore[arg-type]
    with pytest.raises(DriverArgumentError, match="non-empty string, got ''"):
        PatronCredential(source="card", identifier="")
    with pytest.raises(DriverArgumentTypeError, match="identifier must be a non-empty string, got int") as info:
        PatronCredential(source="card", identifier=1234567)  # type: ignore[arg-type]
    assert "1234567" not in str(info.value)  # a patron number is never echoed
    with pytest.raises(DriverArgumentTypeError, match="credential raw must be bytes, got str"):
        PatronCredential(source="card", identifier="123", raw="123")  # type: ignore[arg-type]


def test_scanner_arguments_and_double_start() -> None:
    with pytest.raises(DriverArgumentTypeError, match="a scan must be bytes or text, got int"):
        parse_scan(42)  # type: ignore[arg-type]
    with pytest.raises(DriverArgumentTypeError, match="a typed scan must be text"):
        KeyboardWedgeScanner().feed(b"123")  # type: ignore[arg-type]
    scanner = SerialBarcodeScanner("loop://")
    scanner.start(lambda event: None)
    try:
        with pytest.raises(DriverStateError, match="already started") as info:
            scanner.start(lambda event: None)
        assert isinstance(info.value, RuntimeError) and isinstance(info.value, DriverError)
    finally:
        scanner.stop()
    assert not [t for t in threading.enumerate() if t.name == "barcode-scanner"]
