"""Strict/lenient problem reporting shared by the tag decoders (internal).

Also ``UnsupportedConstruct``, the error for valid-looking data that uses an ISO/IEC 15962
construct this package does not decode (so callers never guess another reading instead).
"""

from __future__ import annotations

from drivers.errors import TagFormatError


class UnsupportedConstruct(TagFormatError):
    """The data uses a construct the decoder does not support (e.g. a relative OID above 127).

    A ``TagFormatError``: it names the field and offset like every other decode error.
    """


class Problems:
    """Collects decode problems: raises the first in strict mode, lists them in lenient mode.

    Warnings (``warn``) never raise: they are listed in both modes (a blank tag's empty
    primary item id is data staff meet every day, not a decode failure).
    """

    __slots__ = ("items", "lenient", "warnings")

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient
        self.items: list[str] = []
        self.warnings: list[str] = []

    def add(self, message: str, field: str, offset: int | None,
            error: type[TagFormatError] = TagFormatError) -> None:
        err = error(message, field, offset)
        if not self.lenient:
            raise err
        self.items.append(str(err))

    def warn(self, message: str, field: str, offset: int | None) -> None:
        text = str(TagFormatError(message, field, offset))
        self.items.append(text)
        self.warnings.append(text)


def printable(raw: bytes) -> bool:
    """True if every byte is printable ASCII (0x20..0x7E)."""
    return all(0x20 <= b <= 0x7E for b in raw)


def nul_string(raw: bytes, field: str, base: int, rep: Problems) -> str:
    """A NUL-padded ASCII field: text up to the first NUL, bytes after it must be NUL."""
    end = raw.find(b"\x00")
    text, rest = (raw, b"") if end < 0 else (raw[:end], raw[end:])
    if text.isascii() and (s := text.decode("ascii")).isprintable() and not rest.strip(b"\x00"):
        return s  # fast path: clean field
    for i, b in enumerate(text):
        if not 0x20 <= b <= 0x7E:
            rep.add(f"{field} has a non-printable byte 0x{b:02X}", field, base + i)
            text = bytes(c if 0x20 <= c <= 0x7E else 0x3F for c in text)
            break
    if rest.strip(b"\x00"):
        i = next(i for i, b in enumerate(rest) if b)
        rep.add(f"{field} has data after its NUL padding", field, base + end + i)
    return text.decode("ascii")
