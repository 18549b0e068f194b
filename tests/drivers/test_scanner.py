"""Barcode scanners: the line decoder, parse rules, the serial scanner over a real pty,
and the keyboard-wedge path."""

from __future__ import annotations

import logging
import os

import pytest

from drivers.credential import PatronCredential
from drivers.errors import ScannerError
from drivers.scanner import (
    KeyboardWedgeScanner,
    ScanLineDecoder,
    ScanRejected,
    SerialBarcodeScanner,
    parse_scan,
)
from tests.drivers.pcsc.support import EventRecorder

STREAM = b"P0001\r\nP0002\rP0003\n\r\n"
LINES = [b"P0001", b"P0002", b"P0003", b""]


def _decode(chunks: list[bytes]) -> list[bytes | None]:
    dec = ScanLineDecoder()
    out: list[bytes | None] = []
    for c in chunks:
        out += dec.feed(c)
    return out


def test_decoder_whole_half_bytewise() -> None:
    assert _decode([STREAM]) == LINES
    assert _decode([STREAM[:7], STREAM[7:]]) == LINES
    assert _decode([bytes([b]) for b in STREAM]) == LINES


def test_decoder_overlong_line() -> None:
    dec = ScanLineDecoder(max_len=4)
    assert dec.feed(b"123456\nabc\n") == [None, b"abc"]


@pytest.mark.parametrize(("raw", "prefix", "suffix", "expected"), [
    (b"P0001", "", "", "P0001"),
    (b"]C1P0001", "]C1", "", "P0001"),
    (b"\x02P0001\x03", "\x02", "\x03", "P0001"),
    (b"LIB:P0001#", "LIB:", "#", "P0001"),
    ("  P0001 ", "", "", "P0001"),
])
def test_parse_scan(raw: bytes | str, prefix: str, suffix: str, expected: str) -> None:
    assert parse_scan(raw, prefix=prefix, suffix=suffix) == expected


@pytest.mark.parametrize(("raw", "prefix", "suffix", "msg"), [
    (b"", "", "", "empty scan"),
    (b"   ", "", "", "empty scan"),
    (b"]C1", "]C1", "", "empty scan"),
    (b"P00\x0701", "", "", "control character U\\+0007 at offset 3"),
    (b"P0001\t", "", "", "control character U\\+0009"),
    (b"\x1bP0001", "", "", "control character U\\+001B at offset 0"),
    (b"P\xff01", "", "", "not text \\(byte 0xFF at offset 1\\)"),
    (b"P0001", "]C1", "", "lacks the configured prefix"),
    (b"P0001", "", "#", "lacks the configured suffix"),
    (b"X" * 129, "", "", "at most 128"),
])
def test_bad_scans(raw: bytes, prefix: str, suffix: str, msg: str) -> None:
    with pytest.raises(ScannerError, match=msg):
        parse_scan(raw, prefix=prefix, suffix=suffix)


def test_keyboard_wedge(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wedge = KeyboardWedgeScanner(prefix="]C1")
    cred = wedge.feed("]C1P2024001\r\n")
    assert cred == PatronCredential(source="barcode", identifier="P2024001", raw=b"]C1P2024001",
                                    reader="keyboard-wedge")
    with pytest.raises(ScannerError, match="empty"):
        wedge.feed("]C1\n")
    with pytest.raises(ScannerError, match="control"):
        wedge.feed("]C1P20\x0824001")
    assert "P2024001" not in caplog.text
    assert "*****001" in caplog.text


def _write(fd: int, data: bytes) -> None:
    os.write(fd, data)


def test_serial_scanner_over_pty(pty_pair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rec = EventRecorder()
    scanner = SerialBarcodeScanner(pty_pair.path, prefix="]C1", suffix="#")
    scanner.start(rec)
    try:
        assert scanner.port_open.wait(10)
        _write(pty_pair.device_fd, b"]C1P2024001#\r\n")
        cred = rec.wait_type(PatronCredential)
        assert cred.identifier == "P2024001"
        assert cred.source == "barcode"
        assert cred.raw == b"]C1P2024001#"
        # split across writes, then bad scans: empty, control character, missing prefix
        _write(pty_pair.device_fd, b"]C1P20")
        _write(pty_pair.device_fd, b"24002#\r")
        _write(pty_pair.device_fd, b"\r]C1P20\x0724003#\rP2024004#\n")
        rec.wait_for(lambda e: isinstance(e, ScanRejected) and "prefix" in e.reason)
    finally:
        scanner.stop()
    kinds = [(type(e).__name__, getattr(e, "identifier", getattr(e, "reason", None)))
             for e in rec.events]
    assert kinds == [
        ("PatronCredential", "P2024001"),
        ("PatronCredential", "P2024002"),
        ("ScanRejected", "empty scan"),
        ("ScanRejected", "scan has a control character U+0007 at offset 6"),
        ("ScanRejected", "scan lacks the configured prefix"),
    ]
    for ident in ("P2024001", "P2024002", "P2024004"):
        assert ident not in caplog.text
    assert "*****001" in caplog.text


def test_serial_scanner_bad_url() -> None:
    with pytest.raises(ScannerError, match="cannot open scanner port"):
        SerialBarcodeScanner("/dev/does-not-exist-smartlib").open()


def test_serial_scanner_loop_url() -> None:
    scanner = SerialBarcodeScanner("loop://")
    port = scanner.open()
    try:
        port.write(b"P0009\r")
        dec = ScanLineDecoder()
        lines = dec.feed(port.read(16))
    finally:
        port.close()
    assert [scanner.decode(x).identifier for x in lines] == ["P0009"]
    with pytest.raises(ScannerError, match="longer than"):
        scanner.decode(None)
