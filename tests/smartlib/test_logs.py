from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from smartlib.logs import (
    TRACE,
    JsonFormatter,
    MaskingFilter,
    configure_logging,
    mask_identifier,
    mask_text,
    mask_value,
    uninstall_record_masking,
)

SECRETS = ["4321", "s3cretPW", "kioskpass", "termpw", "hunter2", "two words"]


@pytest.mark.parametrize(
    "line",
    [
        # key=value and key: value
        "login pin=4321 patron=2000001",
        "login PIN=4321",
        "password: s3cretPW",
        "passwd=s3cretPW",
        "pwd = s3cretPW",
        "ils_password=kioskpass and PIN=4321",
        "pin_code=4321",
        "GET /login?patron=2000001&pin=4321&x=1",
        # free-form
        "PIN 4321",
        "patron typed PIN 4321 at kiosk-01",
        "PIN is 4321.",
        "passwd hunter2",
        "password 'two words'",
        # JSON and Python reprs
        'payload {"pin": "4321", "patron": "2000001"}',
        'payload {"pin":4321}',
        '{"password": "two words", "x": 1}',
        "{'password': 's3cretPW'}",
        # credentials in a URL
        "connecting to mqtt://kiosk-01:s3cretPW@broker:1883",
        # SIP2, AD/CO/AC after a '|'
        "sent 63000                  20261123    120000          AOVNLIB|AA2000001|AD4321|AY1AZF000",
        "sent 9300CNkiosk|COkioskpass|CPMAIN|AY0AZF4AA",
        "sent 9300CNkiosk|COkioskpass\r",
        "63...AOinst|AA123|AD4321|",
        "1720261123    120000AOinst|AB300|ACtermpw|",
        "raw '63...|AA2000001|AD4321|AY1'",
        # SIP2, AD/CO/AC first, right after the fixed part
        "sent 9300COkioskpass|CNkiosk|",
        "2300120261123    120000AD4321|AOinst|AA2000001|",
        "6300120261123    120000          AD4321|AOinst|AA2000001|",
        "11YN20261123    120000                  AD4321|AOinst|AA2000001|AB300|",
        "3520261123    120000ACtermpw|AOinst|AA2000001|",
    ],
)
def test_mask_text_removes_secrets(line: str) -> None:
    masked = mask_text(line)
    for s in SECRETS:
        assert s not in masked
    assert "***" in masked


def test_mask_keeps_the_rest_of_the_line() -> None:
    assert mask_text("login pin=4321 patron=2000001") == "login pin=*** patron=2000001"
    assert mask_text('{"pin": "4321", "patron": "2000001"}') == '{"pin": "***", "patron": "2000001"}'
    assert mask_text("PIN 4321 accepted") == "PIN *** accepted"
    assert mask_text("mqtt://kiosk-01:pw@broker:1883") == "mqtt://kiosk-01:***@broker:1883"
    assert (mask_text("2300120261123    120000AD4321|AOinst|AA2000001|")
            == "2300120261123    120000AD***|AOinst|AA2000001|")
    assert mask_text("9300CNkiosk|COkioskpass|CPMAIN|") == "9300CNkiosk|CO***|CPMAIN|"


@pytest.mark.parametrize(
    "line",
    [
        "checkout item 30001234 for patron 2000001 ok",
        "AA2000001|AB30001234|",
        "PIN entry failed for patron 2000001",
        "PIN entry, then retry",
        "wrong PIN (3 attempts left)",
        "Enter your PIN now",
        "password changed for patron 2000001",
        "token expired at 12:00",
        "ADMIN mode enabled, COPY of report saved",
        "spinning 1234 times; pinned 3 tabs",
        "mapping shipping 5",
        "AOinst|AB300|CH props|",
        "http://broker:1883/status",
        "pin=",
        "inventory 3 tags E004015000000001 E004015000000002",
    ],
)
def test_mask_keeps_ordinary_text(line: str) -> None:
    assert mask_text(line) == line


def test_mask_is_idempotent() -> None:
    once = mask_text("PIN 4321 pin=4321 |AD4321| 9300COpw|")
    assert mask_text(once) == once


def test_mask_value_by_key_name() -> None:
    masked = mask_value("", {
        "pin": "4321", "patronPin": "4321", "ils_password": "x", "AD": "4321", "CO": "pw",
        "mapping": "a", "shipping": "b", "patron": "2000001",
        "nested": [{"access_token": "t"}, "pin=4321"],
    })
    assert masked == {
        "pin": "***", "patronPin": "***", "ils_password": "***", "AD": "***", "CO": "***",
        "mapping": "a", "shipping": "b", "patron": "2000001",
        "nested": [{"access_token": "***"}, "pin=***"],
    }


def test_masking_filter_on_a_real_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("smartlib.test.mask")
    filt = MaskingFilter()
    logger.addFilter(filt)
    try:
        with caplog.at_level(logging.INFO, logger="smartlib.test.mask"):
            logger.info("login %s pin=%s", "2000001", "4321")
            logger.info("raw %r", "63...|AA2000001|AD4321|AY1")
            logger.info("typed PIN %s", "4321")
    finally:
        logger.removeFilter(filt)
    text = caplog.text
    assert "4321" not in text and "2000001" in text


@pytest.fixture
def clean_logging() -> Iterator[logging.Logger]:
    """Undo what configure_logging does to the process-wide logging state."""
    root = logging.getLogger()
    saved_level, saved_handlers, saved_filters = root.level, list(root.handlers), list(root.filters)
    try:
        yield root
    finally:
        uninstall_record_masking()
        for h in list(root.handlers):
            if h not in saved_handlers:
                root.removeHandler(h)
        for f in list(root.filters):
            if f not in saved_filters:
                root.removeFilter(f)
        root.setLevel(saved_level)


def test_configure_logging_masks_and_writes_json(
    capsys: pytest.CaptureFixture[str], clean_logging: logging.Logger
) -> None:
    configure_logging("TRACE", json_output=True)
    log = logging.getLogger("smartlib.test.json")
    log.log(TRACE, "tx 02 00 07 FF 65 6E 61")
    log.info("patron login", extra={"fields": {"patron": "2000001", "pin": "4321"}})
    log.info("sip2 >> %s", "9300COkioskpass|CNkiosk|")
    lines = [json.loads(ln) for ln in capsys.readouterr().err.splitlines()]
    assert lines[0]["level"] == "TRACE" and "65 6E 61" in lines[0]["msg"]
    assert lines[1]["pin"] == "***" and lines[1]["patron"] == "2000001"
    assert lines[2]["msg"] == "sip2 >> 9300CO***|CNkiosk|"


def test_configure_logging_puts_the_filter_on_root_and_its_handler(
    clean_logging: logging.Logger,
) -> None:
    configure_logging("INFO")
    configure_logging("INFO")  # idempotent: one handler, one root filter
    root = clean_logging
    ours = [h for h in root.handlers if getattr(h, "_smartlib", False)]
    assert len(ours) == 1
    assert any(isinstance(f, MaskingFilter) for f in ours[0].filters)
    assert sum(isinstance(f, MaskingFilter) for f in root.filters) == 1


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_third_party_handler_off_root_is_masked(clean_logging: logging.Logger) -> None:
    configure_logging("INFO")
    lib = logging.getLogger("thirdparty.lib")
    handler = _ListHandler()
    lib.addHandler(handler)
    lib.propagate = False
    try:
        lib.warning("auth with password=%s", "s3cretPW")
        lib.warning("login %s", "9300CNkiosk|COkioskpass|")
        try:
            raise RuntimeError("pin=4321")
        except RuntimeError:
            lib.exception("failed")
    finally:
        lib.removeHandler(handler)
        lib.propagate = True
    text = "\n".join(handler.lines)
    assert "password=***" in text and "CO***" in text and "RuntimeError: pin=***" in text
    for s in SECRETS:
        assert s not in text


def test_records_without_secrets_keep_their_args(clean_logging: logging.Logger) -> None:
    # uvicorn's access formatter unpacks record.args: masking must not drop them needlessly.
    configure_logging("INFO")
    lib = logging.getLogger("thirdparty.access")
    seen: list[logging.LogRecord] = []
    handler = _ListHandler()
    handler.emit = seen.append  # type: ignore[method-assign]
    lib.addHandler(handler)
    lib.propagate = False
    try:
        lib.info('%s - "%s %s"', "127.0.0.1", "GET", "/health")
        lib.info("%s pin=%s", "GET", "4321")
    finally:
        lib.removeHandler(handler)
        lib.propagate = True
    assert seen[0].args == ("127.0.0.1", "GET", "/health")
    assert seen[1].args is None and seen[1].getMessage() == "GET pin=***"


def test_bad_log_arguments_do_not_leak(clean_logging: logging.Logger) -> None:
    configure_logging("INFO")
    lib = logging.getLogger("thirdparty.bad")
    handler = _ListHandler()
    lib.addHandler(handler)
    lib.propagate = False
    try:
        lib.info("pin=%s %s", "4321")  # too few arguments
    finally:
        lib.removeHandler(handler)
        lib.propagate = True
    assert handler.lines and "bad log arguments" in handler.lines[0]
    assert "4321" not in handler.lines[0]


def test_json_formatter_plain_record() -> None:
    rec = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    obj = json.loads(JsonFormatter().format(rec))
    assert obj["msg"] == "hello world" and obj["level"] == "WARNING"


def test_mask_identifier() -> None:
    assert mask_identifier("2000001") == "****001"
    assert mask_identifier("12") == "**"


def test_the_drivers_trace_level_is_the_common_one() -> None:
    # drivers may not import smartlib, so it keeps its own constant; the two must agree.
    from drivers.trace import TRACE as DRIVERS_TRACE
    from smartlib.logs import TRACE

    assert DRIVERS_TRACE == TRACE == 5


def test_email_addresses_are_masked_the_sip2_field_kept() -> None:
    from smartlib.logs import mask_text

    assert mask_text("receipt to ban.doc@example.org sent") == "receipt to b***@example.org sent"
    assert mask_text("64YY|AA2000003|BEpatron2000003@example.org|BF0912|AY1AZ") == \
        "64YY|AA2000003|BEp***@example.org|BF0912|AY1AZ"
    assert mask_text("mqtt://central:pw@127.0.0.1:1883") == "mqtt://central:***@127.0.0.1:1883"
    assert mask_text("b***@example.org") == "b***@example.org"
