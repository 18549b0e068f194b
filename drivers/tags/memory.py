"""ISO 15693 tag memory model: UID, DSFID, AFI, blocks, lock bits, NXP EAS. Pure, no I/O.

Some readers return each 4-byte block with its bytes reversed; the helpers here turn a
memory image into blocks and back in either order. Nothing here talks to a reader.

    UID (most significant byte first, as printed on labels):
    +------+------+-------------------------------+
    | 0xE0 | mfr  | 6 bytes serial                 |
    +------+------+-------------------------------+
    (on the air the UID is sent least-significant byte first)

    user memory, block_size=4, normal order      reversed order (as some readers deliver)
    | b0 b1 b2 b3 | b4 b5 b6 b7 | ...           | b3 b2 b1 b0 | b7 b6 b5 b4 | ...
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from drivers.errors import TagFormatError

MANUFACTURERS = {0x04: "NXP", 0x07: "Texas Instruments", 0x02: "STMicroelectronics",
                 0x16: "EM Microelectronic", 0x05: "Infineon"}


def blocks_from_bytes(data: bytes, block_size: int = 4, *, reversed_blocks: bool = False) -> list[bytes]:
    """Split a memory image into blocks (the last one zero-padded).

    Args:
        data: the user memory image.
        block_size: bytes per block (4 for ICODE SLI/SLIX).
        reversed_blocks: reverse the bytes inside each block (reader quirk).

    Returns:
        The list of blocks.

    Raises:
        TagFormatError: block_size is not positive.
    """
    if block_size <= 0:
        raise TagFormatError(f"block size must be positive, got {block_size}", "block_size")
    if len(data) % block_size:
        data = data + b"\x00" * (block_size - len(data) % block_size)
    out = [data[i:i + block_size] for i in range(0, len(data), block_size)]
    if reversed_blocks:
        out = [b[::-1] for b in out]
    return out


def bytes_from_blocks(blocks: Iterable[bytes], *, reversed_blocks: bool = False) -> bytes:
    """Join blocks into a memory image, undoing a reader's in-block reversal if asked."""
    if reversed_blocks:
        return b"".join(bytes(b)[::-1] for b in blocks)
    return b"".join(bytes(b) for b in blocks)


def reverse_blocks(data: bytes, block_size: int = 4) -> bytes:
    """Reverse the bytes inside every block of ``data`` (an involution)."""
    n = len(data) - len(data) % block_size
    out = bytearray()
    for i in range(0, n, block_size):
        out += data[i:i + block_size][::-1]
    out += data[n:][::-1]
    return bytes(out)


@dataclass(frozen=True)
class TagMemory:
    """The state of one ISO 15693 tag.

    Args:
        uid: 8 bytes, most significant first (starts with 0xE0).
        data: user memory, ``block_size * block_count`` bytes.
        block_size: bytes per block.
        dsfid: data storage format identifier, or None if unknown.
        afi: application family identifier, or None if unknown.
        locked: per-block lock state (empty means all unlocked).
        eas: the NXP EAS bit (None if the chip has none or it is unknown).
        afi_locked / dsfid_locked: whether those bytes are locked.
    """

    uid: bytes
    data: bytes
    block_size: int = 4
    dsfid: int | None = None
    afi: int | None = None
    locked: tuple[bool, ...] = field(default=())
    eas: bool | None = None
    afi_locked: bool = False
    dsfid_locked: bool = False

    def __post_init__(self) -> None:
        if len(self.uid) != 8:
            raise TagFormatError(f"UID must be 8 bytes, got {len(self.uid)}", "uid", 0)
        if self.uid[0] != 0xE0:
            raise TagFormatError(f"UID must start with 0xE0, got 0x{self.uid[0]:02X}", "uid", 0)
        if self.block_size <= 0 or len(self.data) % self.block_size:
            raise TagFormatError(f"memory of {len(self.data)} bytes is not whole blocks of "
                                 f"{self.block_size}", "data", len(self.data))
        for name in ("dsfid", "afi"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 0xFF:
                raise TagFormatError(f"{name} must be one byte, got {v}", name)
        if self.locked and len(self.locked) != self.block_count:
            raise TagFormatError(f"{len(self.locked)} lock flags for {self.block_count} blocks",
                                 "locked")

    @classmethod
    def blank(cls, uid: bytes, block_count: int = 28, block_size: int = 4, **kw: object) -> TagMemory:
        """A tag with zeroed memory (ICODE SLIX: 28 blocks of 4 bytes)."""
        return cls(uid=uid, data=b"\x00" * (block_count * block_size), block_size=block_size,
                   **kw)  # type: ignore[arg-type]

    @classmethod
    def uid_from_wire(cls, wire: bytes) -> bytes:
        """Turn a UID as sent on the air (LSB first) into the MSB-first form used here."""
        return bytes(wire[::-1])

    @property
    def uid_wire(self) -> bytes:
        """The UID least-significant byte first, as in ISO 15693 frames."""
        return self.uid[::-1]

    @property
    def uid_hex(self) -> str:
        return self.uid.hex().upper()

    @property
    def manufacturer(self) -> int:
        """The IC manufacturer code (second UID byte: 0x04 NXP, 0x07 TI)."""
        return self.uid[1]

    @property
    def manufacturer_name(self) -> str:
        return MANUFACTURERS.get(self.manufacturer, f"0x{self.manufacturer:02X}")

    @property
    def block_count(self) -> int:
        return len(self.data) // self.block_size

    def is_locked(self, block: int) -> bool:
        return bool(self.locked) and self.locked[block]

    def blocks(self, *, reversed_blocks: bool = False) -> list[bytes]:
        """The user memory as blocks (optionally as a byte-reversing reader returns them)."""
        return blocks_from_bytes(self.data, self.block_size, reversed_blocks=reversed_blocks)

    def read_blocks(self, first: int, count: int) -> list[bytes]:
        """Blocks ``first .. first+count-1``; raises TagFormatError when out of range."""
        if first < 0 or count < 1 or first + count > self.block_count:
            raise TagFormatError(f"blocks {first}..{first + count - 1} outside 0..{self.block_count - 1}",
                                 "block", first)
        bs = self.block_size
        return [self.data[i * bs:(i + 1) * bs] for i in range(first, first + count)]

    def with_blocks(self, first: int, blocks: Sequence[bytes]) -> TagMemory:
        """A copy with ``blocks`` written from block ``first``.

        Raises:
            TagFormatError: a block has the wrong size, is out of range, or is locked.
        """
        bs = self.block_size
        data = bytearray(self.data)
        for i, b in enumerate(blocks):
            n = first + i
            if len(b) != bs:
                raise TagFormatError(f"block {n} must be {bs} bytes, got {len(b)}", "block", n)
            if not 0 <= n < self.block_count:
                raise TagFormatError(f"block {n} outside 0..{self.block_count - 1}", "block", n)
            if self.is_locked(n):
                raise TagFormatError(f"block {n} is locked", "block", n)
            data[n * bs:(n + 1) * bs] = b
        return replace(self, data=bytes(data))

    def with_data(self, image: bytes) -> TagMemory:
        """A copy whose memory starts with ``image`` (rest unchanged)."""
        if len(image) > len(self.data):
            raise TagFormatError(f"image of {len(image)} bytes exceeds {len(self.data)} bytes",
                                 "data", len(self.data))
        padded = image + b"\x00" * (-len(image) % self.block_size)
        return self.with_blocks(0, blocks_from_bytes(padded, self.block_size))

    def with_lock(self, block: int) -> TagMemory:
        locked = list(self.locked or (False,) * self.block_count)
        locked[block] = True
        return replace(self, locked=tuple(locked))
