"""``PcscIso15693Reader``: ISO 15693 tags on PC/SC desktop readers behind :class:`drivers.reader.Reader`.

Shared PC/SC part 3 logic of every desk-reader family:

* UID: GET DATA ``FF CA 00 00 00`` (8 bytes; accepted E0 first or E0 last);
* blocks: READ BINARY ``FF B0 00 <block> <Le>`` and UPDATE BINARY
  ``FF D6 00 <block> 04 <data>``, one 4-byte block per APDU, block-number addressing;
* AFI, DSFID, EAS, system information, block security: ISO 15693 frames
  (:mod:`drivers.pcsc15693.iso15693`) through the PC/SC part 3 v2.02 transparent
  session (:mod:`drivers.pcsc15693.transparent`).

A family (:mod:`~drivers.pcsc15693.acs`, :mod:`~drivers.pcsc15693.omnikey`) overrides the
protected hooks where its manual differs: the READ BINARY Le, the meaning of status words,
the session preamble and the exchange timer. Retries, verification and metrics live in
the base class :class:`drivers.reader.Reader`, never here. APDUs are logged at TRACE
(level 5) in full, as :class:`~drivers.feig.reader.FeigReader` logs its frames: TRACE is
for test benches (a patron card put on the pad would show its identifier).

Opened by URL: ``pcsc15693://<reader name substring>?family=acs|omnikey``. This module
must not know about sessions, the ILS or the edge.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from drivers.errors import (
    DriverArgumentError,
    FrameError,
    ReaderDisconnected,
    ReaderError,
    ReaderStatusError,
    ReaderTimeout,
    TagNotFound,
)
from drivers.pcsc15693 import iso15693 as iso
from drivers.pcsc15693 import transparent as ts
from drivers.reader import Inputs, OutputState, Reader, ReaderInfo, SystemInfo, uid_text
from drivers.trace import TRACE

log = logging.getLogger("drivers.pcsc15693")

SCHEME = "pcsc15693"
STATUS_NO_TAG = 0x01
"""``ReaderStatusError.status`` of :class:`TagNotFound` (no card, or another card)."""
STATUS_ISO_ERROR = 0x95
"""``ReaderStatusError.status`` when the tag answered with the ISO 15693 error flag."""

FAMILIES: dict[str, str] = {
    "acs": "drivers.pcsc15693.acs:AcsIso15693Reader",
    "omnikey": "drivers.pcsc15693.omnikey:OmnikeyIso15693Reader",
}
_NAME_HINTS = (("acs", "acs"), ("acr", "acs"), ("omnikey", "omnikey"), ("hid global", "omnikey"))

# PC/SC part 3 status words common to the storage-card commands (PC/SC part 3, 3.2.2.1).
_SW_TEXT: dict[int, str] = {
    0x6281: "part of the returned data may be corrupted",
    0x6282: "end of data reached before Le bytes",
    0x6300: "operation failed",
    0x6581: "memory failure (unsuccessful update)",
    0x6700: "wrong length",
    0x6981: "command incompatible with the card",
    0x6982: "security status not satisfied",
    0x6986: "command not allowed",
    0x6A81: "function not supported",
    0x6A82: "addressed block does not exist",
    0x6B00: "wrong parameters P1-P2",
}


class CardLink(Protocol):
    """What the reader needs from PC/SC: one reader, APDUs to its card, a field reset."""

    reader_name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def transmit(self, apdu: bytes) -> bytes: ...

    def reset_field(self) -> None: ...


def parse_url(url: str) -> tuple[str, str | None]:
    """``pcsc15693://<name substring>?family=acs`` → (name substring, family or None).

    Raises:
        DriverArgumentError: another scheme, no reader name, or an unknown family.
    """
    if not isinstance(url, str):
        raise DriverArgumentError(f"reader URL must be text, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme != SCHEME:
        raise DriverArgumentError(
            f"expected a {SCHEME}://<reader name>?family=acs|omnikey URL, got {url!r}")
    name = unquote(parts.netloc + parts.path).strip()
    if not name:
        raise DriverArgumentError(f"{url!r} names no PC/SC reader (pcsc15693://<name substring>)")
    query = parse_qs(parts.query)
    unknown = set(query) - {"family"}
    if unknown:
        raise DriverArgumentError(f"unknown {SCHEME} URL parameters {sorted(unknown)}; known: family")
    family = query.get("family", [None])[-1]
    if family is not None and family not in FAMILIES:
        raise DriverArgumentError(f"unknown reader family {family!r}; expected one of {sorted(FAMILIES)}")
    return name, family


def family_for(name: str, family: str | None) -> str:
    """The family given, else the one a reader name hints at.

    Raises:
        DriverArgumentError: no family given and the name hints at none.
    """
    if family is not None:
        return family
    low = name.lower()
    for hint, fam in _NAME_HINTS:
        if hint in low:
            return fam
    raise DriverArgumentError(
        f"cannot tell the family of PC/SC reader {name!r}; add ?family=acs or ?family=omnikey")


def _family_class(family: str) -> type[PcscIso15693Reader]:
    module, _, attr = FAMILIES[family].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    assert issubclass(cls, PcscIso15693Reader)
    return cls


def uid_from_get_data(raw: bytes) -> bytes:
    """The 8-byte UID E0 first, from a GET DATA answer in either byte order.

    Raises:
        FrameError: not 8 bytes, or no E0 at either end (not an ISO 15693 UID).
    """
    raw = bytes(raw)
    if len(raw) != 8:
        raise FrameError(f"GET DATA returned {len(raw)} UID bytes; an ISO 15693 UID has 8")
    if raw[0] == 0xE0:
        return raw
    if raw[-1] == 0xE0:
        return bytes(reversed(raw))
    raise FrameError(f"GET DATA UID {raw.hex(' ')} has no E0 byte at either end: not ISO 15693")


class PcscIso15693Reader(Reader):
    """ISO 15693 tags on a PC/SC desk reader of one family (see :data:`FAMILIES`).

    ``PcscIso15693Reader(url)`` builds the family's subclass, chosen by the URL's
    ``family`` parameter or by the reader name (``ACS``/``ACR`` or ``OMNIKEY``/``HID Global``).

    Args:
        url: ``pcsc15693://<reader name substring>?family=acs|omnikey``; the first reader
            (in sorted order) whose name contains the substring, case-insensitively.
        baudrate, parity, com_address: accepted so one configuration fits every driver;
            ignored (a USB desk reader has no serial settings).
        timeout_s: ignored: pcsc-lite's ``SCardTransmit`` has no timeout.
        link: the PC/SC link (tests inject one); default :class:`PcscLink`.
        **kw: :class:`drivers.reader.Reader` options.

    Raises:
        DriverArgumentError: a bad URL or option.
    """

    vendor = "pcsc"
    family: ClassVar[str] = ""
    read_binary_le: ClassVar[int] = 4
    """Le of READ BINARY for one block (the family's manual decides)."""

    def __new__(cls, url: str, *args: Any, **kwargs: Any) -> PcscIso15693Reader:
        if cls is PcscIso15693Reader:
            name, family = parse_url(url)
            cls = _family_class(family_for(name, family))
        return super().__new__(cls)

    def __init__(self, url: str, *, baudrate: int | None = None, parity: str | None = None,
                 com_address: int | None = None, timeout_s: float | None = None,
                 antennas: Sequence[str] = ("pad",), retries: int = 2, reopen_after: int = 3,
                 write_retries: int = 8, block_size: int = 4, link: CardLink | None = None) -> None:
        super().__init__(antennas=antennas, retries=retries, reopen_after=reopen_after,
                         write_retries=write_retries, block_size=block_size)
        if len(self.antennas) != 1:
            raise DriverArgumentError(f"a desk reader has one antenna, got {list(self.antennas)}")
        name, family = parse_url(url)
        if family is not None and family != self.family:
            raise DriverArgumentError(f"{type(self).__name__} is family {self.family!r}, "
                                      f"the URL says {family!r}")
        self.url = url
        self.reader_pattern = name
        if link is None:
            from drivers.pcsc15693.link import PcscLink
            link = PcscLink(name)
        self.link = link
        self._dsfid_of: tuple[bytes, int] | None = None  # the tag on the reader and its DSFID

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # ``__new__`` takes anything; callers that check options (drivers.registry) must see
    # ``__init__``'s parameters.
    __signature__ = inspect.Signature(list(inspect.signature(__init__).parameters.values())[1:])

    # ---- family hooks ------------------------------------------------------------------

    def _session_preamble(self) -> list[bytes]:
        """APDUs after START SESSION and before the exchange (e.g. switch protocol)."""
        return []

    def _exchange_timeout_us(self, command: int) -> int | None:
        """The timer data object of an exchange carrying ``command`` (None: none sent)."""
        return None

    def _sw_error(self, sw: int, what: str) -> ReaderStatusError:
        """The error for a status word other than 90 00 (PC/SC part 3 meanings)."""
        text = _SW_TEXT.get(sw, "unexpected status word")
        return ReaderStatusError(f"{what}: SW {sw >> 8:02X} {sw & 0xFF:02X} ({text})", sw)

    # ---- APDU plumbing -------------------------------------------------------------------

    def _send(self, apdu: bytes, what: str) -> bytes:
        """Transmit one APDU; return its data when SW is 90 00, else raise the family's error."""
        log.log(TRACE, "%s %s > %s", self.family, self.link.reader_name, apdu.hex(" "))
        resp = self.link.transmit(apdu)
        log.log(TRACE, "%s %s < %s", self.family, self.link.reader_name, resp.hex(" "))
        sw = resp[-2] << 8 | resp[-1]
        if sw != 0x9000:
            raise self._sw_error(sw, what)
        return resp[:-2]

    def _present_uid(self) -> bytes | None:
        """The UID of the ISO 15693 tag on the reader; None for no card or another kind
        (a MIFARE patron card put on the pad is no library tag)."""
        try:
            raw = self._send(bytes.fromhex("FFCA000000"), "GET DATA (UID)")
        except TagNotFound:
            return None
        try:
            return uid_from_get_data(raw)
        except FrameError as exc:
            log.debug("%s: ignoring a card that is no ISO 15693 tag: %s", self.link.reader_name, exc)
            return None

    def _require(self, uid: bytes) -> None:
        present = self._present_uid()
        if present != uid:
            seen = uid_text(present) if present else "no tag"
            raise TagNotFound(f"tag {uid_text(uid)} is not on the reader ({seen})", STATUS_NO_TAG)

    def _pass_through(self, frame: bytes) -> iso.Answer | None:
        """One ISO 15693 frame through a transparent session; None if the tag kept silent."""
        what = f"ISO 15693 command {frame[1]:#04x}"
        self._send(ts.start_session(), "START TRANSPARENT SESSION")
        try:
            for apdu in self._session_preamble():
                self._send(apdu, "SWITCH PROTOCOL")
            data = self._send(ts.exchange(frame, timeout_us=self._exchange_timeout_us(frame[1])),
                              what)
        finally:
            try:
                self._send(ts.end_session(), "END TRANSPARENT SESSION")
            except ReaderError as exc:
                log.debug("ending the transparent session failed: %s", exc)
        answer = ts.parse_answer(data)
        if answer.error_sw == ts.SW_NO_ANSWER:
            return None
        if not answer.ok:
            raise ReaderStatusError(
                f"{what}: transparent exchange failed at data object {answer.error_index} "
                f"with {answer.error_sw >> 8:02X} {answer.error_sw & 0xFF:02X}", answer.error_sw)
        if answer.card_answer is None:
            raise FrameError(f"{what}: the exchange answer carries no card response (97)")
        return iso.parse_answer(answer.card_answer)

    def _iso(self, frame: bytes) -> bytes:
        """An ISO 15693 command that must be answered; its data (after the flags)."""
        answer = self._pass_through(frame)
        what = f"ISO 15693 command {frame[1]:#04x}"
        if answer is None:
            raise ReaderTimeout(f"{what}: the tag did not answer in time")
        if answer.error is not None:
            name = iso.ERROR_NAMES.get(answer.error, "unknown")
            raise ReaderStatusError(f"{what}: ISO error {answer.error:#04x} {name}",
                                    STATUS_ISO_ERROR, answer.error)
        return answer.data

    def _addressed(self, uid: bytes, build: Callable[[bytes], bytes]) -> bytes:
        self._require(uid)
        return self._iso(build(uid))

    # ---- hooks ---------------------------------------------------------------------------

    def _open(self) -> None:
        self.link.open()

    def _close(self) -> None:
        self.link.close()

    def _inventory(self, antennas: list[int]) -> list[tuple[bytes, int, int | None]]:
        """GET DATA; the DSFID is asked once per tag put down (Get System Information)."""
        uid = self._present_uid()
        if uid is None:
            self._dsfid_of = None
            return []
        if self._dsfid_of is None or self._dsfid_of[0] != uid:
            info = iso.parse_system_info(self._iso(iso.get_system_info(uid)))
            self._dsfid_of = (uid, info.dsfid or 0)
        return [(uid, self._dsfid_of[1], 1)]

    def _read_blocks(self, uid: bytes, first: int, count: int) -> bytes:
        self._require(uid)
        out = bytearray()
        for n in range(first, first + count):
            data = self._send(bytes([0xFF, 0xB0, 0x00, n, self.read_binary_le]),
                              f"READ BINARY block {n}")
            if len(data) != self.block_size:
                raise FrameError(f"READ BINARY block {n} returned {len(data)} bytes, "
                                 f"expected {self.block_size}")
            out += data
        return bytes(out)

    def _write_blocks(self, uid: bytes, first: int, data: bytes) -> None:
        self._require(uid)
        size = self.block_size
        for i in range(0, len(data), size):
            n = first + i // size
            try:
                self._send(bytes([0xFF, 0xD6, 0x00, n, size]) + data[i:i + size],
                           f"UPDATE BINARY block {n}")
            except TagNotFound:
                raise
            except ReaderStatusError as exc:
                # PC/SC storage commands cannot say "locked": ask the tag.
                if self._block_security(uid, n, 1)[0] & 1:
                    raise ReaderStatusError(f"{exc}; block {n} is locked", exc.status,
                                            0x12) from exc
                raise

    def _write_afi(self, uid: bytes, afi: int) -> None:
        self._addressed(uid, lambda u: iso.write_afi(u, afi))

    def _lock_afi(self, uid: bytes) -> None:
        self._addressed(uid, iso.lock_afi)

    def _write_dsfid(self, uid: bytes, dsfid: int) -> None:
        self._dsfid_of = None
        self._addressed(uid, lambda u: iso.write_dsfid(u, dsfid))

    def _lock_dsfid(self, uid: bytes) -> None:
        self._addressed(uid, iso.lock_dsfid)

    def _block_security(self, uid: bytes, first: int, count: int) -> tuple[int, ...]:
        return tuple(self._addressed(uid, lambda u: iso.get_block_security(u, first, count)))

    def _set_eas(self, uid: bytes, on: bool) -> None:
        command = iso.NXP_SET_EAS if on else iso.NXP_RESET_EAS
        self._addressed(uid, lambda u: iso.nxp_eas(command, u))

    def _eas_alarm(self) -> bool:
        if self._present_uid() is None:
            return False
        answer = self._pass_through(iso.nxp_eas(iso.NXP_EAS_ALARM, None))
        return answer is not None and answer.ok

    def _system_info(self, uid: bytes) -> SystemInfo:
        info = iso.parse_system_info(self._addressed(uid, iso.get_system_info))
        if info.uid != uid:
            raise FrameError(f"system information of {uid_text(info.uid)} while asking {uid_text(uid)}")
        self._dsfid_of = (uid, info.dsfid or 0)
        return SystemInfo(uid_text(info.uid), info.dsfid or 0, info.afi or 0,
                          info.block_size or self.block_size, info.block_count or 0,
                          info.ic_ref or 0)

    def _select(self, uid: bytes) -> None:
        self._addressed(uid, iso.select)

    def _stay_quiet(self, uid: bytes) -> None:
        self._require(uid)
        self._pass_through(iso.stay_quiet(uid))  # a tag never answers Stay Quiet

    def _reset_to_ready(self, uid: bytes | None) -> None:
        if uid is None:
            if self._present_uid() is not None:
                self._pass_through(iso.reset_to_ready(None))
            return
        self._addressed(uid, iso.reset_to_ready)

    def _reader_info(self) -> ReaderInfo:
        return ReaderInfo(vendor=self.vendor, model=self.link.reader_name, firmware="unknown",
                          details={"family": self.family, "transport": "PC/SC"})

    def _set_outputs(self, green: OutputState, red: OutputState, buzzer: OutputState,
                     relay: OutputState, duration_s: float) -> None:
        raise ReaderError(f"{self.vendor} desk readers: LEDs and buzzer are not driven by this driver")

    def _read_inputs(self) -> Inputs:
        raise ReaderError(f"{self.vendor} desk readers have no digital inputs")

    def _rf_reset(self) -> None:
        self.link.reset_field()


__all__ = ["FAMILIES", "CardLink", "PcscIso15693Reader", "ReaderDisconnected", "parse_url",
           "uid_from_get_data"]
