"""Format detection and the public entry points ``decode_tag`` / ``encode_tag``. Pure.

Auto-detection rules, in order (the first that fits decides and is named in
``TagData.detected_by``); each is tried in the given block order, then reversed (4-byte
blocks with their bytes swapped, a reader quirk) unless ``reversed_blocks`` is fixed:

1. ``version+crc``: version nibble 1 or 2 and a valid ISO 28560-3 CRC.
2. ``dsfid``: the DSFID is 0x06 (ISO 28560-2); decoded as ISO 28560-2 in the block order
   below, so strict mode names what is wrong with the objects.
3. ``rfid501-marker``: byte 0 is 0x04, byte 2 is 0 and the item id is printable.
4. ``oid-plausibility``: the bytes do not look like an ISO 28560-3 basic block (so
   ``11 01 01``, a cut-off part-3 block, is not taken for a part-2 item "1") and either
   all objects parse with a printable ASCII item id, or the given order starts like
   ISO 28560-2 (see below) -- then strict mode raises what is wrong with its objects.
5. ``version (crc failed)``: version nibble 1 or 2 but the CRC is wrong -- decoded as
   ISO 28560-3, which in strict mode raises the CRC error.
6. ``basic-block layout``: the bytes look like an ISO 28560-3 basic block (a valid CRC, or
   bytes 3-18 a NUL-padded ASCII item id and a known version, or 32 bytes with a possible
   parts/part number) but it is short or has an unknown version -- decoded as ISO 28560-3,
   so strict mode names the real fault (``basic_block`` length, ``version``, ...) instead
   of "unrecognised".

Block order for ISO 28560-2 (rules 2 and 4; it has no CRC): if the memory in the given
order starts with a precursor of relative OID 1 whose object frames and holds text
(``iso28560_2.starts_like_part2``), that order is ISO 28560-2 and is kept even when the
rest does not decode: the error (an ``UnsupportedConstruct``, bad compacted data, an
object cut off) is reported, the reversed order is not tried. Only memory that does not
start like ISO 28560-2 in the given order is tried reversed (see ``_part2_order``).

Must not do: I/O. Only ``TagFormatError`` (or its subclass ``UnsupportedConstruct``) ever
leaves ``decode_tag``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from drivers.errors import TagFormatError
from drivers.tags import iso28560_2, iso28560_3, rfid501
from drivers.tags._report import Problems, printable
from drivers.tags.memory import reverse_blocks
from drivers.tags.model import ItemTagData, TagData, usage_name

FORMATS = ("auto", iso28560_3.FORMAT, iso28560_2.FORMAT, rfid501.FORMAT)
ENCODE_FORMATS = (iso28560_3.FORMAT, iso28560_2.FORMAT)
Decoder = Callable[..., TagData]
_DECODERS: dict[str, Decoder] = {iso28560_3.FORMAT: iso28560_3.decode,
                                 iso28560_2.FORMAT: iso28560_2.decode,
                                 rfid501.FORMAT: rfid501.decode}


class _Views(dict[bool, bytes]):
    """The memory in normal order, and reversed order computed only when first asked for;
    ``part2`` keeps each order's strict ISO 28560-2 decode once made (the block-order
    choice makes it, and the final decode reuses it instead of parsing again)."""

    def __init__(self, mem: bytes) -> None:
        super().__init__({False: mem})
        self.part2: dict[bool, TagData | None] = {}

    def __missing__(self, key: bool) -> bytes:
        self[key] = value = reverse_blocks(self[False]) if key else self[False]
        return value


def _parses_as_part2(mem: bytes, ascii_id: bool = True) -> bool:
    """The objects parse strictly (and, for guessing, the item id is printable ASCII)."""
    if not mem or mem[0] & 0x0F != 1:
        return False
    try:
        data = iso28560_2.decode(mem, Problems(False))
    except TagFormatError:
        return False
    return not ascii_id or printable(data.primary_item_id.encode("utf-8", "replace"))


def _looks_part3(mem: bytes) -> bool:
    """The shape of an ISO 28560-3 basic block, whatever its CRC, length or version.

    A valid basic-block CRC (libdanrfid's all-zero "null" block has one) is enough.
    Otherwise bytes 3-18 (as far as present) are a non-empty item id of printable ASCII
    padded with NULs -- or the memory stops right after the 3 header bytes -- and the
    version nibble is known or (a whole 32-byte block) byte 2, the part number, fits byte 1.
    """
    if len(mem) < 3:
        return False
    if iso28560_3.crc_matches(mem):  # a valid basic-block CRC, whatever the fields say
        return True
    ident = mem[3:19]
    if ident:
        if not 0x20 <= ident[0] <= 0x7E or any(b and not 0x20 <= b <= 0x7E for b in ident):
            return False
    elif len(mem) != 3:
        return False
    if (mem[0] >> 4) in iso28560_3.VERSIONS:
        return True
    return len(mem) >= iso28560_3.BASIC_LEN and 1 <= mem[2] <= mem[1]


def _part2_order(views: dict[bool, bytes], orders: tuple[bool, ...], ascii_id: bool,
                 not_part3: bool = False) -> bool | None:
    """The block order to read as ISO 28560-2 (it has no CRC: a heuristic), or None.

    If the given (first) order starts like ISO 28560-2 -- a precursor of relative OID 1
    whose object frames and holds text (``iso28560_2.starts_like_part2``) -- but does not
    decode (a later object cut off, an unsupported construct, bad compacted data), it is
    returned so its error is reported: the other order is never tried then. Otherwise an
    order that decodes wins; when both do, the one with a printable ASCII item id, then
    the one whose memory after the objects is all zero, then the one with more objects (a
    lone "item id" before zero fill is what a reversed image most often decodes to); ties
    go to the order given first. With ``not_part3``, an order whose bytes look like an
    ISO 28560-3 basic block does not count.
    """
    decoded: dict[bool, TagData | None] = {}

    def clean(order: bool) -> TagData | None:
        """The strict decode in this order if it counts, else None (computed once)."""
        if order not in decoded:
            mem = views[order]
            data = None
            if mem and mem[0] & 0x0F == 1 and not (not_part3 and _looks_part3(mem)):
                if isinstance(views, _Views) and order in views.part2:
                    data = views.part2[order]
                else:
                    try:
                        data = iso28560_2.decode(mem, Problems(False))
                    except TagFormatError:
                        data = None
                    if isinstance(views, _Views):
                        views.part2[order] = data
                if data is not None and ascii_id and not printable(
                        data.primary_item_id.encode("utf-8", "replace")):
                    data = None
            decoded[order] = data
        return decoded[order]

    forward = orders[0]
    if clean(forward) is None and iso28560_2.starts_like_part2(views[forward]) and not (
            not_part3 and _looks_part3(views[forward])):
        # ISO 28560-2 in the given order whose data does not decode (an unsupported
        # construct, bad compacted data): that error is the answer, never the other order.
        return forward
    fits = [o for o in orders if clean(o) is not None]
    if len(fits) < 2:
        return fits[0] if fits else None

    def score(order: bool) -> tuple[bool, bool, int]:
        data = decoded[order]
        assert data is not None
        return (printable(data.primary_item_id.encode("utf-8", "replace")),
                iso28560_2.clean_tail(views[order]), iso28560_2.object_count(views[order]))

    return max(fits, key=score)


def _fits(fmt: str, mem: bytes) -> bool:
    if fmt == iso28560_3.FORMAT:
        return iso28560_3.crc_matches(mem) and (mem[0] >> 4) in iso28560_3.VERSIONS
    if fmt == iso28560_2.FORMAT:
        return _parses_as_part2(mem, ascii_id=False)
    return rfid501.plausible(mem)


def _blank(mem: bytes) -> bool:
    """No data: empty, or one fill byte (00, FF, or 55 as 3M ships tags) then only zeros.

    Biblio-RFID's RFID501 notes: the 3M manufacturing blank is six blocks of 55 and a
    block of 00; the generic blank is all 00.
    """
    data = mem.rstrip(b"\x00")
    return not data or (data[0] in (0xFF, 0x55) and not data.strip(data[:1]))


def _unknown(problems: list[str], reversed_blocks: bool) -> TagData:
    return TagData(format="unknown", version=None, type_of_usage=6,
                   type_of_usage_name=usage_name(6), parts_in_item=0, part_number=0,
                   primary_item_id="", country="", isil="", crc_ok=None, elements={},
                   problems=tuple(problems), detected_by="none",
                   reversed_blocks=reversed_blocks)


def decode_tag(memory: bytes, *, dsfid: int | None = None, fmt: str = "auto",
               reversed_blocks: bool | None = None, lenient: bool = False) -> TagData:
    """Decode a tag's user memory.

    Args:
        memory: the user memory image as read (any length).
        dsfid: the tag's DSFID if known (0x06 selects ISO 28560-2).
        fmt: ``auto``, ``iso28560-3``, ``iso28560-2`` or ``rfid501``.
        reversed_blocks: True/False to fix the 4-byte block order; None to detect it.
        lenient: return what decodes plus ``problems`` instead of raising.

    Returns:
        The decoded TagData (``format="unknown"`` only in lenient mode).

    Raises:
        TagFormatError: (strict mode) the data is invalid; names field and byte offset.
            Nothing else is raised.
    """
    if fmt not in FORMATS:
        raise TagFormatError(f"format {fmt!r}, expected one of {FORMATS}", "format")
    mem = bytes(memory)
    orders = (False, True) if reversed_blocks is None else (bool(reversed_blocks),)
    views = _Views(mem)

    def run(name: str, order: bool, rule: str) -> TagData:
        known = views.part2.get(order) if name == iso28560_2.FORMAT else None
        if known is not None:  # decoded strictly already: no problem in any mode
            return replace(known, detected_by=rule, reversed_blocks=order)
        return _DECODERS[name](views[order], Problems(lenient), detected_by=rule,
                               reversed_blocks=order)

    if fmt == iso28560_2.FORMAT:
        found = _part2_order(views, orders, ascii_id=False)
        return run(fmt, orders[0] if found is None else found, "format option")
    if fmt != "auto":
        for order in orders:
            if _fits(fmt, views[order]):
                return run(fmt, order, "format option")
        return run(fmt, orders[0], "format option")

    if _blank(mem):
        err = TagFormatError("blank tag: no data in user memory", "memory", 0)
        if not lenient:
            raise err
        return _unknown([str(err)], False)
    for order in orders:
        m = views[order]
        if len(m) >= 32 and (m[0] >> 4) in iso28560_3.VERSIONS and iso28560_3.crc_matches(m):
            return run(iso28560_3.FORMAT, order, "version+crc")
    if dsfid == iso28560_2.DSFID:
        found = _part2_order(views, orders, ascii_id=False)
        return run(iso28560_2.FORMAT, orders[0] if found is None else found, "dsfid")
    for order in orders:
        if rfid501.plausible(views[order]):
            return run(rfid501.FORMAT, order, "rfid501-marker")
    found = _part2_order(views, orders, ascii_id=True, not_part3=True)
    if found is not None:
        return run(iso28560_2.FORMAT, found, "oid-plausibility")
    for order in orders:
        m = views[order]
        if len(m) >= 32 and (m[0] >> 4) in iso28560_3.VERSIONS and printable(m[3:19].rstrip(b"\x00")):
            return run(iso28560_3.FORMAT, order, "version (crc failed)")
    for order in orders:
        if _looks_part3(views[order]):
            return run(iso28560_3.FORMAT, order, "basic-block layout")
    err = TagFormatError("unrecognised tag data: no ISO 28560-3 CRC, no ISO 28560-2 "
                         "objects, no RFID501 marker", "format", 0)
    if not lenient:
        raise err
    return _unknown([str(err)], False)


def encode_tag(item: ItemTagData, *, fmt: str = "iso28560-3", block_size: int = 4,
               blocks: int | None = None, version: int | None = None) -> bytes:
    """Encode an item's tag data as a user-memory image.

    Args:
        item: what to write.
        fmt: ``iso28560-3`` (default) or ``iso28560-2``; RFID501 is decode-only.
        version: the ISO 28560-3 data model version, 1 (default) or 2 (same layout, the
            version nibble differs); ISO 28560-2 has no version, so it must be None there.
        block_size: the tag's block size; the image is padded to whole blocks.
        blocks: if given, pad with 0x00 to exactly ``blocks * block_size`` bytes.

    Returns:
        The image, normal block order (reverse it with ``memory.reverse_blocks`` for readers
        that need it).

    Raises:
        TagFormatError: unknown format or version, a field that does not fit, or data
            larger than the tag.
    """
    if block_size <= 0:
        raise TagFormatError(f"block size must be positive, got {block_size}", "block_size")
    if fmt == iso28560_3.FORMAT:
        out = iso28560_3.encode(item, 1 if version is None else version)
    elif fmt == iso28560_2.FORMAT:
        if version is not None:
            raise TagFormatError(f"version {version!r} given, but {fmt} has no version; "
                                 "versions apply to iso28560-3 only", "version")
        out = iso28560_2.encode(item, block_size)
    else:
        raise TagFormatError(f"cannot encode format {fmt!r}, expected one of {ENCODE_FORMATS}",
                             "format")
    out += b"\x00" * (-len(out) % block_size)
    if blocks is not None:
        size = blocks * block_size
        if len(out) > size:
            raise TagFormatError(f"data needs {len(out)} bytes, the tag has {size}", "blocks", size)
        out += b"\x00" * (size - len(out))
    return out
