"""Cross-checks against pysip2 (an independent implementation), for every message type.

* what we encode, pysip2 decodes to the same field values;
* what pysip2 encodes (from models built here, not by our encoder), we decode to our sample.
"""

from __future__ import annotations

import pysip2
import pytest
from pysip2.models import MESSAGE_SPECS_BY_ID

from sync.sip2.codec import Sip2Codec
from sync.sip2.messages import CheckoutResponse, Message, PatronStatusResponse
from tests.support.sip2_samples import D2, SAMPLES, D, to_pysip2_kwargs


def test_every_message_type_has_a_sample() -> None:
    wanted = {"93", "94", "99", "98", "63", "64", "23", "24", "11", "12", "09", "10", "29",
              "30", "65", "66", "17", "18", "37", "38", "35", "36", "97", "96", "15", "16",
              "19", "20", "01"}
    assert {m.COMMAND for m in SAMPLES} == wanted


def _ids(m: Message) -> str:
    return f"{m.COMMAND}-{type(m).__name__}"


@pytest.mark.parametrize("checksummed", [False, True])
@pytest.mark.parametrize("msg", SAMPLES, ids=_ids)
def test_pysip2_decodes_what_we_encode(msg: Message, checksummed: bool) -> None:
    frame = Sip2Codec("utf-8", error_detection=checksummed).encode(msg, 7)
    decoded = pysip2.decode_message(frame, encoding="utf-8")
    assert type(decoded.message) is MESSAGE_SPECS_BY_ID[msg.COMMAND].struct_type
    theirs = decoded.message
    for key, value in to_pysip2_kwargs(msg).items():
        assert getattr(theirs, key) == value, key
    if checksummed and msg.COMMAND not in ("96", "97"):
        assert decoded.sequence_number == 7


@pytest.mark.parametrize("checksummed", [False, True])
@pytest.mark.parametrize("msg", SAMPLES, ids=_ids)
def test_we_decode_what_pysip2_encodes(msg: Message, checksummed: bool) -> None:
    model = MESSAGE_SPECS_BY_ID[msg.COMMAND].struct_type(**to_pysip2_kwargs(msg))
    frame = pysip2.encode_message(model, sequence_number=4 if checksummed else None,
                                  checksum=checksummed, encoding="utf-8")
    decoded = Sip2Codec("utf-8", require_checksum=checksummed).decode(frame)
    assert decoded.message == msg
    if checksummed and msg.COMMAND not in ("96", "97"):
        assert decoded.sequence == 4


CP850_SAMPLES = [
    CheckoutResponse(ok=True, renewal_ok=False, magnetic_media=False, desensitize=True,
                     transaction_date=D, institution_id="VNLIB", patron_id="2000001",
                     item_id="30000100", title="Café Ñandú à la Müller", due_date=D2),
    PatronStatusResponse(transaction_date=D, institution_id="VNLIB", patron_id="2000001",
                         personal_name="Zoë Ångström", screen_message=("Größe ½",)),
]


@pytest.mark.parametrize("msg", CP850_SAMPLES, ids=_ids)
def test_cp850_agrees_with_pysip2(msg: Message) -> None:
    frame = Sip2Codec("cp850", error_detection=True).encode(msg, 1)
    assert pysip2.decode_message(frame, encoding="cp850").checksum == frame[-5:-1].decode()
    model = MESSAGE_SPECS_BY_ID[msg.COMMAND].struct_type(**to_pysip2_kwargs(msg))
    theirs = pysip2.encode_message(model, sequence_number=1, checksum=True, encoding="cp850")
    assert Sip2Codec("cp850").decode(theirs).message == msg
