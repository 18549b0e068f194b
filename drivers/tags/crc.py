"""CRC-16 of the ISO 28560-3 basic block (CRC-16/CCITT, poly 0x1021, init 0xFFFF). Pure.

Must not do: I/O, or any other CRC (the ISO 15693 frame CRC lives with the reader drivers).
"""

from __future__ import annotations


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc16_iso28560(data: bytes, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT as ISO 28560-3 uses it: poly 0x1021, not reflected, no final XOR.

    Args:
        data: the bytes to check.
        init: initial register value (0xFFFF in ISO 28560-3).

    Returns:
        The 16-bit CRC. ``crc16_iso28560(b"RFID tag data model") == 0x1AEE``.
    """
    crc = init
    table = _TABLE
    for b in data:
        crc = ((crc << 8) & 0xFF00) ^ table[((crc >> 8) ^ b) & 0xFF]
    return crc


def basic_block_crc(block: bytes) -> int:
    """The CRC of a 32-byte basic block: bytes 0-18, 21-31, then two 0x00 bytes."""
    return crc16_iso28560(block[0:19] + block[21:32] + b"\x00\x00")
