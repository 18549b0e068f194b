"""The one place for air-interface and serial timing constants, and the modelled floor.

The simulator waits for the time a real reader would take (serial bytes at the configured
baud rate, ISO 15693 frames, tag response and programming times) and adds it to a
:class:`FloorMeter`, so that benchmarks can compare their wall time to this physical floor.

Sources for the constants: ISO/IEC 15693-2 (fc = 13.56 MHz; 1-out-of-4 coding at
26.48 kbit/s reader to tag; one-subcarrier high data rate 26.48 kbit/s tag to reader;
SOF/EOF durations; t1 = 4320/fc, t3 = 4384/fc) as summarised in protocols.md §3, and the
"up to about 20 ms" write time of protocols.md §3 for EEPROM programming.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

FC_HZ: Final = 13.56e6
VCD_BIT_S: Final = 1 / 26_480          # reader -> tag, 1-out-of-4, per bit
VICC_BIT_S: Final = 1 / 26_480         # tag -> reader, high data rate, one subcarrier, per bit
VCD_SOF_S: Final = 75.52e-6
VCD_EOF_S: Final = 37.76e-6
VICC_SOF_S: Final = 56.64e-6
VICC_EOF_S: Final = 56.64e-6
T1_S: Final = 4320 / FC_HZ             # tag response delay (~318.6 us)
T2_S: Final = 4192 / FC_HZ             # reader's minimum wait before its next frame
T3_EMPTY_S: Final = 4384 / FC_HZ       # an empty slot: the reader waits t3 then sends EOF
WRITE_PROGRAM_S: Final = 0.020         # EEPROM programming per written block / AFI / EAS
SLOTS: Final = 16

# ISO 15693 frame sizes in bytes (request and answer, CRC included).
INVENTORY_REQ_BASE: Final = 1 + 1 + 1 + 2        # flags, cmd, mask length, CRC (+ mask bytes)
INVENTORY_ANSWER: Final = 1 + 1 + 8 + 2          # flags, DSFID, UID, CRC
ADDRESSED_REQ_BASE: Final = 1 + 1 + 8 + 2        # flags, cmd, UID, CRC (+ params)
STATUS_ANSWER: Final = 1 + 2                     # flags, CRC
SYSINFO_ANSWER: Final = 1 + 1 + 8 + 1 + 1 + 2 + 1 + 2
EAS_ALARM_REQ: Final = 1 + 1 + 1 + 2
EAS_ALARM_ANSWER: Final = 1 + 32 + 2             # flags, 256-bit EAS sequence, CRC


def serial_s(nbytes: int, baudrate: int, parity: str = "E") -> float:
    """Time to move ``nbytes`` over a UART: start + 8 data + parity + 1 stop bits each."""
    bits = 10 + (0 if parity == "N" else 1)
    return nbytes * bits / baudrate


def vcd_frame_s(nbytes: int) -> float:
    """A reader-to-tag frame of ``nbytes`` (CRC included)."""
    return VCD_SOF_S + nbytes * 8 * VCD_BIT_S + VCD_EOF_S


def vicc_frame_s(nbytes: int) -> float:
    """A tag-to-reader frame of ``nbytes`` (CRC included)."""
    return VICC_SOF_S + nbytes * 8 * VICC_BIT_S + VICC_EOF_S


def exchange_s(request_bytes: int, answer_bytes: int | None, program_s: float = 0.0) -> float:
    """One request and its answer (``None``: nobody answers, the reader waits t3)."""
    if answer_bytes is None:
        return vcd_frame_s(request_bytes) + T3_EMPTY_S
    return vcd_frame_s(request_bytes) + program_s + T1_S + vicc_frame_s(answer_bytes) + T2_S


def inventory_round_s(mask_bits: int, occupied: int, empty: int) -> float:
    """One 16-slot round: the request, ``occupied`` slots with an answer (or a collision)
    and ``empty`` silent slots, each slot after the first opened by an EOF."""
    req = vcd_frame_s(INVENTORY_REQ_BASE + (mask_bits + 7) // 8)
    answered = occupied * (T1_S + vicc_frame_s(INVENTORY_ANSWER) + T2_S)
    silent = empty * T3_EMPTY_S
    return req + answered + silent + (SLOTS - 1) * VCD_EOF_S


def write_single_s() -> float:
    """Write Single Block (4-byte block), programming time included."""
    return exchange_s(ADDRESSED_REQ_BASE + 1 + 4, STATUS_ANSWER, WRITE_PROGRAM_S)


def read_multiple_s(count: int, block_size: int = 4) -> float:
    """Read Multiple Blocks of ``count`` blocks."""
    return exchange_s(ADDRESSED_REQ_BASE + 2, 1 + count * block_size + 2)


@dataclass
class FloorSnapshot:
    """Modelled seconds by part, and the number of exchanges."""

    serial_s: float
    air_s: float
    exchanges: int

    @property
    def total_s(self) -> float:
        return self.serial_s + self.air_s


class FloorMeter:
    """Thread-safe accumulator of the floor the simulator modelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._serial = 0.0
        self._air = 0.0
        self._exchanges = 0

    def add(self, serial: float, air: float) -> None:
        with self._lock:
            self._serial += serial
            self._air += air
            self._exchanges += 1

    def snapshot(self) -> FloorSnapshot:
        with self._lock:
            return FloorSnapshot(self._serial, self._air, self._exchanges)

    def reset(self) -> None:
        with self._lock:
            self._serial = self._air = 0.0
            self._exchanges = 0
