"""The EPC Gen2 (ISO/IEC 18000-63) air-time model of the simulated LLRP reader.

Pure arithmetic, no I/O: how long an inventory round over N tags, a Read of W words and a
Write of W words take on the air at a given Tari and backscatter link frequency (BLF).
The simulator sleeps for these times (when timing is on) and adds them to its floor meter;
``bench/uhf.py`` compares a driver's wall time to that floor.

The model (the numbers are the Gen2 v2 timing rules; the defaults are a common dense-reader
mode, Tari 25 us, BLF 256 kHz, Miller M=4):

* reader to tag (PIE): data-0 = Tari, data-1 = 1.75 Tari, so one bit averages 1.375 Tari;
  RTcal = data-0 + data-1 = 2.75 Tari; TRcal = DR/BLF with DR = 64/3; a Query starts with
  the preamble (delimiter 12.5 us + data-0 + RTcal + TRcal), every other command with the
  frame-sync (delimiter + data-0 + RTcal);
* tag to reader: M/BLF per bit, a 10-bit Miller preamble (TRext = 0), one dummy 1-bit;
* link timing: T1 = max(RTcal, 10/BLF) before a reply, T2 = 10/BLF after it; an empty
  slot costs T1 + T3 with T3 = 20 us;
* a round with the Q algorithm at its optimum is framed slotted ALOHA at 1/e efficiency:
  for N tags, N singulations, N empty slots and (e - 2) N collided slots, after one Query
  (with no tag, one empty slot);
* a singulation is QueryRep + RN16 + ACK + PC/UII/CRC16 reply; a collided slot is
  QueryRep + a garbled RN16;
* an access (Read or Write) first gets a handle: Req_RN (40 bits) and its 32-bit reply;
  Read is 58 command bits (+ the RN16 and CRC in those), the reply 1 + 16 W + 32 bits;
  Write is one 66-bit command per word, each followed by the tag's programming time
  (``write_program_s``, 5 ms by default; Gen2 allows up to 20 ms) and a 33-bit reply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DELIMITER_S = 12.5e-6
T3_S = 20e-6
DR = 64 / 3
MILLER_PREAMBLE_BITS = 10
QUERY_BITS, QUERYREP_BITS, ACK_BITS, REQ_RN_BITS = 22, 4, 18, 40
READ_CMD_BITS, WRITE_CMD_BITS = 58, 66


@dataclass(frozen=True)
class AirModel:
    """Gen2 link parameters: Tari (s), BLF (Hz), Miller M (1 = FM0, 2, 4, 8) and the
    per-word EEPROM programming time."""

    tari_s: float = 25e-6
    blf_hz: float = 256e3
    miller: int = 4
    write_program_s: float = 5e-3

    @property
    def rtcal_s(self) -> float:
        return 2.75 * self.tari_s

    @property
    def trcal_s(self) -> float:
        return DR / self.blf_hz

    @property
    def t1_s(self) -> float:
        return max(self.rtcal_s, 10 / self.blf_hz)

    @property
    def t2_s(self) -> float:
        return 10 / self.blf_hz

    def command_s(self, bits: int, preamble: bool = False) -> float:
        """A reader command of ``bits`` bits with its preamble or frame-sync."""
        sync = DELIMITER_S + self.tari_s + self.rtcal_s + (self.trcal_s if preamble else 0.0)
        return sync + bits * 1.375 * self.tari_s

    def reply_s(self, bits: int) -> float:
        """A tag reply of ``bits`` bits, with T1 before and T2 after it."""
        return self.t1_s + (MILLER_PREAMBLE_BITS + bits + 1) * self.miller / self.blf_hz + self.t2_s

    def singulation_s(self, epc_bytes: int) -> float:
        """QueryRep, RN16, ACK and the PC + UII + CRC16 reply of one tag."""
        return (self.command_s(QUERYREP_BITS) + self.reply_s(16) + self.command_s(ACK_BITS)
                + self.reply_s(16 + 8 * epc_bytes + 16))

    def empty_slot_s(self) -> float:
        return self.command_s(QUERYREP_BITS) + self.t1_s + T3_S

    def collision_slot_s(self) -> float:
        return self.command_s(QUERYREP_BITS) + self.reply_s(16)

    def round_s(self, epc_lengths: list[int]) -> float:
        """One inventory round over tags with these UII lengths (bytes) on one antenna."""
        n = len(epc_lengths)
        total = self.command_s(QUERY_BITS, preamble=True)
        if n == 0:
            return total + self.t1_s + T3_S
        total += sum(self.singulation_s(b) for b in epc_lengths)
        total += n * self.empty_slot_s() + (math.e - 2) * n * self.collision_slot_s()
        return total

    def handle_s(self) -> float:
        """Req_RN and the tag's handle reply, before any access command."""
        return self.command_s(REQ_RN_BITS) + self.reply_s(32)

    def read_s(self, words: int) -> float:
        return self.handle_s() + self.command_s(READ_CMD_BITS) + self.reply_s(1 + 16 * words + 32)

    def write_s(self, words: int) -> float:
        per_word = (self.command_s(REQ_RN_BITS) + self.reply_s(32) + self.command_s(WRITE_CMD_BITS)
                    + self.write_program_s + self.reply_s(1 + 32))
        return self.handle_s() + words * per_word
