"""Legacy 3M "RFID501" item layout, decode only. Pure, no I/O.

No 3M specification is public. The layout below is the one the open-source
Biblio::RFID::RFID501 Perl module (Dobrica Pavlinusic, used with Koha) reads and writes,
as re-described by a public Go port; the meaning of byte 2 and of block 6 is not known::

     0      1          2     3       4 ........... 19   20 ....... 23   24 ... 27  28 .. 31
    +------+----------+-----+------+----------------+---------------+-----------+--------+
    | 0x04 |part|total| 0x00| media| item id, ASCII | branch (12 b) | custom    | 0      |
    |      | hi  | lo  |     | type | NUL-padded     | library (20 b)| (signed)  |        |
    +------+----------+-----+------+----------------+---------------+-----------+--------+
    big-endian integers in bytes 20-27. Blank 3M tags read as 0x55 bytes.
"""

from __future__ import annotations

from drivers.tags._report import Problems, nul_string, printable
from drivers.tags.model import TagData, usage_name

FORMAT = "rfid501"
MARKER = 0x04
MEDIA_TYPES = {0: "other", 1: "book", 2: "magazine", 3: "bound journal", 4: "audio tape",
               5: "video", 6: "CD/CD-ROM", 7: "diskette", 8: "book with diskette",
               9: "book with CD/CD-ROM", 13: "book with audio tape"}
UNKNOWN_USAGE = 6  # RFID501 has no type of usage


def plausible(mem: bytes) -> bool:
    """Marker 0x04, byte 2 zero and a printable, non-empty item id."""
    if len(mem) < 20 or mem[0] != MARKER or mem[2] != 0:
        return False
    item = mem[4:20].split(b"\x00", 1)[0]
    return bool(item) and printable(item)


def decode(mem: bytes, rep: Problems, *, detected_by: str = "", reversed_blocks: bool = False) -> TagData:
    """Decode an RFID501 image (at least 20 bytes; 32 normally).

    Raises:
        TagFormatError: (strict) short memory, wrong marker, impossible set numbers,
            bad item id.
    """
    if len(mem) < 20:
        rep.add(f"RFID501 needs at least 20 bytes, got {len(mem)}", "memory", len(mem))
        mem = mem + b"\x00" * (20 - len(mem))
    if mem[0] != MARKER:
        rep.add(f"RFID501 marker 0x{mem[0]:02X}, expected 0x04", "marker", 0)
    part, total = mem[1] >> 4, mem[1] & 0x0F
    if total == 0 or part == 0 or part > total:
        rep.add(f"part {part} of {total} is impossible", "set", 1)
    item = nul_string(mem[4:20], "primary_item_id", 4, rep)
    if not item:
        rep.add("primary item id is empty", "primary_item_id", 4)
    elements: dict[str, object] = {"media_type": mem[3],
                                   "media_type_name": MEDIA_TYPES.get(mem[3], "unknown")}
    if len(mem) >= 24:
        brlib = int.from_bytes(mem[20:24], "big")
        elements["branch"] = brlib >> 20
        elements["library"] = brlib & 0xFFFFF
    if len(mem) >= 28:
        elements["custom"] = int.from_bytes(mem[24:28], "big", signed=True)
    return TagData(format=FORMAT, version=None, type_of_usage=UNKNOWN_USAGE,
                   type_of_usage_name=usage_name(UNKNOWN_USAGE), parts_in_item=total,
                   part_number=part, primary_item_id=item, country="", isil="", crc_ok=None,
                   elements=elements, problems=tuple(rep.items), detected_by=detected_by,
                   reversed_blocks=reversed_blocks)
