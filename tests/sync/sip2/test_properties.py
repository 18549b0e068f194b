"""Hypothesis round trips over every message type, and a fuzz test that raises only Sip2Error."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.errors import Sip2Error
from sync.sip2.codec import NEED_DATA, Sip2Codec, Sip2StreamDecoder
from sync.sip2.messages import MESSAGES, VARIABLE_FIELDS, Message

from .test_pysip2_crosscheck import SAMPLES

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|"),
    max_size=30,
).map(lambda s: __import__("unicodedata").normalize("NFC", s))

_DATE = st.builds(
    lambda y, mo, d, z, h, mi, s: f"{y:04d}{mo:02d}{d:02d}{z}{h:02d}{mi:02d}{s:02d}",
    st.integers(1990, 2099), st.integers(1, 12), st.integers(1, 28),
    st.sampled_from(["    ", "   Z"]), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))


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


def _normalised(m: Message) -> Message:
    """Empty strings stay strings; an empty ``extra`` value still round-trips."""
    return m


@settings(max_examples=300, deadline=None)
@given(messages(), st.integers(0, 9), st.booleans())
def test_round_trip_utf8(msg: Message, seq: int, detect: bool) -> None:
    codec = Sip2Codec("utf-8", error_detection=detect)
    decoded = codec.decode(codec.encode(msg, seq))
    assert decoded.message == _normalised(msg)
    if detect and msg.COMMAND not in ("96", "97"):
        assert decoded.sequence == seq


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
