"""The ACS family (ACR1552U-class desk readers with ISO 15693): hooks of :class:`PcscIso15693Reader`.

From ACS's reference manuals (docs/desktop-readers.md cites them):

* READ BINARY ``FF B0 00 <block> <Le>``: Le is the number of bytes, here one 4-byte block;
* any failure of READ or UPDATE BINARY is ``63 00`` ("the operation failed"): ACS does
  not tell a missing block from a failed write, so a failed write asks the tag for the
  block's lock bit (the base class does);
* the pass-through is the PC/SC 2.02 transparent session; ISO 15693 layer 3 is chosen
  with SWITCH PROTOCOL ``8F 02 02 03`` first, and a command that programs EEPROM carries
  a timer object ``5F 46 04 40 42 0F 00`` (1 s): without it the reader stops waiting
  before the tag answers and reports ``64 01`` although the tag was written.
"""

from __future__ import annotations

from typing import ClassVar

from drivers.errors import ReaderStatusError
from drivers.pcsc15693 import iso15693 as iso
from drivers.pcsc15693 import transparent as ts
from drivers.pcsc15693.base import PcscIso15693Reader

WRITE_TIMEOUT_US = 1_000_000
"""The timer of EEPROM-programming commands, as in the published ACR1552 fix."""


class AcsIso15693Reader(PcscIso15693Reader):
    """An ACS desk reader with ISO 15693 (``pcsc15693://ACS?family=acs``)."""

    vendor = "ACS"
    family: ClassVar[str] = "acs"
    read_binary_le: ClassVar[int] = 4

    def _session_preamble(self) -> list[bytes]:
        return [ts.switch_protocol(ts.PROTOCOL_ISO15693, ts.LAYER_3)]

    def _exchange_timeout_us(self, command: int) -> int | None:
        return WRITE_TIMEOUT_US if command in iso.WRITE_COMMANDS else None

    def _sw_error(self, sw: int, what: str) -> ReaderStatusError:
        if sw == 0x6300:
            return ReaderStatusError(f"{what}: SW 63 00 (the operation failed: no such block, "
                                     "a locked block or an RF error)", sw)
        return super()._sw_error(sw, what)
