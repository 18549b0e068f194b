from __future__ import annotations

import json
import logging

import pytest

from smartlib.logs import (
    TRACE,
    JsonFormatter,
    MaskingFilter,
    configure_logging,
    mask_identifier,
    mask_text,
)

SECRETS = ["4321", "s3cretPW", "kioskpass"]


@pytest.mark.parametrize(
    "line",
    [
        "login pin=4321 patron=2000001",
        'payload {"pin": "4321", "patron": "2000001"}',
        "password: s3cretPW",
        "sent 63000                  20261123    120000          AOVNLIB|AA2000001|AD4321|AY1AZF000",
        "sent 9300CNkiosk|COkioskpass|CPMAIN|AY0AZF4AA",
        "sent 9300CNkiosk|COkioskpass\r",
        "ils_password=kioskpass and PIN=4321",
    ],
)
def test_mask_text_removes_secrets(line: str) -> None:
    masked = mask_text(line)
    for s in SECRETS:
        assert s not in masked
    assert "***" in masked


def test_mask_keeps_ordinary_text() -> None:
    line = "checkout item 30001234 for patron 2000001 ok"
    assert mask_text(line) == line
    assert mask_text("AA2000001|AB30001234|") == "AA2000001|AB30001234|"


def test_masking_filter_on_a_real_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("smartlib.test.mask")
    filt = MaskingFilter()
    logger.addFilter(filt)
    try:
        with caplog.at_level(logging.INFO, logger="smartlib.test.mask"):
            logger.info("login %s pin=%s", "2000001", "4321")
            logger.info("raw %r", "63...|AA2000001|AD4321|AY1")
    finally:
        logger.removeFilter(filt)
    text = caplog.text
    assert "4321" not in text and "2000001" in text


def test_configure_logging_masks_and_writes_json(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_level, saved = root.level, list(root.handlers)
    try:
        configure_logging("TRACE", json_output=True)
        log = logging.getLogger("smartlib.test.json")
        log.log(TRACE, "tx 02 00 07 FF 65 6E 61")
        log.info("patron login", extra={"fields": {"patron": "2000001", "pin": "4321"}})
        lines = [json.loads(ln) for ln in capsys.readouterr().err.splitlines()]
        assert lines[0]["level"] == "TRACE" and "65 6E 61" in lines[0]["msg"]
        assert lines[1]["pin"] == "***" and lines[1]["patron"] == "2000001"
    finally:
        for h in list(root.handlers):
            if h not in saved:
                root.removeHandler(h)
        root.setLevel(saved_level)


def test_json_formatter_plain_record() -> None:
    rec = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    obj = json.loads(JsonFormatter().format(rec))
    assert obj["msg"] == "hello world" and obj["level"] == "WARNING"


def test_mask_identifier() -> None:
    assert mask_identifier("2000001") == "****001"
    assert mask_identifier("12") == "**"
