"""PatronCredential never shows the identifier or the raw bytes in its repr/str."""

from __future__ import annotations

import logging

import pytest

from drivers.credential import PatronCredential, mask_identifier


def test_repr_and_str_mask_identifier_and_raw() -> None:
    cred = PatronCredential(source="card", identifier="P00012345", raw=b"P00012345",
                            reader="Virtual PCD 00 00")
    for text in (repr(cred), str(cred), f"{cred}", f"{[cred]}"):
        assert "P00012345" not in text
        assert "00012" not in text
        assert "******345" in text
        assert "9 bytes masked" in text


def test_logging_a_credential_masks_it(caplog: pytest.LogCaptureFixture) -> None:
    cred = PatronCredential(source="barcode", identifier="ABCDEFGH", raw=b"ABCDEFGH")
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("got %s / %r", cred, cred)
    assert "ABCDEFGH" not in caplog.text
    assert "*****FGH" in caplog.text


def test_fields_still_hold_the_values() -> None:
    cred = PatronCredential(source="manual", identifier="12", raw=b"\x01")
    assert cred.identifier == "12" and cred.raw == b"\x01"
    assert cred.masked == "**"


@pytest.mark.parametrize(("kwargs", "exc"), [
    ({"source": "nfc", "identifier": "1"}, ValueError),
    ({"source": "card", "identifier": ""}, ValueError),
    ({"source": "card", "identifier": "1", "raw": "str"}, TypeError),
])
def test_invalid(kwargs: dict, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        PatronCredential(**kwargs)


def test_mask_identifier() -> None:
    assert mask_identifier("1234567") == "****567"
    assert mask_identifier("123") == "***"
