"""ISO 28560-3 ("Danish data model") codec: the 32-byte basic block and extension blocks.

Pure: bytes in, TagData out. Must not do I/O, format detection or block-order guessing
(``drivers.tags.codec`` does those).

Basic block (protocols.md section 2; DS/INF 163 "RFID Data Model for Libraries" 3.2.2)::

     0      1        2       3 ............... 18  19  20  21  22  23 ........ 31
    +------+--------+-------+--------------------+-------+-------+--------------+
    |ver|tu| parts  | part  | primary item id    | CRC   |country| owner library|
    | 4 | 4| in item| number| ASCII, NUL-padded  | LSB   | ASCII | ASCII, NUL   |
    +------+--------+-------+--------------------+-------+-------+--------------+
    CRC-16/CCITT (0x1021, init 0xFFFF) over bytes 0-18, 21-31 and two 0x00, stored LSB first.

Extension blocks from byte 32 (DS/INF 163 3.3; GOST R ISO 28560-3-2016 7.4.2)::

    +--------+-----------+-----------+----------+------------------+
    | length | block id  | block id  | XOR      | data ...         |
    | (all)  | LSB       | MSB       | checksum | (length-4 bytes) |
    +--------+-----------+-----------+----------+------------------+
    length 0 = end of data, length 1 = one filler byte; XOR of all block bytes is 0.

Versions: 1 (DS/INF 163) and 2 share this layout in every public source found (libdanrfid's
DDMData names the version-2 first bytes V2NEU 0x20 and V2AUSLEIHBAR 0x21: the same
version | type-of-usage nibbles); only the version nibble differs. Both are decoded and
encoded, anything else is an unknown version. Known extension block: id 1 (library
extension), whose first data byte is decoded as ``media_format_other``; every other block
is kept raw under ``elements["extension_blocks"]`` and written back unchanged.
"""

from __future__ import annotations

from typing import Any

from drivers.errors import TagFormatError
from drivers.tags._report import Problems, nul_string
from drivers.tags.crc import basic_block_crc
from drivers.tags.model import ItemTagData, TagData, usage_name

FORMAT = "iso28560-3"
BASIC_LEN = 32
VERSIONS = (1, 2)
LIBRARY_EXTENSION = 0x0001


def crc_matches(block: bytes) -> bool:
    """True if ``block`` (>= 32 bytes) carries a valid basic-block CRC."""
    return len(block) >= BASIC_LEN and basic_block_crc(block) == block[19] | (block[20] << 8)


def decode(mem: bytes, rep: Problems, *, detected_by: str = "", reversed_blocks: bool = False) -> TagData:
    """Decode an ISO 28560-3 memory image.

    An empty primary item id (a blank tag) is a warning, listed in ``problems`` and
    ``warnings``, never raised.

    Raises:
        TagFormatError: (strict mode) short memory, unknown version, impossible parts,
            bad CRC, bad text fields or extension blocks; names the field and offset.
    """
    if len(mem) < BASIC_LEN:
        rep.add(f"basic block needs {BASIC_LEN} bytes, got {len(mem)}", "basic_block", len(mem))
        mem = mem + b"\x00" * (BASIC_LEN - len(mem))
    version, tou = mem[0] >> 4, mem[0] & 0x0F
    if version not in VERSIONS:
        rep.add(f"unknown version {version}, expected 1 or 2", "version", 0)
    parts, part = mem[1], mem[2]
    if parts == 0:
        rep.add("parts in item is 0, expected 1..255", "parts_in_item", 1)
    if part == 0 or part > parts:
        rep.add(f"part number {part} impossible for {parts} parts", "part_number", 2)
    item = nul_string(mem[3:19], "primary_item_id", 3, rep)
    if not item:  # a blank tag as libdanrfid writes one: data, with a warning
        rep.warn("primary item id is empty (a blank tag)", "primary_item_id", 3)
    crc_ok = crc_matches(mem)
    if not crc_ok:
        stored = mem[19] | (mem[20] << 8)
        rep.add(f"CRC 0x{stored:04X} stored, 0x{basic_block_crc(mem):04X} computed", "crc", 19)
    country = nul_string(mem[21:23], "country", 21, rep)
    library = nul_string(mem[23:32], "owner_library", 23, rep)
    elements = _decode_extensions(mem, rep)
    if library:
        isil = f"{country}-{library}" if country else library
    else:
        isil = ""
    return TagData(format=FORMAT, version=version, type_of_usage=tou,
                   type_of_usage_name=usage_name(tou), parts_in_item=parts, part_number=part,
                   primary_item_id=item, country=country, isil=isil, crc_ok=crc_ok,
                   elements=elements, problems=tuple(rep.items), detected_by=detected_by,
                   reversed_blocks=reversed_blocks, warnings=tuple(rep.warnings))


def _decode_extensions(mem: bytes, rep: Problems) -> dict[str, Any]:
    elements: dict[str, Any] = {}
    raw: list[dict[str, Any]] = []
    pos, end = BASIC_LEN, len(mem)
    while pos < end:
        length = mem[pos]
        if length == 0:
            break
        if length == 1:
            pos += 1
            continue
        if length < 4:
            rep.add(f"extension block length {length} is below 4", "extension_block", pos)
            break
        if pos + length > end:
            rep.add(f"extension block of {length} bytes runs past the end ({end} bytes)",
                    "extension_block", pos)
            break
        block = mem[pos:pos + length]
        x = 0
        for b in block:
            x ^= b
        if x:
            rep.add(f"extension block checksum wrong (XOR 0x{x:02X}, expected 0)",
                    "extension_checksum", pos + 3)
        block_id = block[1] | (block[2] << 8)
        data = block[4:]
        if block_id == LIBRARY_EXTENSION and data and "media_format_other" not in elements:
            elements["media_format_other"] = data[0]
            if len(data) > 1:  # the rest of the library block is kept whole, raw
                raw.append({"block_id": block_id, "data": data.hex()})
        else:
            raw.append({"block_id": block_id, "data": data.hex()})
        pos += length
    if raw:
        elements["extension_blocks"] = raw
    return elements


def _ext_block(block_id: int, data: bytes) -> bytes:
    length = 4 + len(data)
    if length > 0xFF:
        raise TagFormatError(f"extension block of {length} bytes exceeds 255", "extension_block")
    head = bytes((length, block_id & 0xFF, (block_id >> 8) & 0xFF, 0))
    x = 0
    for b in head + data:
        x ^= b
    return head[:3] + bytes((x,)) + data


def _ascii_field(text: str, size: int, field: str, offset: int) -> bytes:
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise TagFormatError(f"{field} must be ASCII for ISO 28560-3", field, offset) from exc
    if len(raw) > size:
        raise TagFormatError(f"{field} is {len(raw)} bytes, at most {size} fit", field, offset)
    if any(not 0x20 <= b <= 0x7E for b in raw):
        raise TagFormatError(f"{field} must be printable ASCII", field, offset)
    return raw + b"\x00" * (size - len(raw))


def split_isil(item: ItemTagData) -> tuple[str, str]:
    """(country, library part) for the basic block from ItemTagData.isil / country."""
    if "-" in item.isil:
        prefix, _, library = item.isil.partition("-")
        if len(prefix) != 2:
            raise TagFormatError(f"ISIL prefix {prefix!r} is not a 2-letter country; "
                                 "ISO 28560-3 stores only 2 characters", "country", 21)
        return prefix, library
    return item.country, item.isil


def encode(item: ItemTagData, version: int = 1) -> bytes:
    """Encode an item as an ISO 28560-3 basic block (``version`` 1 or 2) plus extension blocks.

    Raises:
        TagFormatError: a field does not fit or an element has no ISO 28560-3 encoding here.
    """
    if isinstance(version, bool) or version not in VERSIONS:
        raise TagFormatError(f"unknown version {version!r}, expected 1 or 2", "version", 0)
    if not 0 <= item.type_of_usage <= 15:
        raise TagFormatError(f"type of usage {item.type_of_usage} must be 0..15", "type_of_usage", 0)
    if item.usage_qualifier:
        raise TagFormatError("ISO 28560-3 cannot store a type-of-usage sub-qualifier",
                             "type_of_usage", 0)
    if not 1 <= item.parts_in_item <= 255:
        raise TagFormatError(f"parts in item {item.parts_in_item} must be 1..255", "parts_in_item", 1)
    if not 1 <= item.part_number <= item.parts_in_item:
        raise TagFormatError(f"part number {item.part_number} impossible for "
                             f"{item.parts_in_item} parts", "part_number", 2)
    if not item.primary_item_id:
        raise TagFormatError("primary item id is empty", "primary_item_id", 3)
    country, library = split_isil(item)
    block = bytearray(BASIC_LEN)
    block[0] = (version << 4) | item.type_of_usage
    block[1] = item.parts_in_item          # parts in item FIRST (byte 1) ...
    block[2] = item.part_number            # ... then part number (byte 2)
    block[3:19] = _ascii_field(item.primary_item_id, 16, "primary_item_id", 3)
    block[21:23] = _ascii_field(country, 2, "country", 21)
    block[23:32] = _ascii_field(library, 9, "owner_library", 23)
    crc = basic_block_crc(bytes(block))
    block[19], block[20] = crc & 0xFF, crc >> 8
    out = bytes(block)
    raw_ids = {int(b.get("block_id", -1)) for b in item.elements.get("extension_blocks", ())
               if isinstance(b, dict)}
    for name, value in item.elements.items():
        if name == "media_format_other" and LIBRARY_EXTENSION in raw_ids:
            continue  # written whole by the raw library extension block
        if name == "media_format_other":
            if not isinstance(value, int) or not 0 <= value <= 255:
                raise TagFormatError("media_format_other must be an int 0..255", name)
            out += _ext_block(LIBRARY_EXTENSION, bytes((value,)))
        elif name == "extension_blocks":
            for blk in value:
                try:
                    data = bytes.fromhex(blk["data"])
                    block_id = int(blk["block_id"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise TagFormatError("extension_blocks entries need block_id and hex data",
                                         name) from exc
                out += _ext_block(block_id, data)
        else:
            raise TagFormatError(f"element {name!r} has no ISO 28560-3 encoding here; "
                                 "use iso28560-2", name)
    return out
