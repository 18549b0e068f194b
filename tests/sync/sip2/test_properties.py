"""Hypothesis round trips over every message type, and a fuzz test that raises only Sip2Error."""

from __future__ import annotations

import calendar
import datetime as dt
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.errors import Sip2DateError, Sip2Error
from sync.sip2.codec import NEED_DATA, Sip2Codec, Sip2StreamDecoder, parse_date
from sync.sip2.messages import MESSAGES, VARIABLE_FIELDS, ItemInformation, Message

from .test_pysip2_crosscheck import SAMPLES

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|"),
    max_size=30,
).map(lambda s: __import__("unicodedata").normalize("NFC", s))

# every real calendar day (29-31 included where the month has them, 29 Feb in leap years)
_DATE = st.builds(
    lambda d, z, h, mi, s: f"{d.year:04d}{d.month:02d}{d.day:02d}{z}{h:02d}{mi:02d}{s:02d}",
    st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31)),
    st.sampled_from(["    ", "   Z"]), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))

# any month and any day 00-39: real and impossible dates alike
_ANY_DAY = st.builds(
    lambda y, mo, d: f"{y:04d}{mo:02d}{d:02d}    120000",
    st.integers(0, 2099), st.integers(1, 12), st.integers(0, 39))


def _fixed(kind: str, width: int) -> st.SearchStrategy[Any]:
    if kind == "ok":
        return st.booleans()
    if kind == "yn":
        return st.sampled_from([True, False, None])
    if kind == "date":
        return st.one_of(st.none(), _DATE)
    if kind == "n":
        return st.one_of(st.none(), st.integers(0, 10 ** width - 1))
    return st.text(alphabet="0123456789ABCYN .", min_size=width, max_size=width)


def _variable(kind: str) -> st.SearchStrategy[Any]:
    if kind == "l":
        return st.lists(_TEXT, max_size=3).map(tuple)
    if kind == "f":
        return st.sampled_from([True, False, None])
    return st.one_of(st.none(), _TEXT)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    layout = draw(st.sampled_from(sorted(MESSAGES.values(), key=lambda lay: lay.command)))
    kwargs: dict[str, Any] = {}
    for f in layout.fixed:
        kwargs[f.name] = draw(_fixed(f.kind, f.width))
    for code in layout.variable:
        name, kind = VARIABLE_FIELDS[code]
        kwargs[name] = draw(_variable(kind))
    extra = draw(st.lists(st.tuples(st.sampled_from(["XK", "ZZ", "Q1"]), _TEXT), max_size=2))
    return layout.cls(**kwargs, extra=tuple(extra))


@settings(max_examples=300, deadline=None)
@given(messages(), st.integers(0, 9), st.booleans())
def test_round_trip_utf8(msg: Message, seq: int, detect: bool) -> None:
    codec = Sip2Codec("utf-8", error_detection=detect)
    decoded = codec.decode(codec.encode(msg, seq))
    assert decoded.message == msg
    if detect and msg.COMMAND not in ("96", "97"):
        assert decoded.sequence == seq


@settings(max_examples=300, deadline=None)
@given(_DATE)
def test_every_real_date_parses_to_its_own_fields(value: str) -> None:
    got = parse_date(value, "AH")
    assert (got.year, got.month, got.day) == (int(value[:4]), int(value[4:6]), int(value[6:8]))
    assert (got.tzinfo is not None) == (value[11] == "Z")


def _real(value: str) -> bool:
    y, mo, d = int(value[:4]), int(value[4:6]), int(value[6:8])
    return y >= 1 and 1 <= d <= calendar.monthrange(max(y, 1), mo)[1]


@settings(max_examples=500, deadline=None)
@given(_ANY_DAY)
def test_impossible_dates_are_typed_errors_naming_the_field(value: str) -> None:
    frame = f"17{value}AOVNLIB|AB30000100|".encode()
    if _real(value):
        assert parse_date(value, "AH").day == int(value[6:8])
        assert Sip2Codec().decode(frame).message.transaction_date == value
        return
    with pytest.raises(Sip2DateError) as ei:  # never a bare ValueError
        parse_date(value, "AH")
    assert ei.value.field == "AH"
    with pytest.raises(Sip2DateError) as ei:
        Sip2Codec().decode(frame)
    assert ei.value.field == "transaction_date"
    lenient = Sip2Codec(strict=False).decode(frame)
    assert isinstance(lenient.message, ItemInformation)
    assert lenient.message.item_id == "30000100" and lenient.message.transaction_date is None
    assert len(lenient.problems) == 1 and "transaction_date" in lenient.problems[0]


@settings(max_examples=100, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=4), st.data())
def test_stream_round_trip_with_random_splits(msgs: list[Message], data: st.DataObject) -> None:
    codec = Sip2Codec("utf-8", error_detection=True, terminator=b"\r\n")
    wire = b"".join(codec.encode(m, i % 10) for i, m in enumerate(msgs))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    dec = Sip2StreamDecoder(codec)
    got = []
    prev = 0
    for c in [*cuts, len(wire)]:
        dec.receive_data(wire[prev:c])
        prev = c
        while (d := dec.next_message()) is not NEED_DATA:
            got.append(d.message)  # type: ignore[union-attr]
    assert got == msgs


@pytest.mark.fuzz
def test_fuzz_decoder_raises_only_sip2_errors(fuzz_count: int) -> None:
    rng = random.Random(1234)
    seeds = [Sip2Codec(error_detection=bool(i % 2)).encode(m, i % 10)
             for i, m in enumerate(SAMPLES)]
    codecs = [Sip2Codec("utf-8"), Sip2Codec("cp850", strict=False), Sip2Codec("ascii"),
              Sip2Codec("utf-8", strict=False, verify_checksum=False)]
    stream = Sip2StreamDecoder(Sip2Codec("latin-1"), max_frame=512)
    alphabet = b"0123456789AYZ|\r\n YN" + bytes(range(256))
    decoded = 0
    for i in range(fuzz_count):
        base = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(base) + 1)
            if op < 0.4 and base:
                base[min(pos, len(base) - 1)] = rng.choice(alphabet)
            elif op < 0.7:
                base[pos:pos] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 5)))
            elif base:
                del base[pos:pos + rng.randint(1, 8)]
        frame = bytes(base)
        codec = codecs[i % len(codecs)]
        try:
            codec.decode(frame)
            decoded += 1
        except Sip2Error:
            pass
        stream.receive_data(frame)
        while True:
            try:
                if stream.next_message() is NEED_DATA:
                    break
            except Sip2Error:
                continue
    assert decoded > 0


def test_a_value_that_begins_with_a_combining_mark_keeps_its_field_code() -> None:
    # Hypothesis found it: NFC over the whole frame made "AA" + U+0323 (combining dot below)
    # into "A" + U+1EA0 (Ạ), an unknown field "AẠ", and the patron id was lost.
    from sync.sip2.messages import BlockPatron

    codec = Sip2Codec("utf-8")
    msg = BlockPatron(card_retained=True, transaction_date=None, institution_id="VNLIB",
                      blocked_card_message="Thẻ bị khóa", patron_id="\u0323", terminal_password=None)
    frame = codec.encode(msg, 0)
    assert b"|AA\xcc\xa3|" in frame  # U+0323 in UTF-8, after its own code
    assert codec.decode(frame).message == msg
    # decoded from another encoder's frame (precomposed elsewhere, a bare mark in AA)
    raw = ("01Y" + " " * 18 + "AOVNLIB|ALTh\u1ebb b\u1ecb kh\u00f3a|AA\u0323|").encode("utf-8")
    got = Sip2Codec("utf-8", error_detection=False).decode(raw).message
    assert isinstance(got, BlockPatron) and got.patron_id == "\u0323" and got.extra == ()
