"""SIP2 codec: golden vectors, split feeding, terminators, charsets and typed errors."""

from __future__ import annotations

import pytest

from sync.errors import (
    Sip2ChecksumError,
    Sip2DateError,
    Sip2EncodingError,
    Sip2Error,
    Sip2FieldError,
    Sip2FrameError,
    Sip2UnknownMessageError,
)
from sync.sip2.codec import NEED_DATA, Sip2Codec, Sip2StreamDecoder, checksum, parse_date
from sync.sip2.messages import (
    MESSAGES,
    Checkin,
    CheckinResponse,
    Checkout,
    CheckoutResponse,
    ItemInformationResponse,
    LoginRequest,
    PatronInformationResponse,
    RequestAcsResend,
    ScStatus,
)

# Worked checksums [verified] from ../shared/docs/protocols.md §1 (computed independently and
# by pysip2 0.1.0). Typed here as literals; never produced by the code under test.
GOLDEN = [
    b"9300CNkiosk01|COs3cret|CPMAIN|AY0AZF4AA\r",
    b"9900302.00AY1AZFCA5\r",
    b"11YN20261123    120000                  AOVNLIB|AA2000001|AB30001234|AD1234|AY2AZEEED\r",
    b"09N20261123    12000020261123    120000APMAIN|AOVNLIB|AB30001234|AY3AZF034\r",
    # "1803000120261123    120000AB30001234|AJLịch sử Việt Nam|AY4AZEB77\r" in UTF-8:
    bytes.fromhex("3138303330303031323032363131323320202020313230303030414233303030313233347c"
                  "414a4ce1bb8b63682073e1bbad205669e1bb8774204e616d7c415934415a454237370d"),
]

GOLDEN_MESSAGES = [
    (LoginRequest(uid_algorithm="0", pwd_algorithm="0", login_user_id="kiosk01",
                  login_password="s3cret", location_code="MAIN"), 0),
    (ScStatus(status_code="0", max_print_width="030", protocol_version="2.00"), 1),
    (Checkout(renewal_policy=True, no_block=False, transaction_date="20261123    120000",
              nb_due_date=None, institution_id="VNLIB", patron_id="2000001", item_id="30001234",
              patron_password="1234"), 2),
    (Checkin(no_block=False, transaction_date="20261123    120000",
             return_date="20261123    120000", current_location="MAIN", institution_id="VNLIB",
             item_id="30001234"), 3),
    (ItemInformationResponse(circulation_status="03", security_marker="00", fee_type="01",
                             transaction_date="20261123    120000", item_id="30001234",
                             title="Lịch sử Việt Nam"), 4),
]


def test_golden_utf8_vector_is_what_protocols_md_says() -> None:
    assert GOLDEN[4] == "1803000120261123    120000AB30001234|AJLịch sử Việt Nam|AY4AZEB77\r".encode()


@pytest.mark.parametrize("i", range(len(GOLDEN)))
def test_encode_matches_golden(i: int) -> None:
    msg, seq = GOLDEN_MESSAGES[i]
    assert Sip2Codec("utf-8", error_detection=True).encode(msg, seq) == GOLDEN[i]


@pytest.mark.parametrize("i", range(len(GOLDEN)))
def test_decode_golden(i: int) -> None:
    decoded = Sip2Codec("utf-8").decode(GOLDEN[i])
    msg, seq = GOLDEN_MESSAGES[i]
    assert decoded.message == msg
    assert decoded.sequence == seq
    assert decoded.checksum == GOLDEN[i][-5:-1].decode()


def test_checksum_function_on_golden_prefixes() -> None:
    assert checksum(b"9900302.00AY1AZ") == "FCA5"
    assert checksum(b"9300CNkiosk01|COs3cret|CPMAIN|AY0AZ") == "F4AA"


def _feed_all(data: bytes, chunks: list[bytes]) -> list:
    dec = Sip2StreamDecoder(Sip2Codec("utf-8"))
    out = []
    for c in chunks:
        dec.receive_data(c)
        while (m := dec.next_message()) is not NEED_DATA:
            out.append(m)
    return out


@pytest.mark.parametrize("how", ["whole", "halves", "bytes"])
def test_stream_split_feeding(how: str) -> None:
    data = b"".join(GOLDEN)
    if how == "whole":
        chunks = [data]
    elif how == "halves":
        chunks = [data[: len(data) // 2], data[len(data) // 2:]]
    else:
        chunks = [data[i:i + 1] for i in range(len(data))]
    got = _feed_all(data, chunks)
    assert [d.message for d in got] == [m for m, _ in GOLDEN_MESSAGES]
    assert [d.sequence for d in got] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("frame", GOLDEN)
def test_each_golden_frame_split_every_way(frame: bytes) -> None:
    for cut in range(1, len(frame)):
        got = _feed_all(frame, [frame[:cut], frame[cut:]])
        assert len(got) == 1 and got[0].raw == frame[:-1]


@pytest.mark.parametrize("term", [b"\r", b"\r\n", b"\n"])
def test_terminators_tolerated_on_input(term: bytes) -> None:
    frames = [g[:-1] + term for g in GOLDEN]
    data = b"".join(frames)
    got = _feed_all(data, [data[i:i + 1] for i in range(len(data))])
    assert [d.message for d in got] == [m for m, _ in GOLDEN_MESSAGES]


@pytest.mark.parametrize("term", [b"\r", b"\r\n", b"\n"])
def test_terminator_on_output(term: bytes) -> None:
    frame = Sip2Codec(terminator=term).encode(ScStatus())
    assert frame == b"9900302.00" + term


def test_stream_needs_data_and_reports_buffered() -> None:
    dec = Sip2StreamDecoder(Sip2Codec())
    dec.receive_data(b"9900302")
    assert dec.next_message() is NEED_DATA
    assert dec.buffered == 7
    dec.receive_data(b"")
    assert dec.eof


def test_stream_overlong_frame_is_an_error() -> None:
    dec = Sip2StreamDecoder(Sip2Codec(), max_frame=100)
    dec.receive_data(b"9" * 101)
    with pytest.raises(Sip2FrameError):
        dec.next_message()


def test_stream_continues_after_a_bad_frame() -> None:
    dec = Sip2StreamDecoder(Sip2Codec())
    dec.receive_data(b"9900302.00AY1AZFCA6\r9900302.00AY1AZFCA5\r")
    with pytest.raises(Sip2ChecksumError):
        dec.next_message()
    ok = dec.next_message()
    assert not isinstance(ok, type(NEED_DATA)) and ok.message == ScStatus()


def test_bad_checksum_names_az() -> None:
    with pytest.raises(Sip2ChecksumError) as e:
        Sip2Codec().decode(b"9900302.00AY1AZFCA6\r")
    assert e.value.field == "AZ"


def test_checksum_verification_is_switchable() -> None:
    d = Sip2Codec(verify_checksum=False).decode(b"9900302.00AY1AZFCA6\r")
    assert d.message == ScStatus() and d.sequence == 1


def test_require_checksum() -> None:
    with pytest.raises(Sip2FrameError):
        Sip2Codec(require_checksum=True).decode(b"9900302.00\r")


def test_short_fixed_field_names_the_field() -> None:
    with pytest.raises(Sip2FieldError) as e:
        Sip2Codec().decode(b"121NNY2026112\r")
    assert e.value.field == "transaction_date"


def test_bad_date_names_the_field() -> None:
    with pytest.raises(Sip2DateError) as e:
        Sip2Codec().decode(b"121NNY20261323    120000AOX|\r")
    assert e.value.field == "transaction_date"


@pytest.mark.parametrize("date", ["20260230", "20250229", "20261131", "00000101"])
def test_impossible_calendar_date_names_the_field(date: str) -> None:
    frame = f"121NNY{date}    120000AOX|\r".encode()
    with pytest.raises(Sip2DateError) as e:
        Sip2Codec().decode(frame)
    assert e.value.field == "transaction_date"
    lenient = Sip2Codec(strict=False).decode(frame)
    assert lenient.message.transaction_date is None and lenient.message.institution_id == "X"
    assert any("transaction_date" in p for p in lenient.problems)
    with pytest.raises(Sip2DateError) as e:
        parse_date(f"{date}    120000", "AH")
    assert e.value.field == "AH"


def test_real_edge_dates_decode() -> None:
    for date in ("20240229", "20261231", "20260131", "20260430"):
        msg = Sip2Codec().decode(f"121NNY{date}    235959AOX|\r".encode()).message
        assert msg.transaction_date == f"{date}    235959"


def test_bad_flag_names_the_field() -> None:
    with pytest.raises(Sip2FieldError) as e:
        Sip2Codec().decode(b"121XNY20261123    120000AOX|\r")
    assert e.value.field == "renewal_ok"


def test_unknown_command() -> None:
    with pytest.raises(Sip2UnknownMessageError):
        Sip2Codec().decode(b"42hello\r")
    d = Sip2Codec(strict=False).decode(b"42hello\r")
    assert d.message.COMMAND == "" and d.problems


def test_lenient_mode_keeps_what_it_could_parse() -> None:
    d = Sip2Codec(strict=False).decode(b"121XNY2026\r")
    assert isinstance(d.message, CheckoutResponse)
    assert d.message.ok is True and d.message.magnetic_media is False
    assert d.message.renewal_ok is None and d.message.transaction_date is None
    assert len(d.problems) == 2


PATRON_STATUS = b"24              00120261123    120000AOVNLIB|"


def test_variable_fields_lenient_keeps_the_rest_and_names_each_problem() -> None:
    # a bad flag, a one-character piece, empty pieces, and a repeated patron id
    d = Sip2Codec(strict=False).decode(PATRON_STATUS + b"AA123|AEName|BLX|A|||AA456|\r")
    m = d.message
    assert m.patron_id == "123" and m.personal_name == "Name" and m.valid_patron is None
    assert m.extra == (("AA", "456"),)
    assert d.problems == ("field BL: flag must be Y, N or U, got 'X'",
                          "variable field too short: 'A'")


@pytest.mark.parametrize(("tail", "field"), [(b"AA123|BLX|\r", "BL"), (b"A|\r", "A")])
def test_variable_fields_strict_raise_naming_the_field(tail: bytes, field: str) -> None:
    with pytest.raises(Sip2FieldError) as e:
        Sip2Codec().decode(PATRON_STATUS + tail)
    assert e.value.field == field


def test_unknown_fields_kept_in_order_and_reencoded() -> None:
    frame = b"101YNY20261123    120000AOVNLIB|AB30000010|XKabc|AQMAIN|ZZ1|XKdef|CV01|\r"
    d = Sip2Codec().decode(frame)
    m = d.message
    assert isinstance(m, CheckinResponse)
    assert m.extra == (("XK", "abc"), ("ZZ", "1"), ("XK", "def"))
    assert m.alert_type == "01" and m.permanent_location == "MAIN"
    again = Sip2Codec().decode(Sip2Codec().encode(m)).message
    assert again == m


def test_repeatable_fields_and_counts() -> None:
    frame = (b"64              00020261123    120000000200000003    00000000"
             b"AOVNLIB|AA2000001|AEAn|AU30000001|AU30000002|AU30000003|CD30000009|BLY|CQN|\r")
    m = Sip2Codec().decode(frame).message
    assert isinstance(m, PatronInformationResponse)
    assert m.hold_items_count == 2 and m.overdue_items_count == 0
    assert m.charged_items_count == 3 and m.fine_items_count is None
    assert m.charged_items == ("30000001", "30000002", "30000003")
    assert m.unavailable_hold_items == ("30000009",)
    assert m.valid_patron is True and m.valid_patron_password is False


@pytest.mark.parametrize("charset,data", [
    ("utf-8", "AJTiếng Việt|".encode()),
    ("latin-1", "AJCafé|".encode("latin-1")),
    ("cp850", "AJCafé Ñ|".encode("cp850")),
    ("ascii", b"AJplain|"),
])
def test_charsets(charset: str, data: bytes) -> None:
    frame = b"1803000120261123    120000AB1|" + data + b"\r"
    codec = Sip2Codec(charset, error_detection=True)
    m = codec.decode(frame).message
    assert codec.encode(m, 0)[:-10] == frame[:-1]
    assert codec.decode(codec.encode(m, 5)).message == m


def test_nfc_normalisation() -> None:
    decomposed = "Vie\u0323\u0302t"  # e + dot below + circumflex: NFD of "Việt"
    m = ItemInformationResponse(transaction_date="20261123    120000", item_id="1", title=decomposed)
    frame = Sip2Codec().encode(m)
    assert "Việt".encode() in frame
    assert Sip2Codec().decode(b"1803000120261123    120000AB1|AJ" + decomposed.encode() + b"|\r"
                              ).message.title == "Việt"


def test_unencodable_text_is_an_encoding_error() -> None:
    m = ItemInformationResponse(transaction_date="20261123    120000", item_id="1", title="Việt")
    with pytest.raises(Sip2EncodingError):
        Sip2Codec("latin-1").encode(m)
    assert b"Vi?t" in Sip2Codec("latin-1", strict=False).encode(m)


def test_invalid_bytes_in_charset() -> None:
    with pytest.raises(Sip2EncodingError):
        Sip2Codec("utf-8").decode(b"1803000120261123    120000AB1|AJ\xff|\r")


def test_encode_refuses_delimiter_in_values() -> None:
    with pytest.raises(Sip2FieldError) as e:
        Sip2Codec().encode(LoginRequest(login_user_id="a|b", login_password="x"))
    assert e.value.field == "CN"


def test_control_messages_carry_az_only() -> None:
    assert Sip2Codec(error_detection=True).encode(RequestAcsResend()) == b"97AZFEF5\r"


def test_parse_date() -> None:
    assert parse_date("20261123    120000").hour == 12
    assert parse_date("20261123   Z120000").tzinfo is not None
    with pytest.raises(Sip2DateError):
        parse_date("2026112x    120000")
    with pytest.raises(Sip2DateError):  # second 60 cannot be a datetime: not a bare ValueError
        parse_date("20261123    235960")


def test_every_message_type_round_trips_empty() -> None:
    codec = Sip2Codec(error_detection=True)
    for cmd, layout in MESSAGES.items():
        kwargs = {f.name: "20261123    120000" for f in layout.fixed if f.kind == "date"}
        msg = layout.cls(**kwargs)
        assert codec.decode(codec.encode(msg, 3)).message == msg, cmd


def test_errors_are_sip2_errors() -> None:
    for exc in (Sip2ChecksumError, Sip2FieldError, Sip2DateError, Sip2FrameError,
                Sip2UnknownMessageError, Sip2EncodingError):
        assert issubclass(exc, Sip2Error)
