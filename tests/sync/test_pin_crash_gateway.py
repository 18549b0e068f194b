"""No failure in the gateway's handling of an opened PIN leaves it anywhere: logins through
the real agent and gateway (in process) to the demo ILS, where the SIP2 request cannot be
built (a PIN holding the field delimiter ``|``: the codec's error used to quote the value)
or the ILS client crashes with the PIN in its message, a faulthandler dump of every thread
taken at that moment. The PIN is then looked for in every MQTT message (an observer on
``#``), every log record, the dump, the gateway's ledger (dead letters included) and the
edge store's files."""

from __future__ import annotations

import faulthandler
import logging
from pathlib import Path
from typing import Any

import pytest

from edge.errors import EdgeError
from sync import topics
from sync.gateway.applier import Applier
from sync.messages import LookupResponse, decode
from tests.support.pin_keys import pin_findings
from tests.sync.gateway.harness import PATRON, SITE, SyncEnv, wait_until
from tests.sync.test_sealed_pin import _login, _Observer, _sessions, _store_files


def _ledger_files(env: SyncEnv) -> dict[str, bytes]:
    return _store_files(Path(env.ledger_url.removeprefix("sqlite:///")))


def _run_login(env: SyncEnv, pin: str) -> tuple[LookupResponse, dict[str, bytes]]:
    observer = _Observer(env.broker.port)
    try:
        store = env.open_store()
        env.start_gateway()
        env.start_agent()
        with pytest.raises(EdgeError):
            _login(_sessions(env, store), pin)
        wait_until(lambda: observer.payloads(topics.lookup_reply(SITE, "kiosk-01")), 10,
                   what="the look-up's reply")
        [reply] = observer.payloads(topics.lookup_reply(SITE, "kiosk-01"))
        blobs = observer.blobs()
    finally:
        observer.close()
    return decode(LookupResponse, reply), blobs


def test_a_pin_the_sip2_codec_cannot_send_is_never_quoted(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pin = "73|915286"
    sync_env.ils.circulation.set_pin(PATRON, pin)
    resp, blobs = _run_login(sync_env, pin)
    assert resp.ok is False and "Sip2FieldError" in (resp.error or "")
    assert "AD value must not contain '|'" in caplog.text
    assert "(value withheld: a secret field)" in caplog.text
    everything = {**blobs, "log": caplog.text.encode(), **_ledger_files(sync_env),
                  **_store_files(sync_env.store_path("kiosk-01"))}
    assert pin_findings(pin, everything) == []
    assert pin_findings("915286", everything) == []


def test_a_crash_with_the_pin_in_its_message_leaves_no_pin(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    pin = "73915286"
    sync_env.ils.circulation.set_pin(PATRON, pin)
    dump = tmp_path / "faulthandler.txt"

    def crash(self: Applier, req: Any) -> Any:
        with dump.open("w") as fh:
            faulthandler.dump_traceback(fh, all_threads=True)
        raise RuntimeError(f"the ILS client crashed while sending {req.pin!r}")

    monkeypatch.setattr(Applier, "lookup", crash)
    resp, blobs = _run_login(sync_env, pin)
    assert resp.ok is False and resp.error == "look-up failed: RuntimeError"
    assert "SecretWithheldError" in caplog.text or "message is withheld" in caplog.text
    assert "replies.py" in dump.read_text()
    everything = {**blobs, "log": caplog.text.encode(), "dump": dump.read_bytes(),
                  **_ledger_files(sync_env), **_store_files(sync_env.store_path("kiosk-01"))}
    assert pin_findings(pin, everything) == []
