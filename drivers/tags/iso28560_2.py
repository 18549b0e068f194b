"""ISO 28560-2 codec: ISO/IEC 15962 data objects with relative OIDs and compaction. Pure.

Must not do: I/O, format detection (``drivers.tags.codec``), or DSFID handling (the DSFID is
an ISO 15693 system byte, not user memory; ``DSFID`` below is the value to write there).

One data object (the sequence ends at a 0x00 precursor or at the end of memory)::

      7     6   5   4    3  2  1  0
    +------+-----------+------------+
    |offset| compaction| rel. OID   |   precursor; OID 15 => one more byte: OID - 15
    +------+-----------+------------+
    [OID extension byte]  (relative OID 15..127: the byte holds OID - 15, 0..112)
    [offset byte]         (only with the offset flag: padding bytes AFTER the data)
    length                (1 byte; >127 as base-128 big-endian with 0x80 continuation bits)
    data ...              (compacted)
    padding ...           (``offset`` bytes of 0x00, used to align to a block boundary)

The order extension byte, then offset byte is the one DigitalPlatform dp2's ISO 28560-2
(GB/T 35660.2) reader and writer use; no public vector has both in one object. A relative
OID above 127 (extension byte above 112) raises ``UnsupportedConstruct``.

Compaction codes (ISO/IEC 15962; same numbering in the public Helmet parser and dp2): 0
application-defined, 1 integer (unsigned big-endian; the object is its decimal digit
string), 2 numeric (BCD, odd length padded with nibble 0xF), 3 5-bit (0x40..0x5F), 4 6-bit
(0x20..0x5F), 5 7-bit (US-ASCII), 6 octet (ISO/IEC 8859-1), 7 UTF-8. Bit-packed strings are
MSB first; the last byte is filled with pad bits: 5-bit ``0``s, 6-bit ``100000`` cut to
length (GB/T 35660.2-2017 worked example "ABC123456" -> ... 35 DA, pad ``10``; dp2's
"ABC1234" -> ... 3D 20, a whole pad character), 7-bit ``1``s (dp2's vectors and a vendor
tag). A trailing character that lies entirely in the pad bits and
equals the pad pattern (or is all zero: older encoders padded with zeros) is padding; the
encoder never picks a packed scheme whose result would read back differently.

Relative OIDs are the ISO 28560-1 data element numbers (1 primary item identifier ... 26
local data C); the primary item identifier must be the first object. Set information
(OID 4) is written as a numeric string: parts in item then part number, equal widths
("0302" = part 2 of 3). Type of usage (OID 5) is the ISO 28560-1 code byte, category << 4
| sub-category, written as one octet; read back from any compaction: one octet (or
application-defined byte) is the code itself, a text compaction holds the code as two hex
digits ("10", as a vendor encoder writes it in numeric compaction: ``25 01 10``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from drivers.errors import TagFormatError
from drivers.tags._report import Problems, UnsupportedConstruct
from drivers.tags.model import ItemTagData, TagData, usage_name

FORMAT = "iso28560-2"
DSFID = 0x06  # ISO/IEC 15962 access method 0 (no directory), data format 6 = ISO 28560-2

# ISO 28560-1 data elements by relative OID (cross-checked with the public Helmet parser).
ELEMENTS: dict[int, str] = {
    1: "primary_item_identifier", 2: "content_parameter", 3: "owner_institution",
    4: "set_information", 5: "type_of_usage", 6: "shelf_location", 7: "onix_media_format",
    8: "marc_media_format", 9: "supplier_identifier", 10: "order_number",
    11: "ill_borrowing_institution", 12: "ill_borrowing_transaction_number",
    13: "gs1_product_identifier", 14: "alternative_unique_item_identifier",
    15: "local_data_a", 16: "local_data_b", 17: "title", 18: "product_identifier_local",
    19: "media_format_other", 20: "supply_chain_stage", 21: "supplier_invoice_number",
    22: "alternative_item_identifier", 23: "alternative_owner_institution",
    24: "subsidiary_of_owner_institution", 25: "alternative_ill_borrowing_institution",
    26: "local_data_c",
}
OIDS: dict[str, int] = {v: k for k, v in ELEMENTS.items()}
INT_ELEMENTS = {19, 20}
ISIL_ELEMENTS = {3, 11, 23, 25}
MAX_RELATIVE_OID = 127  # one extension byte, ISO/IEC 15962 (relative OIDs 15..127)
TYPE_OF_USAGE = 5

APPLICATION, INTEGER, NUMERIC, BIT5, BIT6, BIT7, OCTET, UTF8 = range(8)
COMPACTION_NAMES = ("application-defined", "integer", "numeric", "5-bit", "6-bit", "7-bit",
                    "octet", "utf-8")
_BITS = {BIT5: 5, BIT6: 6, BIT7: 7}
# Pad bits that fill the last byte (MSB first, cut to the bits needed), and the values a
# whole trailing character of padding may have when decoding (the pattern, or all zero).
_PAD_BITS = {BIT5: "0000000", BIT6: "1000000", BIT7: "1111111"}
_PAD_VALUES = {BIT5: (0,), BIT6: (0b100000, 0), BIT7: (0x7F, 0)}

# ---- compaction ----------------------------------------------------------------------------


def _pack(values: list[int], code: int) -> bytes:
    k = _BITS[code]
    acc = 0
    for v in values:
        acc = (acc << k) | v
    nbits = len(values) * k
    nbytes = (nbits + 7) // 8
    pad = nbytes * 8 - nbits
    fill = int(_PAD_BITS[code][:pad], 2) if pad else 0
    return ((acc << pad) | fill).to_bytes(nbytes, "big")


def _unpack(data: bytes, code: int) -> list[int]:
    """The characters of a bit-packed string, pad bits and a padding character dropped."""
    k = _BITS[code]
    nbits = len(data) * 8
    acc = int.from_bytes(data, "big")
    count = nbits // k
    values = [(acc >> (nbits - (i + 1) * k)) & ((1 << k) - 1) for i in range(count)]
    # the last character is padding if the string is as long without it
    if values and values[-1] in _PAD_VALUES[code] and ((count - 1) * k + 7) // 8 == len(data):
        values.pop()
    return values


def _char_ok(code: int, c: int) -> bool:
    if code == BIT5:
        return 0x40 <= c <= 0x5F
    if code == BIT6:
        return 0x20 <= c <= 0x5F
    return 0x01 <= c <= 0x7F


def numeric(digits: str) -> bytes:
    """Numeric compaction: BCD, an odd count padded with the nibble 0xF."""
    nibbles = [int(c) for c in digits] + ([0xF] if len(digits) % 2 else [])
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def compact_as(text: str, code: int) -> bytes | None:
    """``text`` in compaction ``code`` (1..7), or None if that scheme cannot hold it exactly.

    Integer takes decimal digits without a leading zero ("0" itself is fine); numeric any
    digits; 5-bit 0x40..0x5F, 6-bit 0x20..0x5F, 7-bit 0x01..0x7F (and not a last character
    that would read back as padding); octet Latin-1; UTF-8 anything without surrogates.
    """
    digits = text.isascii() and text.isdigit()
    if code == INTEGER:
        if not digits or (text[0] == "0" and text != "0"):
            return None
        n = int(text)
        return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    if code == NUMERIC:
        return numeric(text) if digits else None
    if code in _BITS:
        raw = text.encode("ascii", "replace") if text.isascii() else b""
        if not raw or not all(_char_ok(code, c) for c in raw):
            return None
        values = [c & ((1 << _BITS[code]) - 1) for c in raw]
        packed = _pack(values, code)
        if values[-1] in _PAD_VALUES[code] and _unpack(packed, code) != values:
            return None  # the last character would read back as padding
        return packed
    if code == OCTET:
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            return None
    if code == UTF8:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return None


def compact(text: str) -> tuple[int, bytes]:
    """Choose the shortest compaction for ``text`` (ties: the lower code) and apply it.

    UTF-8 is only used when octet (Latin-1) cannot hold the text.
    """
    best: tuple[int, bytes] | None = None
    for code in (INTEGER, NUMERIC, BIT5, BIT6, BIT7, OCTET):
        data = compact_as(text, code)
        if data is not None and (best is None or len(data) < len(best[1])):
            best = (code, data)
    if best is None:
        data = compact_as(text, UTF8)
        if data is None:
            raise TagFormatError(f"text {text!r} cannot be encoded (not valid Unicode)", "text")
        best = (UTF8, data)
    return best


def expand(code: int, data: bytes, field: str, base: int, rep: Problems) -> str | None:
    """Decode compacted text; None for application-defined data (caller decides)."""
    if code == INTEGER:
        return str(int.from_bytes(data, "big"))
    if code == NUMERIC:
        out = []
        for i, b in enumerate(data):
            for j, nib in enumerate((b >> 4, b & 0x0F)):
                if nib <= 9:
                    out.append(chr(0x30 + nib))
                elif not (nib == 0xF and j == 1 and i == len(data) - 1):
                    rep.add(f"numeric nibble 0x{nib:X} is not a digit", field, base + i)
                    return "".join(out)
        return "".join(out)
    if code in _BITS:
        vals = _unpack(data, code)
        if code == BIT5:
            return "".join(chr(0x40 | v) for v in vals)
        if code == BIT6:
            return "".join(chr(v + 0x40 if v < 0x20 else v) for v in vals)
        if 0 in vals:
            rep.add("7-bit text contains NUL", field, base)
        return "".join(chr(v) for v in vals)
    if code == OCTET:
        return data.decode("latin-1")
    if code == UTF8:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            rep.add(f"invalid UTF-8 at data byte {exc.start}", field, base + exc.start)
            return data.decode("utf-8", "replace")
    return None


# ISIL application-defined compaction (ISO 28560-2 annex; tables as in the Helmet parser):
# 5-bit upper/lower case sets with latch/shift codes and a 4-bit numeric set.
_U = "-ABCDEFGHIJKLMNOPQRSTUVWXYZ:"
_L = "-abcdefghijklmnopqrstuvwxyz/"
_N = "0123456789-:"


def expand_isil(data: bytes) -> str:
    """Decode the latch/shift ISIL compaction used for owner institution (OID 3)."""
    bits = "".join(f"{b:08b}" for b in data)
    out: list[str] = []
    latch, shift = "U", None
    pos = 0
    while True:
        mode = shift or latch
        shift = None
        k = 4 if mode == "N" else 5
        if pos + k > len(bits):
            break
        v = int(bits[pos:pos + k], 2)
        pos += k
        table = {"U": _U, "L": _L, "N": _N}[mode]
        if v < len(table):
            out.append(table[v])
            continue
        # control codes: U/L sets 28..31, numeric set 12..15
        ctl = v - len(table)
        targets = (("L", "L", "N", "N") if mode == "U" else
                   ("U", "U", "N", "N") if mode == "L" else ("U", "U", "L", "L"))
        if ctl % 2 == 0:
            latch = targets[ctl]
        else:
            shift = targets[ctl]
    return "".join(out)


# ---- data objects --------------------------------------------------------------------------


def _length_bytes(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    groups = []
    while n:
        groups.append(n & 0x7F)
        n >>= 7
    groups.reverse()
    return bytes([0x80 | g for g in groups[:-1]] + [groups[-1]])


def data_object(oid: int, code: int, data: bytes, pad: int = 0) -> bytes:
    """One encoded data object: precursor, [OID ext], [offset], length, data, padding."""
    if not 1 <= oid <= MAX_RELATIVE_OID:
        raise TagFormatError(f"relative OID {oid} out of range 1..{MAX_RELATIVE_OID}", "oid")
    if not 0 <= code <= 7:  # 3 bits: a larger code would spill into the offset flag
        raise TagFormatError(f"compaction code {code} out of range 0..7", "compaction")
    rel = min(oid, 15)
    out = bytearray(((0x80 if pad else 0) | (code << 4) | rel,))
    if rel == 15:
        out.append(oid - 15)
    if pad:
        if pad > 255:
            raise TagFormatError(f"padding {pad} exceeds 255", "offset")
        out.append(pad)
    out += _length_bytes(len(data))
    out += data
    out += b"\x00" * pad
    return bytes(out)


def _encode_value(oid: int, value: Any) -> tuple[int, bytes]:
    name = ELEMENTS.get(oid, f"oid_{oid}")
    if oid == 2:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and 3 <= v <= 34
                                                           for v in value):
            raise TagFormatError("content_parameter must be a list of OIDs 3..34", name)
        mask = 0
        for v in value:
            mask |= 1 << (31 - (v - 3))
        return APPLICATION, mask.to_bytes(4, "big").rstrip(b"\x00") or b"\x00"
    if oid in INT_ELEMENTS:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
            raise TagFormatError(f"{name} must be an int 0..255", name)
        return INTEGER, bytes((value,))
    if isinstance(value, dict) and "hex" in value:  # raw object kept from a decode
        code = value.get("compaction_code", APPLICATION)
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 7:
            raise TagFormatError(f"{name}: compaction_code {code!r} is not a compaction "
                                 "scheme; expected an int 0..7", name)
        try:
            return code, bytes.fromhex(value["hex"])
        except (TypeError, ValueError) as exc:
            raise TagFormatError(f"{name}: raw value 'hex' is not hexadecimal", name) from exc
    if not isinstance(value, str) or not value:
        raise TagFormatError(f"{name} must be a non-empty string", name)
    if "\x00" in value:
        raise TagFormatError(f"{name} must not contain NUL", name)
    return compact(value)


def encode(item: ItemTagData, block_size: int = 4) -> bytes:
    """Encode an item as ISO 28560-2 data objects (primary item id first).

    The last object is padded (offset byte) so the data ends on a block boundary.

    Raises:
        TagFormatError: an element is unknown or has the wrong type, or a field is invalid.
    """
    if not item.primary_item_id:
        raise TagFormatError("primary item id is empty", "primary_item_id", 0)
    if not 1 <= item.parts_in_item <= 255 or not 1 <= item.part_number <= item.parts_in_item:
        raise TagFormatError(f"part {item.part_number} of {item.parts_in_item} is impossible",
                             "set_information")
    if not 0 <= item.type_of_usage <= 15 or not 0 <= item.usage_qualifier <= 15:
        raise TagFormatError("type of usage and qualifier must be 0..15", "type_of_usage")
    objects: list[tuple[int, int, bytes]] = [(1, *_encode_value(1, item.primary_item_id))]
    isil = item.full_isil
    if isil:
        objects.append((3, *_encode_value(3, isil)))
    if item.parts_in_item > 1:
        width = max(2, len(str(item.parts_in_item)))
        objects.append((4, NUMERIC, numeric(f"{item.parts_in_item:0{width}d}"
                                            f"{item.part_number:0{width}d}")))
    objects.append((5, OCTET, bytes(((item.type_of_usage << 4) | item.usage_qualifier,))))
    for name, value in item.elements.items():
        if name.startswith("oid_") and name[4:].isdigit():
            oid = int(name[4:])
        elif name in OIDS:
            oid = OIDS[name]
        else:
            raise TagFormatError(f"unknown ISO 28560-1 element {name!r}", name)
        if oid in (1, 3, 4, 5):
            raise TagFormatError(f"{name} comes from the ItemTagData fields, not elements", name)
        objects.append((oid, *_encode_value(oid, value)))
    out = bytearray()
    for i, (oid, code, data) in enumerate(objects):
        obj = data_object(oid, code, data)
        if i == len(objects) - 1 and block_size > 1:
            rem = (len(out) + len(obj)) % block_size
            if rem:
                pad = block_size - rem
                # the offset byte itself takes one byte: recompute until aligned
                while (len(out) + len(data_object(oid, code, data, pad))) % block_size:
                    pad += 1
                obj = data_object(oid, code, data, pad)
        out += obj
    return bytes(out)


@dataclass(frozen=True, slots=True)
class _Object:
    """One framed data object: where it starts, its OID, compaction, data and padding."""

    start: int
    oid: int
    code: int
    pos: int  # offset of the data
    data: bytes
    pad: int


@dataclass(frozen=True, slots=True)
class _Fault:
    """Why the objects stop framing at ``offset`` (``error`` is the exception class)."""

    message: str
    field: str
    offset: int
    error: type[TagFormatError] = TagFormatError


def _objects(mem: bytes) -> Iterator[_Object | _Fault]:
    """The data objects in order; a ``_Fault`` ends the sequence where they stop framing.

    A padding that runs past the end is yielded as a fault too, but the object before it
    (its data is complete) is still yielded and the sequence ends there.
    """
    pos, end = 0, len(mem)
    while pos < end and mem[pos]:
        start, p = pos, mem[pos]
        pos += 1
        code, oid = (p >> 4) & 7, p & 0x0F
        if oid == 0:
            yield _Fault(f"precursor 0x{p:02X} has relative OID 0, which ISO 28560-2 does not "
                         "define", "oid", start)
            return
        if oid == 15:
            if pos >= end:
                yield _Fault("OID extension byte missing", "oid", start)
                return
            if mem[pos] > MAX_RELATIVE_OID - 15:
                yield _Fault(f"relative OID {15 + mem[pos]} (extension byte 0x{mem[pos]:02X}) "
                             f"is above {MAX_RELATIVE_OID}: not supported", "oid", pos,
                             UnsupportedConstruct)
                return
            oid = 15 + mem[pos]
            pos += 1
        name = ELEMENTS.get(oid, f"oid_{oid}")
        pad = 0
        if p & 0x80:
            if pos >= end:
                yield _Fault("offset byte missing", name, start)
                return
            pad = mem[pos]
            pos += 1
        length = 0
        for _ in range(4):
            if pos >= end:
                yield _Fault("length byte missing", name, pos)
                return
            b = mem[pos]
            pos += 1
            length = (length << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        else:
            yield _Fault("length longer than 4 bytes", name, pos, UnsupportedConstruct)
            return
        if pos + length > end:
            yield _Fault(f"{name} of {length} bytes runs past the end ({end} bytes)", name, pos)
            return
        yield _Object(start, oid, code, pos, mem[pos:pos + length], pad)
        if pos + length + pad > end:
            yield _Fault(f"{name} padding of {pad} bytes runs past the end", name, pos + length)
            return
        pos += length + pad


def starts_like_part2(mem: bytes) -> bool:
    """The memory starts like ISO 28560-2: a precursor of relative OID 1 (the primary item
    identifier, which must come first) whose object frames (its length, data and padding
    fit) and holds text (a compaction other than application-defined that decodes).
    Says nothing about the objects after it."""
    if not mem or mem[0] & 0x0F != 1:
        return False
    first = next(_objects(mem))
    if not isinstance(first, _Object) or first.code == APPLICATION:
        return False
    if first.pos + len(first.data) + first.pad > len(mem):
        return False
    try:
        expand(first.code, first.data, ELEMENTS[1], first.pos, Problems(False))
    except TagFormatError:
        return False
    return True


def decode(mem: bytes, rep: Problems, *, detected_by: str = "", reversed_blocks: bool = False) -> TagData:
    """Decode ISO 28560-2 data objects.

    An empty primary item identifier is a warning (``problems`` and ``warnings``), never
    raised.

    Raises:
        UnsupportedConstruct: (strict) a construct not decoded here (relative OID > 127,
            a length of more than 4 bytes).
        TagFormatError: (strict) truncated objects, primary item id missing or not first,
            duplicate objects, bad compacted data; names the element and byte offset.
    """
    values: dict[int, Any] = {}
    first = True
    for obj in _objects(mem):
        if isinstance(obj, _Fault):
            rep.add(obj.message, obj.field, obj.offset, obj.error)
            break
        name = ELEMENTS.get(obj.oid, f"oid_{obj.oid}")
        if first and obj.oid != 1:
            rep.add(f"first data object is {name}, expected primary_item_identifier", name,
                    obj.start)
        first = False
        if obj.oid in values:
            rep.add(f"{name} appears twice", name, obj.start)
        else:
            values[obj.oid] = _decode_value(obj.oid, obj.code, obj.data, obj.pos, rep)
    return _result(values, rep, detected_by, reversed_blocks)


def object_count(mem: bytes) -> int:
    """How many data objects frame before the terminator (or the first fault)."""
    return sum(1 for o in _objects(mem) if isinstance(o, _Object))


def clean_tail(mem: bytes) -> bool:
    """True if the memory after the data objects is all 0x00 (as encoders leave it)."""
    end = 0
    for obj in _objects(mem):
        if isinstance(obj, _Fault):
            return False
        end = obj.pos + len(obj.data) + obj.pad
    return not mem[end:].strip(b"\x00")


def _usage_code(code: int, data: bytes, base: int, rep: Problems) -> int | None:
    """The type-of-usage byte from any compaction (None after a reported problem)."""
    name = ELEMENTS[TYPE_OF_USAGE]
    if code in (APPLICATION, OCTET):
        if len(data) == 1:
            return data[0]
        rep.add(f"{name} must be one byte, got {len(data)} (compaction "
                f"{COMPACTION_NAMES[code]})", name, base)
        return None
    text = expand(code, data, name, base, rep) or ""
    if 1 <= len(text) <= 2 and all(c in "0123456789ABCDEFabcdef" for c in text):
        return int(text, 16)  # the code as hex digits, "10" = 0x10
    rep.add(f"{name} {text!r} ({COMPACTION_NAMES[code]}) is not a code of two hex digits",
            name, base)
    return None


def _decode_value(oid: int, code: int, data: bytes, base: int, rep: Problems) -> Any:
    name = ELEMENTS.get(oid, f"oid_{oid}")
    if oid == 2 and code in (APPLICATION, OCTET):
        mask = int.from_bytes(data[:4].ljust(4, b"\x00"), "big")
        return [3 + i for i in range(32) if mask & (1 << (31 - i))]
    if oid == TYPE_OF_USAGE:
        return _usage_code(code, data, base, rep)
    if oid in INT_ELEMENTS:
        if code in (INTEGER, OCTET, APPLICATION) and len(data) == 1:
            return data[0]
        if code == INTEGER and 1 <= len(data) <= 8:
            return int.from_bytes(data, "big")
        text = expand(code, data, name, base, rep) if code != OCTET else None
        if text is not None and text.isascii() and text.isdigit() and int(text) <= 255:
            return int(text)  # a text compaction of the number ("2" in numeric)
        rep.add(f"{name} must be one byte, got {len(data)} (compaction {COMPACTION_NAMES[code]})",
                name, base)
        return data[0] if data else 0
    if code == APPLICATION:
        if oid in ISIL_ELEMENTS:
            return expand_isil(data)
        return {"compaction": COMPACTION_NAMES[code], "compaction_code": code, "hex": data.hex()}
    text = expand(code, data, name, base, rep)
    return text if text is not None else ""


def _result(values: dict[int, Any], rep: Problems, detected_by: str, reversed_blocks: bool) -> TagData:
    item = values.pop(1, None)
    if item is None:
        rep.add("primary item identifier missing", "primary_item_identifier", 0)
        item = ""
    elif not isinstance(item, str):
        rep.add("primary item identifier is not text", "primary_item_identifier", 0)
        item = ""
    elif not item:  # a blank tag: decoded, with a warning
        rep.warn("primary item identifier is empty (a blank tag)", "primary_item_identifier", 0)
    parts, part = 1, 1
    setinfo = values.pop(4, None)
    if setinfo is not None:
        s = setinfo if isinstance(setinfo, str) else ""
        if len(s) < 2 or len(s) % 2 or not s.isdigit():
            rep.add(f"set information {setinfo!r} is not two equal-width numbers",
                    "set_information", None)
        else:
            h = len(s) // 2
            parts, part = int(s[:h]), int(s[h:])
            if parts == 0 or part == 0 or part > parts:
                rep.add(f"part number {part} impossible for {parts} parts", "set_information", None)
    tou, qual = 6, 0
    usage = values.pop(TYPE_OF_USAGE, None)
    if isinstance(usage, int):
        tou, qual = (usage >> 4) & 0x0F, usage & 0x0F
    isil = values.pop(3, None)
    isil = isil if isinstance(isil, str) else ""
    country = isil.partition("-")[0] if "-" in isil else ""
    elements = {ELEMENTS.get(k, f"oid_{k}"): v for k, v in values.items()}
    return TagData(format=FORMAT, version=None, type_of_usage=tou,
                   type_of_usage_name=usage_name(tou, qual), parts_in_item=parts,
                   part_number=part, primary_item_id=item, country=country, isil=isil,
                   crc_ok=None, elements=elements, problems=tuple(rep.items),
                   detected_by=detected_by, reversed_blocks=reversed_blocks,
                   usage_qualifier=qual, warnings=tuple(rep.warnings))
