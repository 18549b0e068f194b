"""No crash during a PIN login leaves the PIN anywhere (issue 18 §1: "no … crash dump holds a
PIN in clear"). An exception is raised inside the login path, at two points where the PIN
is in the request and in local variables, with the PIN in its message (as a library that
echoes its input would); at that moment a faulthandler dump of every thread is taken (what
``PYTHONFAULTHANDLER=1`` writes to the journal when the watchdog kills a hung service).
Then the PIN is looked for, in every encoding :func:`pin_findings` knows, in the API's
answer, every log record (message and traceback, as the product's text and JSON formatters
write them), the dump, the formatted exception, every row of every table of the edge store
and the store's files."""

from __future__ import annotations

import faulthandler
import logging
import sqlite3
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.api import create_app
from edge.services import sessions as sessions_module
from edge.services.container import EdgeServices
from smartlib.config import Settings
from smartlib.logs import JsonFormatter, secret_scope
from tests.edge.doubles import Ils
from tests.support.pin_keys import pin_findings

PIN = "918273"
PATRON = "2000001"
DEV = {"Authorization": "Bearer dev-tok"}


@pytest.fixture
def ils() -> Ils:
    return Ils(patrons={PATRON: PIN})


@pytest.fixture
def client(settings: Settings, services: EdgeServices) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services, start_services=False),
                    raise_server_exceptions=False) as c:
        yield c


class Crash:
    """Replaces a function of the login path: dumps every thread's stack, then raises an
    error whose message holds the PIN it was given."""

    def __init__(self, tmp_path: Path) -> None:
        self.dump = tmp_path / "faulthandler.txt"
        self.formatted = ""

    def __call__(self, pin: str, *_: Any, **__: Any) -> Any:
        with self.dump.open("w") as fh:
            faulthandler.dump_traceback(fh, all_threads=True)
        raise ValueError(f"cannot use {pin!r}: the library failed")


def _store_rows(path: Path) -> bytes:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return b"\n".join(repr(conn.execute(f'SELECT * FROM "{t}"').fetchall()).encode()
                          for t in tables)
    finally:
        conn.close()


def _store_files(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in path.parent.glob(path.name + "*")}


def _log_blobs(caplog: pytest.LogCaptureFixture) -> dict[str, bytes]:
    text, js = logging.Formatter(), JsonFormatter()
    return {"log text": "\n".join(text.format(r) for r in caplog.records).encode(),
            "log json": "\n".join(js.format(r) for r in caplog.records).encode(),
            "caplog": caplog.text.encode()}


@pytest.mark.parametrize("where", ["seal_pin", "hash_pin"])
def test_a_crash_inside_a_pin_login_leaves_no_pin_anywhere(
        where: str, client: TestClient, settings: Settings, services: EdgeServices,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    crash = Crash(tmp_path)
    # seal_pin: before the look-up leaves; hash_pin: after the ILS confirmed the PIN
    monkeypatch.setattr(sessions_module, where, crash)
    r = client.post("/sessions", headers=DEV, json={
        "credential": {"source": "manual", "identifier": PATRON, "pin": PIN}, "language": "en"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert crash.dump.exists() and "sessions.py" in crash.dump.read_text()
    logged = _log_blobs(caplog)
    assert b"unexpected error on POST /sessions" in logged["log text"]
    assert b"SecretWithheldError: ValueError (its message is withheld" in logged["log text"]
    assert b"Traceback" in logged["log text"]  # the locations are kept, for the fix
    blobs = {"answer": r.content, "faulthandler": crash.dump.read_bytes(), **logged,
             "rows": _store_rows(settings.store.path), **_store_files(settings.store.path)}
    assert pin_findings(PIN, blobs) == []


def test_an_exception_leaving_a_secret_scope_is_withheld_with_its_traceback() -> None:
    def inner(pin: str) -> None:
        try:
            int(pin + "x")
        except ValueError as exc:
            raise RuntimeError(f"while reading {pin}") from exc

    with pytest.raises(Exception) as caught, secret_scope(PIN):
        inner(PIN)
    shown = "".join(traceback.format_exception(caught.value))
    assert type(caught.value).__name__ == "SecretWithheldError"
    assert "RuntimeError" in shown and "in inner" in shown and PIN not in shown
    # a secret in a chained cause only is withheld too; an exception without one passes
    with pytest.raises(KeyError), secret_scope(PIN):
        raise KeyError("item-1")
    with pytest.raises(Exception) as chained, secret_scope(PIN):
        try:
            raise ValueError(PIN)
        except ValueError as exc:
            raise LookupError("no patron") from exc
    assert PIN not in "".join(traceback.format_exception(chained.value))
    # a kept type (the caller's own error) passes, without a cause that shows the secret
    with pytest.raises(LookupError) as kept, secret_scope(PIN, keep=(LookupError,)):
        try:
            raise ValueError(f"bad {PIN}")
        except ValueError as exc:
            raise LookupError("pin_check_unavailable") from exc
    shown = "".join(traceback.format_exception(kept.value))
    assert "pin_check_unavailable" in shown and "ValueError" in shown and PIN not in shown


def test_log_lines_inside_a_secret_scope_never_show_it(caplog: pytest.LogCaptureFixture) -> None:
    from smartlib.logs import install_record_masking, uninstall_record_masking

    install_record_masking()
    try:
        with caplog.at_level(logging.INFO), secret_scope(PIN):
            logging.getLogger("third.party").info("sent %s to the ILS", PIN)
    finally:
        uninstall_record_masking()
    assert "sent *** to the ILS" in caplog.text and PIN not in caplog.text
