"""ISO/TS 28560-4 codec: UHF (ISO/IEC 18000-63, EPC Gen2) library tags. Pure, sans-IO.

Must not do: I/O or reader commands. The StoredCRC (word 0 of the EPC bank) is not part of
the banks given here -- the tag computes it; ``stored_crc`` says what it will be, for
simulators and checks. The data objects of the user memory are ISO/IEC 15962 objects
framed and decoded by ``drivers.tags.iso28560_2`` (compaction, OID extension, offset/pad
bytes): this module reuses that code and never re-implements it. Sources per fact are in
docs/tags.md ("UHF tags").

EPC bank (MB01) as this module sees it: word 1 on, without the StoredCRC::

    byte 0: L4 L3 L2 L1 L0 UMI XI T     L = UII length in 16-bit words (0..31)
    byte 1: AFI when T=1 (ISO UII)       attribute bits when T=0 (a GS1 EPC)
    byte 2..: the UII, L words

The UII (T=1) is the text ``OWNER.ITEM-ID`` (or just ``ITEM-ID``) in URN Code 40:
three characters of ``A-Z - . : 0-9`` (values 1..39, 0 = no character) per 16-bit word,
``1600*c1 + 40*c2 + c3 + 1`` big-endian (at most 0xFA00); a first byte 0xFB starts a long
numeric string (``FB``, ``(digits-9) << 4 | (bytes-4)``, the number big-endian), 0xFC one
ISO 646 byte, 0xFD a 2-byte and 0xFE a 3-byte UTF-8 character. The UII is padded with 0x00
to whole words.

User memory (MB11): DSFID 0x06 (access method 0 "no directory", data format 6), then
ISO/IEC 15962 data objects as in ISO 28560-2 -- a content parameter (OID 2) listing the
elements, then the elements -- ending at a 0x00 byte or the end of memory. The primary
item identifier is in the UII, not here.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Any

from drivers.errors import TagFormatError
from drivers.tags import iso28560_2 as part2
from drivers.tags._report import Problems, UnsupportedConstruct
from drivers.tags.model import TagData, usage_name

FORMAT = "iso28560-4"
DSFID = 0x06  # ISO/IEC 15962 access method 0 (no directory), data format 6 (ISO 28560)
AFI_SECURED = 0x07   # in stock: the gate alarms (as for ISO 15693 tags)
AFI_RELEASED = 0xC2  # on loan
LIBRARY_AFIS = (AFI_SECURED, AFI_RELEASED)
MAX_UII_WORDS = 31  # the PC word's 5-bit length field

# PC word, first byte (bits 0x10..0x17 of the EPC bank, MSB first)
_UMI, _XI, _TOGGLE = 0x04, 0x02, 0x01

# ---- URN Code 40 ---------------------------------------------------------------------------

_URN40 = "\x00ABCDEFGHIJKLMNOPQRSTUVWXYZ-.:0123456789"  # index = code value, 0 = no character
_URN40_CODE = {c: i for i, c in enumerate(_URN40) if i}
_URN40_MAX = 1600 * 39 + 40 * 39 + 39 + 1  # 0xFA00
LONG_NUMERIC, ISO646, UTF8_2, UTF8_3 = 0xFB, 0xFC, 0xFD, 0xFE
_UTF8_ESCAPES = {2: UTF8_2, 3: UTF8_3}
_LONG_MIN_DIGITS, _LONG_MAX_DIGITS = 9, 24  # the digit-count nibble: 9 + 0..15


def _table_words(codes: list[int]) -> bytes:
    codes = codes + [0] * (-len(codes) % 3)
    return b"".join((1600 * codes[i] + 40 * codes[i + 1] + codes[i + 2] + 1).to_bytes(2, "big")
                    for i in range(0, len(codes), 3))


def _long_numeric(digits: str) -> bytes:
    number = int(digits)
    body = number.to_bytes(max(4, (number.bit_length() + 7) // 8), "big")
    return bytes((LONG_NUMERIC, ((len(digits) - _LONG_MIN_DIGITS) << 4) | (len(body) - 4))) + body


def _segments(text: str) -> list[tuple[str, str]]:
    """Split UII text into ``("table", s)``, ``("digits", s)`` and ``("escape", c)`` parts.

    A run of at least 9 digits that does not start with ``0`` (as many as 24 at a time) is
    a long numeric string; leading zeros and shorter runs stay in the table.
    """
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c not in _URN40_CODE:
            out.append(("escape", c))
            i += 1
            continue
        j = i
        while j < len(text) and text[j].isascii() and text[j].isdigit():
            j += 1
        if c != "0" and j - i >= _LONG_MIN_DIGITS:
            end = min(j, i + _LONG_MAX_DIGITS)
            out.append(("digits", text[i:end]))
            i = end
            continue
        if c == "0":  # leading zeros stay in the table; the digits after them may not
            run_end = i + len(text[i:j]) - len(text[i:j].lstrip("0"))
        else:
            run_end = max(j, i + 1)
        if out and out[-1][0] == "table":
            out[-1] = ("table", out[-1][1] + text[i:run_end])
        else:
            out.append(("table", text[i:run_end]))
        i = run_end
    return out


def encode_uii(text: str) -> bytes:
    """The UII text in URN Code 40 with its escapes, padded with 0x00 to whole words.

    Raises:
        TagFormatError: a non-printable character, or one that needs 4 UTF-8 bytes (no
            escape exists for it).
    """
    bad = next((c for c in text if not c.isprintable()), None)
    if bad is not None:
        raise TagFormatError(f"UII text has the non-printable character {bad!r}", "uii",
                             text.index(bad))
    out = bytearray()
    for kind, part in _segments(text):
        if kind == "table":
            out += _table_words([_URN40_CODE[c] for c in part])
        elif kind == "digits":
            out += _long_numeric(part)
        else:
            raw = part.encode("utf-8", "surrogatepass")
            if len(raw) == 1:
                out += bytes((ISO646,)) + raw
            elif len(raw) in _UTF8_ESCAPES and part.encode("utf-8", "replace") == raw:
                out += bytes((_UTF8_ESCAPES[len(raw)],)) + raw
            else:
                raise TagFormatError(f"character {part!r} has no URN Code 40 escape (only "
                                     "1-3 byte UTF-8 characters)", "uii")
    out += b"\x00" * (len(out) % 2)
    return bytes(out)


def decode_uii(data: bytes, rep: Problems, base: int = 2) -> str:
    """URN Code 40 text; trailing 0x00 bytes are word padding. ``base`` = offset in the bank."""
    end = len(data.rstrip(b"\x00"))
    out: list[str] = []
    pos = 0
    while pos < end:
        b, at = data[pos], base + pos
        if b == LONG_NUMERIC:
            if pos + 2 > len(data):
                rep.add("long numeric string header cut off", "uii", at)
                break
            digits, size = (data[pos + 1] >> 4) + _LONG_MIN_DIGITS, (data[pos + 1] & 0x0F) + 4
            if pos + 2 + size > len(data):
                rep.add(f"long numeric string of {size} bytes runs past the UII", "uii", at)
                break
            text = str(int.from_bytes(data[pos + 2:pos + 2 + size], "big"))
            if len(text) > digits:
                rep.add(f"long numeric string {text} has more than its {digits} digits", "uii", at)
            out.append(text.rjust(digits, "0"))
            pos += 2 + size
        elif b == ISO646:
            if pos + 2 > len(data) or not 0x20 <= data[pos + 1] <= 0x7E:
                rep.add("ISO 646 escape without a printable 7-bit character", "uii", at)
                break
            out.append(chr(data[pos + 1]))
            pos += 2
        elif b in (UTF8_2, UTF8_3):
            size = 2 if b == UTF8_2 else 3
            raw = data[pos + 1:pos + 1 + size]
            try:
                ch = raw.decode("utf-8")
            except UnicodeDecodeError:
                ch = ""
            if len(raw) != size or len(ch) != 1:
                rep.add(f"escape 0x{b:02X} is not followed by a {size}-byte UTF-8 character",
                        "uii", at)
                break
            out.append(ch)
            pos += 1 + size
        elif b == 0xFF:
            rep.add("escape 0xFF is reserved in URN Code 40", "uii", at, UnsupportedConstruct)
            break
        else:
            if pos + 2 > len(data):
                rep.add("URN Code 40 word cut off", "uii", at)
                break
            value = int.from_bytes(data[pos:pos + 2], "big")
            if not 1 <= value <= _URN40_MAX:
                rep.add(f"URN Code 40 word 0x{value:04X} is outside 0x0001..0xFA00", "uii", at)
                break
            value -= 1
            codes = (value // 1600, value // 40 % 40, value % 40)
            if not codes[0] or (0 in codes and any(codes[codes.index(0):])):
                rep.add(f"URN Code 40 word 0x{value + 1:04X} starts with no character or "
                        "has one after an empty one", "uii", at)
            out.extend(_URN40[c] for c in codes if c)
            pos += 2
    return "".join(out)


# ---- PC word -------------------------------------------------------------------------------


def _check_pc(epc: bytes) -> None:
    if len(epc) < 2:
        raise TagFormatError(f"the EPC bank needs the 2-byte PC word, got {len(epc)} bytes",
                             "pc", 0)


def pc_afi(epc: bytes) -> int | None:
    """The AFI from the PC word; None when the toggle bit is 0 (a GS1 EPC, no AFI).

    Raises:
        TagFormatError: fewer than 2 bytes (no PC word).
    """
    _check_pc(epc)
    return epc[1] if epc[0] & _TOGGLE else None


def with_afi(epc: bytes, afi: int) -> bytes:
    """The same EPC bank (from word 1) with the PC word's AFI set to ``afi``.

    Raises:
        TagFormatError: no PC word, AFI outside 0..255, or toggle bit 0 (then the low byte
            holds the EPC attribute bits, not an AFI).
    """
    _check_pc(epc)
    if isinstance(afi, bool) or not isinstance(afi, int) or not 0 <= afi <= 0xFF:
        raise TagFormatError(f"AFI must be 0..255, got {afi!r}", "afi")
    if not epc[0] & _TOGGLE:
        raise TagFormatError("toggle bit is 0: the PC word holds EPC attribute bits, not an "
                             "AFI", "pc.toggle", 0)
    return bytes((epc[0], afi)) + bytes(epc[2:])


def pc_word(length_words: int, *, umi: bool, afi: int, xi: bool = False) -> bytes:
    """A PC word with the toggle bit set (an ISO UII) and ``afi`` in its low byte."""
    if not 0 <= length_words <= MAX_UII_WORDS:
        raise TagFormatError(f"UII of {length_words} words; the PC word holds at most "
                             f"{MAX_UII_WORDS}", "pc.length", 0)
    return bytes(((length_words << 3) | (_UMI if umi else 0) | (_XI if xi else 0) | _TOGGLE,
                  afi))


def stored_crc(epc: bytes) -> int:
    """The StoredCRC (EPC bank word 0) a Gen2 tag computes over the PC word and the UII.

    CRC-16 of ISO/IEC 13239 as Gen2 uses it: polynomial 0x1021, preset 0xFFFF, MSB first,
    ones' complement (catalogue name CRC-16/GENIBUS, check 0xD64E). ``epc`` is the bank from
    word 1; only the PC word and the L words it announces are covered.

    Raises:
        TagFormatError: no PC word, or fewer UII words than the PC word announces.
    """
    _check_pc(epc)
    covered = 2 + 2 * (epc[0] >> 3)
    if len(epc) < covered:
        raise TagFormatError(f"the PC word announces {epc[0] >> 3} UII words, "
                             f"{len(epc) - 2} bytes follow", "uii", len(epc))
    return binascii.crc_hqx(bytes(epc[:covered]), 0xFFFF) ^ 0xFFFF


# ---- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UhfMemory:
    """What to write: ``epc`` from word 1 (PC word + UII words, no StoredCRC), ``user`` the
    user memory bank (b"" when there is none)."""

    epc: bytes
    user: bytes


@dataclass(frozen=True)
class UhfTagData:
    """A decoded UHF library tag.

    ``afi`` is the PC word's AFI (None when ``toggle`` is False: a GS1 EPC, whose low PC
    byte is ``attribute_bits``); ``uii`` the whole UII text, split into ``owner_library``
    (the ISIL before the first ``.``, or the user memory's owner institution) and
    ``primary_item_id``; ``set_info`` is (parts in item, part number) when stored;
    ``type_of_usage_code`` the whole ISO 28560-1 byte when stored (``type_of_usage`` and
    ``usage_qualifier`` its nibbles, 6 "no information" when absent); ``elements`` the other
    user-memory elements by name; ``problems`` what a lenient decode found wrong plus the
    ``warnings`` (listed in strict mode too, never raised).
    """

    primary_item_id: str
    owner_library: str
    afi: int | None
    toggle: bool
    umi: bool
    xi: bool
    length_words: int
    uii: str
    type_of_usage_code: int | None
    set_info: tuple[int, int] | None
    elements: dict[str, Any] = field(default_factory=dict)
    dsfid: int | None = None
    attribute_bits: int | None = None
    epc_hex: str = ""
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    format: str = FORMAT

    def __hash__(self) -> int:
        return hash((self.uii, self.afi, self.toggle, self.epc_hex))

    @property
    def type_of_usage(self) -> int:
        """Main category (high nibble); 6 "no information" when not stored."""
        return 6 if self.type_of_usage_code is None else self.type_of_usage_code >> 4

    @property
    def usage_qualifier(self) -> int:
        return 0 if self.type_of_usage_code is None else self.type_of_usage_code & 0x0F

    @property
    def type_of_usage_name(self) -> str:
        return usage_name(self.type_of_usage, self.usage_qualifier)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_tag_data(self) -> TagData:
        """The same data as the HF formats' ``TagData`` (what kiosks and gates consume):
        ``isil`` is the owner library, set information (1, 1) when not stored."""
        parts, part = self.set_info or (1, 1)
        owner = self.owner_library
        return TagData(format=self.format, version=None, type_of_usage=self.type_of_usage,
                       type_of_usage_name=self.type_of_usage_name, parts_in_item=parts,
                       part_number=part, primary_item_id=self.primary_item_id,
                       country=owner.partition("-")[0] if "-" in owner else "", isil=owner,
                       crc_ok=None, elements=dict(self.elements), problems=self.problems,
                       detected_by="format option", usage_qualifier=self.usage_qualifier,
                       warnings=self.warnings)

    def to_json_dict(self) -> dict[str, Any]:
        """The keys of the other formats (``model.JSON_KEYS``; ``type_of_usage_code`` null
        when the tag stores none), then the UHF ones."""
        out = self.to_tag_data().to_json_dict()
        out["type_of_usage_code"] = self.type_of_usage_code
        out.update(afi=self.afi, toggle=self.toggle, umi=self.umi, xi=self.xi,
                   length_words=self.length_words, uii=self.uii, dsfid=self.dsfid,
                   attribute_bits=self.attribute_bits, epc_hex=self.epc_hex)
        return out


# ---- encode --------------------------------------------------------------------------------


def _split_uii(uii: str) -> tuple[str, str]:
    """(owner, item id): the text before the first ``.`` is the owner library (an ISIL, or
    a local library code as Chinese tags carry), the rest the item id; no ``.``: no owner.
    The rule dp2 reads by, also for an item id that itself holds a ``.``."""
    owner, dot, item = uii.partition(".")
    return (owner, item) if dot else ("", uii)


def _user_objects(set_info: tuple[int, int] | None, type_of_usage: int | None,
                  others: dict[str, str]) -> list[tuple[int, int, bytes]]:
    objects: list[tuple[int, int, bytes]] = []
    if set_info is not None:
        parts, part = set_info
        if not 1 <= parts <= 255 or not 1 <= part <= parts:
            raise TagFormatError(f"part {part} of {parts} is impossible", "set_information")
        width = max(2, len(str(parts)))
        objects.append((4, *part2.compact(f"{parts:0{width}d}{part:0{width}d}")))
    if type_of_usage is not None:
        if isinstance(type_of_usage, bool) or not 0 <= type_of_usage <= 0xFF:
            raise TagFormatError(f"type of usage code must be 0..255, got {type_of_usage!r}",
                                 "type_of_usage")
        objects.append((part2.TYPE_OF_USAGE, part2.OCTET, bytes((type_of_usage,))))
    for name, value in others.items():
        oid = part2.OIDS.get(name)
        if oid is None and name.startswith("oid_") and name[4:].isdigit():
            oid = int(name[4:])
        if oid is None:
            raise TagFormatError(f"unknown ISO 28560-1 element {name!r}", name)
        if oid in (1, 2, 4, 5):
            raise TagFormatError(f"{name} is not given as an element here (the item id goes "
                                 "in the UII, the content parameter is computed)", name)
        given: Any = value
        if oid in part2.INT_ELEMENTS and isinstance(value, str) and value.isdigit():
            given = int(value)
        objects.append((oid, *part2._encode_value(oid, given)))
    return objects


def encode_uhf(item_id: str, *, owner_library: str | None = None, afi: int = AFI_SECURED,
               set_info: tuple[int, int] | None = None, type_of_usage: int | None = None,
               **others: str) -> UhfMemory:
    """Encode an item as ISO/TS 28560-4: the UII (with the AFI) and the user memory.

    Args:
        item_id: the primary item identifier.
        owner_library: the owner's ISIL (``"VN-HN0001"``); written into the UII as
            ``ISIL.ITEM``. Or give ``owner_institution=`` to store it in user memory.
        afi: the PC word's AFI (0x07 in stock/secured, 0xC2 on loan).
        set_info: (parts in item, part number).
        type_of_usage: the whole ISO 28560-1 code byte (0x10 circulating item).
        others: other ISO 28560-1 elements by name (``shelf_location="QA268.L55"``).

    Returns:
        ``UhfMemory``: the PC word + UII words (UMI set when there is user data), and the
        user memory (DSFID, content parameter, elements, a 0x00 terminator, padded to a
        whole word) or b"".

    Raises:
        TagFormatError: an empty item id, an owner with a ``.``, an item id with a ``.``
            but no owner (it would read back as owner + item), a UII longer than 31 words,
            an AFI outside 0..255, or an invalid element.
    """
    if not item_id:
        raise TagFormatError("primary item id is empty", "primary_item_id", 0)
    if isinstance(afi, bool) or not isinstance(afi, int) or not 0 <= afi <= 0xFF:
        raise TagFormatError(f"AFI must be 0..255, got {afi!r}", "afi")
    if owner_library:
        if "." in owner_library:
            raise TagFormatError(f"owner library {owner_library!r} must not contain '.' (the "
                                 "UII's owner/item separator)", "owner_library")
        if "owner_institution" in others:
            raise TagFormatError("owner given twice (owner_library and owner_institution)",
                                 "owner_institution")
        uii = f"{owner_library}.{item_id}"
    else:
        uii = item_id
    if _split_uii(uii) != (owner_library or "", item_id):
        raise TagFormatError(f"item id {item_id!r} holds a '.': without an owner library it "
                             "would read back as OWNER.ITEM", "primary_item_id")
    uii_bytes = encode_uii(uii)
    objects = _user_objects(set_info, type_of_usage, others)
    user = b""
    if objects:
        listed = sorted({oid for oid, _, _ in objects if 3 <= oid <= 34})
        body = bytearray((DSFID,))
        if listed:
            body += part2.data_object(2, *part2._encode_value(2, listed))
        for oid, code, data in objects:
            body += part2.data_object(oid, code, data)
        body += b"\x00"  # terminator, then pad to a whole word
        body += b"\x00" * (len(body) % 2)
        user = bytes(body)
    epc = pc_word(len(uii_bytes) // 2, umi=bool(user), afi=afi) + uii_bytes
    return UhfMemory(epc=epc, user=user)


# ---- decode --------------------------------------------------------------------------------


def _decode_user(user: bytes, rep: Problems) -> tuple[int | None, dict[int, Any]]:
    """DSFID and the elements by relative OID (offsets in messages count from the DSFID)."""
    if not user.strip(b"\x00"):
        return (user[0] if user else None), {}
    dsfid = user[0]
    if dsfid != DSFID:
        rep.add(f"DSFID 0x{dsfid:02X} is not supported; ISO/TS 28560-4 user memory starts "
                "with 0x06 (no directory, ISO 28560 data objects)", "dsfid", 0,
                UnsupportedConstruct)
        return dsfid, {}
    values: dict[int, Any] = {}
    for obj in part2._objects(user[1:]):
        if isinstance(obj, part2._Fault):
            rep.add(obj.message, obj.field, obj.offset + 1, obj.error)
            break
        name = part2.ELEMENTS.get(obj.oid, f"oid_{obj.oid}")
        if obj.oid in values:
            rep.add(f"{name} appears twice", name, obj.start + 1)
            continue
        values[obj.oid] = part2._decode_value(obj.oid, obj.code, obj.data, obj.pos + 1, rep)
    _check_content_parameter(values, rep)
    return dsfid, values


def _check_content_parameter(values: dict[int, Any], rep: Problems) -> None:
    """The content parameter lists the elements on the tag: a listed one that is missing
    means the data was cut off or overwritten (a problem); an unlisted one is a warning."""
    listed = values.get(2)
    if not isinstance(listed, list):
        return
    present = {oid for oid in values if 3 <= oid <= 34}
    missing = sorted(set(listed) - present)
    if missing:
        names = ", ".join(part2.ELEMENTS.get(o, f"oid_{o}") for o in missing)
        rep.add(f"the content parameter lists {names}, which the user memory does not hold",
                "content_parameter", None)
    unlisted = sorted(present - set(listed))
    if unlisted:
        names = ", ".join(part2.ELEMENTS.get(o, f"oid_{o}") for o in unlisted)
        rep.warn(f"{names} not listed in the content parameter", "content_parameter", None)


def decode_uhf(epc: bytes, user: bytes = b"", *, strict: bool = False) -> UhfTagData:
    """Decode a UHF library tag: EPC bank from word 1 (PC word + UII), user memory bank.

    Words after the L words the PC word announces are not part of the UII and are ignored.

    Raises:
        TagFormatError: (strict) no PC word, toggle bit 0 (a GS1 EPC), fewer UII bytes than
            the PC word says, bad URN Code 40, bad user-memory objects; names field and
            offset (EPC-bank offsets count from the PC word, user-memory ones from the
            DSFID). Always when ``epc`` has no PC word.
        UnsupportedConstruct: (strict) a DSFID other than 0x06, the reserved escape 0xFF,
            or an ISO/IEC 15962 construct ``iso28560_2`` does not decode.
    """
    epc, user = bytes(epc), bytes(user)
    _check_pc(epc)
    rep = Problems(not strict)
    length = epc[0] >> 3
    toggle = bool(epc[0] & _TOGGLE)
    body = epc[2:2 + 2 * length]
    if len(body) < 2 * length:
        rep.add(f"the PC word announces {length} UII words, {len(body)} bytes follow",
                "uii", len(epc))
    uii, owner, item = "", "", ""
    if toggle:
        uii = decode_uii(body, rep)
        owner, item = _split_uii(uii)
        if epc[1] not in LIBRARY_AFIS:
            rep.warn(f"AFI 0x{epc[1]:02X} is not a library AFI (0x07 in stock, 0xC2 on loan)",
                     "afi", 1)
    else:
        rep.add("toggle bit is 0: the EPC bank holds a GS1 EPC, not an ISO/TS 28560-4 UII",
                "pc.toggle", 0)
    dsfid, values = _decode_user(user, rep)
    if toggle and not item:
        rep.warn("primary item identifier is empty (a blank tag)", "primary_item_id", 2)
    extra = values.pop(1, None)
    if extra is not None and extra != item:
        rep.add(f"user memory holds primary item id {extra!r}, the UII {item!r}",
                "primary_item_identifier", None)
    code = values.pop(part2.TYPE_OF_USAGE, None)
    owner_elem = values.pop(3, None)
    if not owner and isinstance(owner_elem, str):
        owner = owner_elem
    elif owner_elem is not None and owner_elem != owner:
        values[3] = owner_elem  # a second owner: kept, not merged
    setinfo = _set_info(values.pop(4, None), rep)
    return UhfTagData(
        primary_item_id=item, owner_library=owner, afi=epc[1] if toggle else None,
        toggle=toggle, umi=bool(epc[0] & _UMI), xi=bool(epc[0] & _XI), length_words=length,
        uii=uii, type_of_usage_code=code if isinstance(code, int) else None, set_info=setinfo,
        elements={part2.ELEMENTS.get(k, f"oid_{k}"): v for k, v in values.items()},
        dsfid=dsfid, attribute_bits=None if toggle else epc[1], epc_hex=body.hex().upper(),
        problems=tuple(rep.items), warnings=tuple(rep.warnings))


def _set_info(value: Any, rep: Problems) -> tuple[int, int] | None:
    """(parts, part) from the set information text: two equal-width numbers."""
    if value is None:
        return None
    text = value if isinstance(value, str) else ""
    half = len(text) // 2
    if half and not len(text) % 2 and text.isdigit():
        parts, part = int(text[:half]), int(text[half:])
        if 1 <= part <= parts:
            return parts, part
    rep.add(f"set information {value!r} is not two equal-width numbers, part <= parts",
            "set_information", None)
    return None
