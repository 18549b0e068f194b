"""The VietQR codec against published payloads, an independent CRC, and bad input."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.errors import EdgeError
from edge.payments.vietqr import (
    SERVICE_ACCOUNT,
    SERVICE_CARD,
    VietQR,
    VietQRError,
    crc16_ccitt_false,
    decode,
    encode,
)

# Golden payloads, each with where it was published (not built with the code under test):
# NAPAS's VietQR specification v1.5.2, section 6.1 examples 6.1.1-6.1.4 (quoted with their
# CRCs by several open-source VietQR libraries' tests), and the README of subiz/vietqr (Go).
NAPAS_STATIC_ACCOUNT = ("00020101021138570010A00000072701270006970403011200110123456780208"
                        "QRIBFTTA53037045802VN6304F4E5")
NAPAS_STATIC_CARD = ("00020101021138600010A00000072701300006970403011697040311012345670208"
                     "QRIBFTTC53037045802VN63044F52")
NAPAS_DYNAMIC_ACCOUNT = ("00020101021238570010A00000072701270006970403011300110123456780208"
                         "QRIBFTTA530370454061800005802VN62340107NPS68690819thanh toan don hang"
                         "63042E2E")
NAPAS_DYNAMIC_CARD = ("00020101021238600010A00000072701300006970403011697040311012345670208"
                      "QRIBFTTC530370454061800005802VN62340107NPS68690819thanh toan don hang"
                      "6304A203")
# The same payload with the length fixed, from the README of a JavaScript VietQR library
# (vietqr-js, "Static QR IBFT to Account").
VIETQR_JS_STATIC_ACCOUNT = ("00020101021138570010A00000072701270006970403011300110123456780208"
                            "QRIBFTTA53037045802VN63049E6F")
SUBIZ_README = ("00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA"
                "530370454061200005802VN62170813ung ho lu lut6304C15C")

GOLDEN = {
    VIETQR_JS_STATIC_ACCOUNT: VietQR("970403", "0011012345678", dynamic=False),
    NAPAS_STATIC_CARD: VietQR("970403", "9704031101234567", service=SERVICE_CARD, dynamic=False),
    NAPAS_DYNAMIC_ACCOUNT: VietQR("970403", "0011012345678", 180000, "thanh toan don hang",
                                  bill_number="NPS6869"),
    NAPAS_DYNAMIC_CARD: VietQR("970403", "9704031101234567", 180000, "thanh toan don hang",
                               service=SERVICE_CARD, bill_number="NPS6869"),
    SUBIZ_README: VietQR("970415", "0011001932418", 120000, "ung ho lu lut"),
}


def test_the_specs_static_account_example_has_a_length_typo() -> None:
    # 6.1.1 as published says the account (01) is 12 characters but carries 13
    # ("0011012345678", as in 6.1.3): its CRC is right, its layout is not.
    assert oracle_crc(NAPAS_STATIC_ACCOUNT[:-4]) == NAPAS_STATIC_ACCOUNT[-4:]
    with pytest.raises(VietQRError) as err:
        decode(NAPAS_STATIC_ACCOUNT)
    assert err.value.field == "beneficiary" and "cut off" in err.value.message
    assert VIETQR_JS_STATIC_ACCOUNT == _with_crc(NAPAS_STATIC_ACCOUNT[:-4].replace("0112", "0113"))


def oracle_crc(text: str) -> str:
    """CRC-16/CCITT-FALSE by the standard library (crc_hqx with initial 0xFFFF)."""
    return f"{binascii.crc_hqx(text.encode(), 0xFFFF):04X}"


@pytest.mark.parametrize("payload", list(GOLDEN))
def test_golden_payloads_decode_and_encode(payload: str) -> None:
    assert oracle_crc(payload[:-4]) == payload[-4:]
    assert decode(payload) == GOLDEN[payload]
    assert decode(payload.encode()) == GOLDEN[payload]
    assert encode(GOLDEN[payload]) == payload


def test_crc_matches_the_check_value_and_the_standard_library() -> None:
    # The catalogue's check value of CRC-16/CCITT-FALSE for "123456789" is 0x29B1.
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


@given(st.binary(max_size=200))
def test_crc_equals_crc_hqx(data: bytes) -> None:
    assert crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)


ANS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=25)


@st.composite
def vietqrs(draw: st.DrawFn) -> VietQR:
    card = draw(st.booleans())
    account = draw(st.text("0123456789", min_size=1, max_size=19) if card else
                   st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                           min_size=1, max_size=19))
    dynamic = draw(st.booleans())
    amount = draw(st.integers(1, 10**13 - 1) if dynamic else st.none() | st.integers(1, 10**13 - 1))
    root_ids = draw(st.lists(st.sampled_from(["52", "59", "60", "64", "80"]), unique=True))
    extra_ids = draw(st.lists(st.sampled_from(["02", "03", "05", "07", "09"]), unique=True))
    return VietQR(bank_bin=draw(st.from_regex(r"\A9704[0-9]{2}\Z")), account=account,
                  amount=amount, purpose=draw(st.none() | ANS),
                  service=SERVICE_CARD if card else SERVICE_ACCOUNT, dynamic=dynamic,
                  bill_number=draw(st.none() | ANS),
                  extra=tuple((i, draw(ANS)) for i in sorted(root_ids)),
                  additional_extra=tuple((i, draw(ANS)) for i in sorted(extra_ids[:1])))


@given(vietqrs())
def test_round_trip(qr: VietQR) -> None:
    payload = encode(qr)
    assert payload[-4:] == oracle_crc(payload[:-4])
    assert payload.startswith("000201010" + ("212" if qr.dynamic else "211"))
    assert decode(payload) == qr


@given(vietqrs(), st.data())
def test_every_cut_payload_is_a_typed_error(qr: VietQR, data: st.DataObject) -> None:
    payload = encode(qr)
    cut = data.draw(st.integers(0, len(payload) - 1))
    with pytest.raises(VietQRError):
        decode(payload[:cut])


def _with_crc(body: str) -> str:
    """A payload body (ending in 6304) with its CRC, by the standard library's CRC."""
    return body + oracle_crc(body)


def _body(golden: str) -> str:
    return golden[:-4]


@pytest.mark.parametrize(("payload", "field", "words"), [
    (SUBIZ_README[:-4] + "C15D", "crc", "C15D"),
    (SUBIZ_README[:-8], "crc", "6304"),
    (SUBIZ_README[:-4] + "XYZ1", "crc", "hex"),
    (_with_crc(_body(SUBIZ_README).replace("000201", "000202", 1)), "payload_format", "000201"),
    (_with_crc(_body(SUBIZ_README).replace("010212", "010213", 1)), "point_of_initiation", "13"),
    (_with_crc(_body(SUBIZ_README).replace("5303704", "5303840")), "currency", "704"),
    (_with_crc(_body(SUBIZ_README).replace("5802VN", "5802TH")), "country", "VN"),
    (_with_crc(_body(SUBIZ_README).replace("A000000727", "A000000728")), "merchant_account",
     "GUID"),
    (_with_crc(_body(SUBIZ_README).replace("0208QRIBFTTA", "0208QRPUSHXX")), "service",
     "QRPUSHXX"),
    (_with_crc(_body(SUBIZ_README).replace("5406120000", "54091200.5000")), "amount",
     "decimals"),
    (_with_crc(_body(SUBIZ_README).replace("5406120000", "")), "amount", "needs an amount"),
    (_with_crc(_body(SUBIZ_README).replace("5303704", "")), "currency", "missing"),
    (_with_crc(_body(SUBIZ_README).replace("0006970415", "000697041X")), "bank_bin",
     "six-digit"),
    (_with_crc("00020101021253037045802VN6304"), "merchant_account", "38 is missing"),
    (_with_crc(_body(SUBIZ_README).replace("5802VN", "5802VN5802VN")), "payload", "twice"),
    (_with_crc(_body(SUBIZ_README).replace("5802VN", "5899VN")), "payload", "says 99"),
    (_with_crc(_body(SUBIZ_README).replace("5802VN", "58xxVN")), "payload", "two-digit ID"),
    (_with_crc(_body(SUBIZ_README).replace("0813ung ho lu lut", "0826" + "x" * 26)
               .replace("6217", "6230")), "purpose", "at most 25"),
    (_with_crc(_body(SUBIZ_README).replace("0813ung ho lu lut", "0813ủng hộ lũ lụt")),
     "purpose", "ASCII"),
    (b"\xff\xfe6304ABCD", "payload", "UTF-8"),
])
def test_bad_payloads_name_what_is_wrong(payload: str | bytes, field: str, words: str) -> None:
    with pytest.raises(VietQRError) as err:
        decode(payload)
    assert err.value.field == field
    assert words in err.value.message
    assert isinstance(err.value, EdgeError)
    assert err.value.code == "invalid_vietqr" and err.value.status == 422


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"bank_bin": "97041"}, "bank_bin"),
    ({"bank_bin": "97041x"}, "bank_bin"),
    ({"account": ""}, "account"),
    ({"account": "1" * 20}, "account"),
    ({"account": "12AB", "service": SERVICE_CARD}, "account"),
    ({"amount": 0}, "amount"),
    ({"amount": -5}, "amount"),
    ({"amount": 10**13}, "amount"),
    ({"amount": 1.5}, "amount"),
    ({"amount": None}, "amount"),
    ({"purpose": "x" * 26}, "purpose"),
    ({"purpose": "Phí phạt"}, "purpose"),
    ({"service": "QRPUSH"}, "service"),
    ({"extra": (("53", "704"),)}, "extra"),
])
def test_bad_fields_are_refused_on_encode(kwargs: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {"bank_bin": "970415", "account": "0011001932418",
                                 "amount": 75000, "purpose": "FINE 2000003"}
    fields.update(kwargs)
    with pytest.raises(VietQRError) as err:
        VietQR(**fields)  # type: ignore[arg-type]
    assert err.value.field == field


def test_the_largest_amount_fits_thirteen_digits() -> None:
    qr = VietQR("970415", "0011001932418", 10**13 - 1, "x")
    assert "5413" + "9" * 13 in encode(qr)


def test_other_data_objects_are_kept_for_a_faithful_re_encode() -> None:
    # A bank's code with a merchant category (52) and name (59), and a terminal label (07).
    body = ("00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA"
            "52045999530370454061200005802VN5910THU VIEN A62170707KIOSK010802xx6304")
    payload = _with_crc(body)
    qr = decode(payload)
    assert qr.extra == (("52", "5999"), ("59", "THU VIEN A"))
    assert qr.additional_extra == (("07", "KIOSK01"),) and qr.purpose == "xx"
    assert encode(qr) == payload


def test_a_lowercase_crc_is_read_and_written_back_uppercase() -> None:
    lower = SUBIZ_README[:-4] + SUBIZ_README[-4:].lower()
    assert lower != SUBIZ_README
    assert encode(decode(lower)) == SUBIZ_README
