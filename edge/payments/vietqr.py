"""The NAPAS VietQR payload: encode and decode the text a Vietnamese banking app scans.

Sans-IO: strings in, a frozen :class:`VietQR` out, and back; no network, no image (the
CLI renders the QR with segno). Layout (NAPAS "VietQR" specification v1.5.2, an EMVCo
merchant-presented QR; each data object is a 2-digit ID, a 2-digit length in characters,
then the value)::

    00 02 "01"                  payload format indicator
    01 02 "11" | "12"           point of initiation: static | dynamic (has an amount)
    38 ..                       merchant account information (NAPAS)
       00 10 "A000000727"         NAPAS GUID
       01 ..                      beneficiary organisation
          00 06 BIN                 the bank's BIN (six digits, 9704xx)
          01 ..  account/card       up to 19 characters
       02 08 "QRIBFTTA"|"QRIBFTTC" service: transfer to an account | to a card
    53 03 "704"                 currency (ISO 4217 VND)
    54 ..  amount               integer VND, up to 13 characters (no decimals)
    58 02 "VN"                  country
    62 ..                       additional data
       01 ..  bill number         optional, up to 25
       08 ..  purpose             the reference, up to 25 ASCII characters
    63 04 CRC                   CRC-16/CCITT-FALSE over everything before it and "6304",
                                four uppercase hex digits

Other root and additional-data objects a bank's code may carry (52 category, 59 name ...)
are kept as they were (``extra``, ``additional_extra``), so a decoded payload encodes
back to the same text. The encoder writes data objects in ascending ID order, CRC last.

This module must not log, store or send anything; it holds no bank credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from edge.errors import EdgeError

__all__ = ["NAPAS_GUID", "SERVICE_ACCOUNT", "SERVICE_CARD", "VietQR", "VietQRError",
           "crc16_ccitt_false", "decode", "encode"]

NAPAS_GUID: Final = "A000000727"
SERVICE_ACCOUNT: Final = "QRIBFTTA"
SERVICE_CARD: Final = "QRIBFTTC"
_STATIC, _DYNAMIC = "11", "12"
_CURRENCY_VND, _COUNTRY_VN = "704", "VN"
_MAX_AMOUNT_CHARS = 13
_MAX_ACCOUNT_CHARS = 19
_MAX_ADDITIONAL_CHARS = 25
_KNOWN_ROOT = frozenset({"00", "01", "38", "53", "54", "58", "62", "63"})
_KNOWN_ADDITIONAL = frozenset({"01", "08"})


class VietQRError(EdgeError):
    """A VietQR payload or field is not valid; ``field`` names which (``amount``, ``crc`` ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__("invalid_vietqr", f"{field}: {message}", status=422, field=field)
        self.field = field


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _is_ans(text: str) -> bool:
    """EMVCo "ans": printable ASCII (0x20-0x7E)."""
    return all(0x20 <= ord(c) <= 0x7E for c in text)


def _check_text(field: str, value: str, max_chars: int) -> None:
    if not value:
        raise VietQRError(field, "is empty")
    if len(value) > max_chars:
        raise VietQRError(field, f"has {len(value)} characters, at most {max_chars} allowed")
    if not _is_ans(value):
        raise VietQRError(field, "must be printable ASCII (letters without diacritics)")


def _check_extra(field: str, objects: tuple[tuple[str, str], ...], known: frozenset[str]) -> None:
    seen: set[str] = set()
    for tag, value in objects:
        if len(tag) != 2 or not tag.isdigit():
            raise VietQRError(field, f"data object ID {tag!r} is not two digits")
        if tag in known or tag in seen:
            raise VietQRError(field, f"data object {tag} given twice")
        if len(value) > 99:
            raise VietQRError(field, f"data object {tag} is longer than 99 characters")
        seen.add(tag)


@dataclass(frozen=True)
class VietQR:
    """One VietQR payload: the beneficiary, the amount and the reference.

    Args:
        bank_bin: the beneficiary bank's six-digit BIN (``970415``).
        account: the account number (service ``QRIBFTTA``) or card number (``QRIBFTTC``).
        amount: integer VND; required for a dynamic QR, absent for a static one.
        purpose: the reference (purpose of transaction, 62/08), at most 25 ASCII characters.
        service: :data:`SERVICE_ACCOUNT` or :data:`SERVICE_CARD`.
        dynamic: point of initiation 12 (one payment) rather than 11 (reusable).
        bill_number: 62/01, optional.
        extra: other root data objects as (ID, value), kept for a faithful re-encode.
        additional_extra: other data objects under 62 as (ID, value).

    Raises:
        VietQRError: a field is not valid (the error names it).
    """

    bank_bin: str
    account: str
    amount: int | None = None
    purpose: str | None = None
    service: str = SERVICE_ACCOUNT
    dynamic: bool = True
    bill_number: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    additional_extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if len(self.bank_bin) != 6 or not self.bank_bin.isascii() or not self.bank_bin.isdigit():
            raise VietQRError("bank_bin", f"{self.bank_bin!r} is not a six-digit BIN")
        _check_text("account", self.account, _MAX_ACCOUNT_CHARS)
        if self.service not in (SERVICE_ACCOUNT, SERVICE_CARD):
            raise VietQRError("service", f"{self.service!r} is neither {SERVICE_ACCOUNT} nor "
                              f"{SERVICE_CARD}")
        if self.service == SERVICE_CARD and not self.account.isdigit():
            raise VietQRError("account", "a card number has digits only")
        if self.amount is not None:
            if isinstance(self.amount, bool) or not isinstance(self.amount, int):
                raise VietQRError("amount", "must be an integer number of VND")
            if self.amount <= 0:
                raise VietQRError("amount", "must be more than 0 VND")
            if len(str(self.amount)) > _MAX_AMOUNT_CHARS:
                raise VietQRError("amount", f"has more than {_MAX_AMOUNT_CHARS} digits")
        elif self.dynamic:
            raise VietQRError("amount", "a dynamic QR (point of initiation 12) needs an amount")
        if self.purpose is not None:
            _check_text("purpose", self.purpose, _MAX_ADDITIONAL_CHARS)
        if self.bill_number is not None:
            _check_text("bill_number", self.bill_number, _MAX_ADDITIONAL_CHARS)
        _check_extra("extra", self.extra, _KNOWN_ROOT)
        _check_extra("additional_extra", self.additional_extra, _KNOWN_ADDITIONAL)


def _tlv(tag: str, value: str, field: str) -> str:
    if len(value) > 99:
        raise VietQRError(field, f"data object {tag} would be {len(value)} characters, "
                          "at most 99 fit")
    return f"{tag}{len(value):02d}{value}"


def _join(objects: dict[str, str], field: str) -> str:
    return "".join(_tlv(tag, objects[tag], field) for tag in sorted(objects))


def encode(qr: VietQR) -> str:
    """The payload text of ``qr`` (data objects in ascending ID order, CRC last)."""
    beneficiary = _join({"00": qr.bank_bin, "01": qr.account}, "account")
    merchant = _join({"00": NAPAS_GUID, "01": beneficiary, "02": qr.service}, "account")
    root = {"00": "01", "01": _DYNAMIC if qr.dynamic else _STATIC, "38": merchant,
            "53": _CURRENCY_VND, "58": _COUNTRY_VN, **dict(qr.extra)}
    if qr.amount is not None:
        root["54"] = str(qr.amount)
    additional = dict(qr.additional_extra)
    if qr.bill_number is not None:
        additional["01"] = qr.bill_number
    if qr.purpose is not None:
        additional["08"] = qr.purpose
    if additional:
        root["62"] = _join(additional, "purpose")
    body = _join(root, "payload") + "6304"
    return body + f"{crc16_ccitt_false(body.encode()):04X}"


def _parse(text: str, field: str) -> list[tuple[str, str]]:
    """Split ``text`` into (ID, value) data objects; a cut or malformed one is an error."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        head = text[pos:pos + 4]
        if len(head) < 4:
            raise VietQRError(field, f"cut off at character {pos}: {head!r} is not an ID and "
                              "a length")
        if not head.isascii() or not head.isdigit():
            raise VietQRError(field, f"at character {pos}: {head!r} is not a two-digit ID "
                              "and a two-digit length")
        tag, size = head[:2], int(head[2:])
        value = text[pos + 4:pos + 4 + size]
        if len(value) < size:
            raise VietQRError(field, f"data object {tag} says {size} characters but only "
                              f"{len(value)} follow")
        if any(t == tag for t, _ in out):
            raise VietQRError(field, f"data object {tag} appears twice")
        out.append((tag, value))
        pos += 4 + size
    return out


def _required(objects: dict[str, str], tag: str, field: str) -> str:
    value = objects.get(tag)
    if value is None:
        raise VietQRError(field, f"data object {tag} is missing")
    return value


def decode(payload: str | bytes) -> VietQR:
    """Read a VietQR payload.

    Raises:
        VietQRError: the CRC, a length, a mandatory field or a value is wrong; ``field``
            and the message name it.
    """
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VietQRError("payload", f"is not UTF-8 text ({exc.reason})") from exc
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise VietQRError("crc", "the payload does not end with the CRC object 6304xxxx")
    given = payload[-4:]
    if len(given) != 4 or any(c not in "0123456789ABCDEFabcdef" for c in given):
        raise VietQRError("crc", f"{given!r} is not four hex digits")
    computed = crc16_ccitt_false(payload[:-4].encode("utf-8"))
    if int(given, 16) != computed:
        raise VietQRError("crc", f"is {given}, the payload's CRC is {computed:04X}")
    listed = _parse(payload, "payload")
    if listed[0] != ("00", "01"):
        raise VietQRError("payload_format", "the payload must start with 000201")
    if listed[-1][0] != "63":  # pragma: no cover - the 6304 check above ensures it
        raise VietQRError("crc", "the CRC must be the last data object")
    root = dict(listed)
    poi = root.get("01", _STATIC)
    if poi not in (_STATIC, _DYNAMIC):
        raise VietQRError("point_of_initiation", f"{poi!r} is neither 11 nor 12")
    merchant = dict(_parse(_required(root, "38", "merchant_account"), "merchant_account"))
    guid = _required(merchant, "00", "merchant_account")
    if guid != NAPAS_GUID:
        raise VietQRError("merchant_account", f"GUID {guid!r} is not NAPAS's {NAPAS_GUID}")
    beneficiary = dict(_parse(_required(merchant, "01", "beneficiary"), "beneficiary"))
    currency = _required(root, "53", "currency")
    if currency != _CURRENCY_VND:
        raise VietQRError("currency", f"{currency!r} is not 704 (VND)")
    country = _required(root, "58", "country")
    if country != _COUNTRY_VN:
        raise VietQRError("country", f"{country!r} is not VN")
    amount: int | None = None
    if "54" in root:
        text = root["54"]
        if not text.isascii() or not text.isdigit():
            raise VietQRError("amount", f"{text!r} is not a whole number of VND (VND has no "
                              "decimals)")
        if len(text) > _MAX_AMOUNT_CHARS:
            raise VietQRError("amount", f"has more than {_MAX_AMOUNT_CHARS} characters")
        amount = int(text)
    additional = dict(_parse(root.get("62", ""), "additional_data"))
    return VietQR(
        bank_bin=_required(beneficiary, "00", "bank_bin"),
        account=_required(beneficiary, "01", "account"),
        amount=amount, purpose=additional.get("08"),
        service=_required(merchant, "02", "service"), dynamic=poi == _DYNAMIC,
        bill_number=additional.get("01"),
        extra=tuple((t, v) for t, v in listed if t not in _KNOWN_ROOT),
        additional_extra=tuple((t, v) for t, v in additional.items()
                               if t not in _KNOWN_ADDITIONAL))
