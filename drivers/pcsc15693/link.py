"""``PcscLink``: one PC/SC reader through pcsc-lite (pyscard's ``smartcard.scard``).

It keeps one context and, while a card is in the field, one shared connection, and maps
PC/SC failures onto the reader interface's errors: no card, or the card left →
:class:`~drivers.errors.TagNotFound`; pcscd or the reader gone →
:class:`~drivers.errors.ReaderDisconnected` (the base class reopens). It knows no APDU.
"""

from __future__ import annotations

import logging
from typing import Any

from smartcard import scard  # type: ignore[import-untyped]

from drivers.errors import FrameError, ReaderDisconnected, ReaderError, TagNotFound

log = logging.getLogger("drivers.pcsc15693")

_NO_CARD = frozenset({
    scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD, scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNPOWERED_CARD, scard.SCARD_W_UNRESPONSIVE_CARD,
})
_NO_READER = frozenset({
    scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_UNKNOWN_READER,
    scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_NO_READERS_AVAILABLE,
    scard.SCARD_E_INVALID_HANDLE,
})
_PROTOCOLS = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
_NO_TAG = 0x01


def _err(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"


class PcscLink:
    """The first PC/SC reader whose name contains ``name`` (case-insensitive, sorted order)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reader_name = name
        self._ctx: Any = None
        self._card: Any = None
        self._proto: Any = None

    def open(self) -> None:
        """Establish a context and pick the reader.

        Raises:
            ReaderDisconnected: pcscd is not running or no reader name matches.
        """
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hr != scard.SCARD_S_SUCCESS:
            raise ReaderDisconnected(f"pcscd is not available: {_err(hr)}")
        hr, names = scard.SCardListReaders(ctx, [])
        names = [] if hr == scard.SCARD_E_NO_READERS_AVAILABLE else names
        if hr not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_NO_READERS_AVAILABLE):
            scard.SCardReleaseContext(ctx)
            raise ReaderDisconnected(f"cannot list PC/SC readers: {_err(hr)}")
        match = [n for n in sorted(names) if self.name.lower() in n.lower()]
        if not match:
            scard.SCardReleaseContext(ctx)
            raise ReaderDisconnected(f"no PC/SC reader name contains {self.name!r} "
                                     f"(readers: {', '.join(names) or 'none'})")
        self._ctx, self.reader_name = ctx, match[0]

    def close(self) -> None:
        self._drop_card(scard.SCARD_LEAVE_CARD)
        if self._ctx is not None:
            scard.SCardReleaseContext(self._ctx)
            self._ctx = None

    def _drop_card(self, disposition: int) -> None:
        if self._card is not None:
            hr = scard.SCardDisconnect(self._card, disposition)
            if hr != scard.SCARD_S_SUCCESS:
                log.debug("SCardDisconnect on %s: %s", self.reader_name, _err(hr))
            self._card = None

    def _connect(self) -> None:
        if self._ctx is None:
            raise ReaderDisconnected(f"PC/SC reader {self.reader_name} is not open")
        if self._card is not None:
            return
        hr, card, proto = scard.SCardConnect(self._ctx, self.reader_name, scard.SCARD_SHARE_SHARED,
                                             _PROTOCOLS)
        if hr in _NO_CARD:
            raise TagNotFound(f"no tag on {self.reader_name}", _NO_TAG)
        if hr in _NO_READER:
            raise ReaderDisconnected(f"reader {self.reader_name} is gone: {_err(hr)}")
        if hr != scard.SCARD_S_SUCCESS:
            raise ReaderError(f"cannot connect to the tag on {self.reader_name}: {_err(hr)}")
        self._card, self._proto = card, proto

    def transmit(self, apdu: bytes) -> bytes:
        """Send one APDU; return the response with its status word.

        A stale connection (the card was swapped, or pcscd reset it) is reconnected once.

        Raises:
            TagNotFound: no card, or it left during the command.
            ReaderDisconnected: pcscd or the reader is gone.
            FrameError: a response without a status word.
        """
        for attempt in (1, 2):
            self._connect()
            hr, resp = scard.SCardTransmit(self._card, self._proto, list(apdu))
            if hr == scard.SCARD_S_SUCCESS:
                break
            self._drop_card(scard.SCARD_LEAVE_CARD)
            if hr in _NO_READER:
                raise ReaderDisconnected(f"reader {self.reader_name} is gone: {_err(hr)}")
            if hr in (scard.SCARD_W_RESET_CARD, scard.SCARD_W_REMOVED_CARD) and attempt == 1:
                continue  # the connection predates the card now in the field
            if hr in _NO_CARD:
                raise TagNotFound(f"the tag left {self.reader_name}: {_err(hr)}", _NO_TAG)
            raise ReaderError(f"transmit failed on {self.reader_name}: {_err(hr)}")
        data = bytes(resp)
        if len(data) < 2:
            # vpcd (and some readers) answer a card lost mid-command with an empty response.
            self._drop_card(scard.SCARD_LEAVE_CARD)
            if not data:
                raise TagNotFound(f"the tag left {self.reader_name} during the command", _NO_TAG)
            raise FrameError(f"response of {len(data)} bytes from {self.reader_name} has no status word")
        return data

    def reset_field(self) -> None:
        """Switch the tag's power off and on (``SCardReconnect`` with unpower); no tag, no-op."""
        try:
            self._connect()
        except TagNotFound:
            return
        hr, proto = scard.SCardReconnect(self._card, scard.SCARD_SHARE_SHARED, _PROTOCOLS,
                                         scard.SCARD_UNPOWER_CARD)
        if hr != scard.SCARD_S_SUCCESS:
            self._drop_card(scard.SCARD_LEAVE_CARD)
            if hr in _NO_READER:
                raise ReaderDisconnected(f"reader {self.reader_name} is gone: {_err(hr)}")
            if hr in _NO_CARD:
                raise TagNotFound(f"no tag on {self.reader_name}", _NO_TAG)
            raise ReaderError(f"cannot reset the field of {self.reader_name}: {_err(hr)}")
        self._proto = proto
