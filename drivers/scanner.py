"""Barcode scanners for patron login: a line-oriented serial scanner and a keyboard wedge.

Both turn one scan into a :class:`~drivers.credential.PatronCredential` with source
``"barcode"`` after stripping the site's configured prefix and suffix; a bad scan (empty,
control characters, not text, missing prefix or suffix, too long) is a
:class:`~drivers.errors.ScannerError`. Identifiers are logged masked only; raw scans are
never logged.

- :class:`ScanLineDecoder` is the sans-IO part: bytes in, complete lines out (CR, LF or
  CR LF end a scan).
- :class:`SerialBarcodeScanner` reads a pyserial URL (``serial_for_url``) in a thread and
  emits credentials, or :class:`ScanRejected` for bad scans.
- :class:`KeyboardWedgeScanner` is the path for scanners that type into the kiosk: the
  UI calls :meth:`KeyboardWedgeScanner.feed` with what was typed.

This module knows nothing about sessions or the ILS.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import serial

from drivers.credential import PatronCredential, mask_identifier
from drivers.errors import DriverArgumentTypeError, DriverStateError, ScannerError

log = logging.getLogger(__name__)

MAX_SCAN = 128
"""Longest accepted scan, in characters (library barcodes are far shorter)."""


@dataclass(frozen=True)
class ScanRejected:
    """A scan was read but is unusable; ``reason`` says why (it never holds the scan)."""

    reason: str
    source: str = "barcode"


ScanEvent = PatronCredential | ScanRejected


class ScanLineDecoder:
    """Split a byte stream into scans; CR, LF and CR LF each end one scan.

    ::

        bytes: ] C 1 2 3 4 5 CR LF  9 9 LF
               `-- scan 1 ----'    `scan 2'
    """

    def __init__(self, max_len: int = MAX_SCAN * 4) -> None:
        self._buf = bytearray()
        self._after_cr = False
        self._max_len = max_len
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Add bytes; return the scans they complete (``None`` for an over-long line)."""
        out: list[bytes | None] = []
        for b in data:
            if b == 0x0A and self._after_cr:
                self._after_cr = False
                continue
            self._after_cr = b == 0x0D
            if b in (0x0A, 0x0D):
                out.append(None if self._overflow else bytes(self._buf))
                self._buf.clear()
                self._overflow = False
                continue
            if len(self._buf) >= self._max_len:
                self._overflow = True
                continue
            self._buf.append(b)
        return out


def parse_scan(raw: bytes | str, *, prefix: str = "", suffix: str = "") -> str:
    """Turn one scan (without its line terminator) into a patron identifier.

    Args:
        raw: the scan, bytes (decoded as ASCII/UTF-8) or text.
        prefix: a prefix the scanner is configured to send; it must be present. It may
            hold control characters (e.g. STX); the rest of the scan may not.
        suffix: a suffix the scanner is configured to send; it must be present.

    Returns:
        The identifier, with prefix, suffix and surrounding spaces removed.

    Raises:
        ScannerError: not text, control characters, missing prefix/suffix, empty, too long.
        DriverArgumentTypeError: ``raw`` is neither bytes nor text.
    """
    if isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    if not isinstance(raw, (bytes, str)):
        raise DriverArgumentTypeError(f"a scan must be bytes or text, got {type(raw).__name__}")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScannerError(f"scan is not text (byte 0x{raw[exc.start]:02X} at offset "
                               f"{exc.start})") from exc
    else:
        text = raw
    if not text.strip(" "):
        raise ScannerError("empty scan")
    if prefix:
        if not text.startswith(prefix):
            raise ScannerError("scan lacks the configured prefix")
        text = text[len(prefix):]
    if suffix:
        if not text.endswith(suffix):
            raise ScannerError("scan lacks the configured suffix")
        text = text[:-len(suffix)]
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise ScannerError(f"scan has a control character U+{ord(ch):04X} at offset "
                               f"{i + len(prefix)}")
    text = text.strip(" ")
    if not text:
        raise ScannerError("empty scan")
    if len(text) > MAX_SCAN:
        raise ScannerError(f"scan of {len(text)} characters, expected at most {MAX_SCAN}")
    return text


class KeyboardWedgeScanner:
    """A scanner that types into the kiosk: the UI feeds each completed entry.

    Args:
        prefix: the configured prefix (stripped, required when set).
        suffix: the configured suffix (stripped, required when set).
        name: the device name put on credentials.
    """

    def __init__(self, *, prefix: str = "", suffix: str = "", name: str = "keyboard-wedge") -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.name = name

    def feed(self, text: str) -> PatronCredential:
        """Turn one typed scan into a credential (a trailing CR/LF is allowed).

        Raises:
            ScannerError: the scan is unusable.
            DriverArgumentTypeError: ``text`` is not a string.
        """
        if not isinstance(text, str):
            raise DriverArgumentTypeError(f"a typed scan must be text, got {type(text).__name__}")
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith(("\r", "\n")):
            text = text[:-1]
        try:
            ident = parse_scan(text, prefix=self.prefix, suffix=self.suffix)
        except ScannerError as exc:
            log.warning("keyboard-wedge scan rejected: %s", exc)
            raise
        log.info("barcode scan %s from %s", mask_identifier(ident), self.name)
        return PatronCredential(source="barcode", identifier=ident,
                                raw=text.encode("utf-8"), reader=self.name)


class SerialBarcodeScanner:
    """A line-oriented serial barcode scanner.

    Args:
        url: a pyserial URL (``/dev/ttyACM0``, ``socket://host:port``, ``loop://``).
        baudrate: the line speed.
        prefix: the configured prefix (stripped, required when set).
        suffix: the configured suffix (stripped, required when set).
        reopen_interval: seconds between attempts to reopen a port that failed.
    """

    def __init__(self, url: str, *, baudrate: int = 9600, prefix: str = "", suffix: str = "",
                 reopen_interval: float = 1.0) -> None:
        self.url = url
        self.baudrate = baudrate
        self.prefix = prefix
        self.suffix = suffix
        self.reopen_interval = reopen_interval
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.port_open = threading.Event()
        """Set while the reading thread has the port open (pyserial flushes input on open)."""

    def open(self) -> serial.SerialBase:
        """Open the port.

        Raises:
            ScannerError: the port cannot be opened.
        """
        try:
            return serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0.1)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ScannerError(f"cannot open scanner port {self.url}: {exc}") from exc

    def decode(self, raw: bytes | None) -> PatronCredential:
        """Turn one line from the port into a credential.

        Raises:
            ScannerError: the scan is unusable.
        """
        if raw is None:
            raise ScannerError(f"scan longer than {MAX_SCAN * 4} bytes")
        ident = parse_scan(raw, prefix=self.prefix, suffix=self.suffix)
        return PatronCredential(source="barcode", identifier=ident, raw=raw, reader=self.url)

    def start(self, on_event: Callable[[ScanEvent], None]) -> None:
        """Start reading in a thread; ``on_event`` gets credentials and rejections.

        Raises:
            DriverStateError: already started (also a ``RuntimeError``).
        """
        if self._thread is not None:
            raise DriverStateError(f"barcode scanner on {self.url} already started; call stop() first")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(on_event,),
                                        name="barcode-scanner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the reading thread and close the port."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                log.error("barcode scanner thread did not stop")
            self._thread = None

    def _emit(self, on_event: Callable[[ScanEvent], None], event: ScanEvent) -> None:
        try:
            on_event(event)
        except Exception:  # a faulty handler must not kill the reader
            log.exception("scanner event handler failed on %s", type(event).__name__)

    def _run(self, on_event: Callable[[ScanEvent], None]) -> None:
        while not self._stopping.is_set():
            try:
                port = self.open()
            except ScannerError as exc:
                log.warning("%s; retrying", exc)
                self._stopping.wait(self.reopen_interval)
                continue
            decoder = ScanLineDecoder()
            self.port_open.set()
            try:
                while not self._stopping.is_set():
                    data = port.read(256)
                    if not data:
                        continue
                    log.log(5, "scanner %s < %d bytes", self.url, len(data))
                    for line in decoder.feed(data):
                        try:
                            cred = self.decode(line)
                        except ScannerError as exc:
                            log.warning("barcode scan rejected on %s: %s", self.url, exc)
                            self._emit(on_event, ScanRejected(str(exc)))
                            continue
                        log.info("barcode scan %s on %s", cred.masked, self.url)
                        self._emit(on_event, cred)
            except (serial.SerialException, OSError) as exc:
                log.warning("scanner port %s failed: %s; reopening", self.url, exc)
                self._stopping.wait(self.reopen_interval)
            finally:
                self.port_open.clear()
                port.close()
