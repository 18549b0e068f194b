"""Sealed PINs (issue 18 §1): the sealed box, the gateway's key file, ``smartlib gateway
keygen``, the look-up message, the doctor's ``pin_key`` check, and patron logins through
the real agent and gateway with an MQTT observer on ``#``."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from nacl.bindings import crypto_box_open
from nacl.public import PrivateKey

from drivers.credential import PatronCredential
from edge.errors import EdgeError
from edge.services.events import EventBus
from edge.services.sessions import SessionService
from smartlib.config import PolicySection, load_settings
from smartlib.errors import ConfigError, SealError
from smartlib.sealing import (
    generate_keypair,
    load_private_key,
    open_pin,
    public_key,
    public_text,
    seal_pin,
    write_private_key,
)
from sync import topics
from sync.cli import gateway as gateway_cli
from sync.doctor import check_pin_key
from sync.errors import GatewayError, InvalidMessageError
from sync.messages import LookupRequest, LookupResponse, decode, encode
from tests.support.pin_keys import make_pin_keys, pin_findings
from tests.sync.gateway.harness import PATRON, SITE, MqttProbe, SyncEnv, new_key, wait_until

PIN = "73915286"  # distinctive: looked for in every captured byte
"""Set as PATRON's PIN in the demo ILS by :func:`_with_pin`."""


# ---- the sealed box -------------------------------------------------------------------------

def test_a_sealed_pin_opens_only_with_the_right_key() -> None:
    key, public = generate_keypair()
    other, _ = generate_keypair()
    sealed = seal_pin(PIN, public_key(public))
    assert open_pin(sealed, key) == PIN
    with pytest.raises(SealError, match="does not open with this gateway's key"):
        open_pin(sealed, other)
    raw = base64.b64decode(sealed)
    assert len(raw) == 32 + 16 + len(PIN)  # ephemeral public key, MAC, ciphertext
    assert seal_pin(PIN, public_key(public)) != sealed  # randomised: no PIN equality leaks
    assert pin_findings(PIN, {"sealed": sealed.encode(), "raw": raw}) == []


def test_the_blob_is_a_libsodium_sealed_box() -> None:
    """crypto_box_seal's layout: ephemeral pk || crypto_box(m, nonce, pk, esk) with
    nonce = BLAKE2b-192(epk || pk); the nonce is rebuilt here with hashlib's BLAKE2b."""
    key, public = generate_keypair()
    raw = base64.b64decode(seal_pin(PIN, public_key(public)))
    epk, box = raw[:32], raw[32:]
    nonce = hashlib.blake2b(epk + bytes(key.public_key), digest_size=24).digest()
    assert crypto_box_open(box, nonce, epk, bytes(key)) == PIN.encode()


def test_a_tampered_or_malformed_blob_is_refused() -> None:
    key, public = generate_keypair()
    raw = bytearray(base64.b64decode(seal_pin(PIN, public_key(public))))
    raw[-1] ^= 1
    with pytest.raises(SealError, match="does not open"):
        open_pin(base64.b64encode(bytes(raw)).decode(), key)
    with pytest.raises(SealError, match="not base64"):
        open_pin("not base64!", key)
    with pytest.raises(SealError, match="1 to 64 bytes"):
        seal_pin("", public_key(public))
    with pytest.raises(SealError, match="32 bytes"):
        public_key(base64.b64encode(b"short").decode())


# ---- the key file and smartlib gateway keygen ----------------------------------------------

def test_keygen_writes_a_0600_key_and_prints_its_public_half(tmp_path: Path) -> None:
    out = tmp_path / "gateway.key"
    res = CliRunner().invoke(gateway_cli, ["keygen", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert os.stat(out).st_mode & 0o777 == 0o600
    printed = res.output.strip()
    assert printed == public_text(load_private_key(out))
    assert open_pin(seal_pin(PIN, public_key(printed)), load_private_key(out)) == PIN
    again = CliRunner().invoke(gateway_cli, ["keygen", "--out", str(out)])
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    assert public_text(load_private_key(out)) == printed


def test_a_key_file_open_to_others_or_not_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_private_key(PrivateKey.generate(), path)
    path.chmod(0o640)
    with pytest.raises(SealError, match="open to others"):
        load_private_key(path)
    path.write_text("bm90IGEga2V5\n")
    path.chmod(0o600)
    with pytest.raises(SealError, match="32 bytes"):
        load_private_key(path)
    with pytest.raises(SealError, match="cannot read"):
        load_private_key(tmp_path / "missing")


def test_the_public_key_setting_must_be_an_x25519_key() -> None:
    with pytest.raises(ConfigError):
        load_settings(None, gateway={"public_key": "abc"})
    _, public = generate_keypair()
    assert load_settings(None, gateway={"public_key": public}).gateway.public_key == public


# ---- the look-up message --------------------------------------------------------------------

def _payload(**fields: Any) -> bytes:
    import json

    return json.dumps({"v": 1, "request_id": new_key(), "kind": "patron", "site": SITE,
                       "device": "kiosk-01", "patron": PATRON, **fields}).encode()


def test_a_lookup_with_a_clear_pin_is_refused_and_an_opened_pin_never_serialised() -> None:
    with pytest.raises(InvalidMessageError, match="PIN in clear"):
        decode(LookupRequest, _payload(pin=PIN))
    _, public = generate_keypair()
    req = decode(LookupRequest, _payload(pin_sealed=seal_pin(PIN, public_key(public))))
    opened = req.with_pin(PIN)
    assert opened.pin == PIN
    assert pin_findings(PIN, {"encode": encode(opened), "repr": repr(opened).encode(),
                              "str": str(opened).encode()}) == []


def test_a_refusal_names_its_reason() -> None:
    resp = LookupResponse(request_id=new_key(), kind="patron", ok=False, reason="pin_unsealable")
    assert decode(LookupResponse, encode(resp)).reason == "pin_unsealable"
    with pytest.raises(InvalidMessageError):
        decode(LookupResponse, encode(resp).replace(b"pin_unsealable", b"something_else"))


# ---- smartlib doctor's pin_key check ------------------------------------------------------

def test_the_doctor_says_whether_pins_can_be_sealed_and_opened(tmp_path: Path) -> None:
    keys, other = make_pin_keys(tmp_path), make_pin_keys(tmp_path, "other.key")

    def level(role: str, **gateway: Any) -> tuple[str, str]:
        c = check_pin_key(load_settings(None, device={"role": role}, gateway=gateway))
        return c["level"], c["finding"]

    assert level("kiosk")[0] == "FAIL" and "PIN logins are refused" in level("kiosk")[1]
    assert level("kiosk", public_key=keys.public_key)[0] == "OK"
    assert level("gate")[0] == "SKIP"
    assert level("gateway")[0] == "FAIL"
    assert level("gateway", private_key_file=str(keys.private_key_file))[0] == "OK"
    assert level("gateway", private_key_file=str(keys.private_key_file),
                 public_key=keys.public_key)[0] == "OK"
    lvl, finding = level("gateway", private_key_file=str(other.private_key_file),
                         public_key=keys.public_key)
    assert lvl == "FAIL" and "not the private half" in finding
    keys.private_key_file.chmod(0o644)
    lvl, finding = level("gateway", private_key_file=str(keys.private_key_file))
    assert lvl == "FAIL" and "open to others" in finding


# ---- logins through the real agent and gateway ----------------------------------------------

class _Observer:
    """Everything the broker delivers on ``#``: topic, payload and MQTT 5 properties."""

    def __init__(self, port: int) -> None:
        self.probe = MqttProbe(port, client_id="pin-observer")
        self.probe.wait_connected()
        self.probe.subscribe("#", qos=1)

    def blobs(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for i, m in enumerate(list(self.probe.messages.queue)):
            parts = [m.topic.encode(), m.payload]
            for name in ("CorrelationData", "ResponseTopic", "UserProperty"):
                value = getattr(m.properties, name, None)
                parts.append(value if isinstance(value, bytes) else str(value).encode())
            out[f"#{i} {m.topic}"] = b"\n".join(parts)
        return out

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in list(self.probe.messages.queue) if m.topic == topic]

    def close(self) -> None:
        self.probe.close()


def _with_pin(env: SyncEnv) -> None:
    env.ils.circulation.set_pin(PATRON, PIN)


def _sessions(env: SyncEnv, store: Any, *, key: str | None = None) -> SessionService:
    return SessionService(store, PolicySection(result_timeout_s=20.0, offline_login="deny"),
                          EventBus(), gateway_key=public_key(key or env.pin_keys.public_key))


def _login(sessions: SessionService, pin: str) -> Any:
    return sessions.login(PatronCredential(source="manual", identifier=PATRON), pin, "en")


def _store_files(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in path.parent.glob(path.name + "*")}


def test_no_pin_in_any_mqtt_payload_log_or_store_file_during_logins(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _with_pin(sync_env)
    observer = _Observer(sync_env.broker.port)
    try:
        store = sync_env.open_store()
        sync_env.start_gateway()
        sync_env.start_agent()
        sessions = _sessions(sync_env, store)
        session = _login(sessions, PIN)
        assert session.offline is False and session.patron_id == PATRON
        with pytest.raises(EdgeError) as wrong:
            _login(sessions, "51862739")
        assert wrong.value.code == "wrong_pin"
        wait_until(lambda: len(observer.payloads(topics.lookup_reply(SITE, "kiosk-01"))) >= 2,
                   10, what="the replies on the observer")
        sent = observer.payloads(topics.lookup(SITE, "kiosk-01"))
        blobs = observer.blobs()
    finally:
        observer.close()
    assert len(sent) == 2
    # What went is the PIN, sealed: the gateway's key opens it, nothing else shows it.
    first = decode(LookupRequest, sent[0])
    assert first.pin_sealed and open_pin(first.pin_sealed, sync_env.pin_keys.private_key) == PIN
    assert b'"pin"' not in b"".join(sent)
    assert pin_findings(PIN, blobs) == []
    assert pin_findings(PIN, {"log": caplog.text.encode()}) == []
    assert pin_findings(PIN, _store_files(sync_env.store_path("kiosk-01"))) == []
    assert pin_findings(PIN, _store_files(Path(sync_env.ledger_url.removeprefix("sqlite:///")))) == []


def test_the_lookups_table_holds_only_the_sealed_pin(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()  # no agent yet: the look-up waits in the table
    sessions = _sessions(sync_env, store)
    failure: list[EdgeError] = []

    def login() -> None:
        try:
            _login(sessions, PIN)
        except EdgeError as exc:  # abandoned below, so offline, where the policy denies
            failure.append(exc)

    t = threading.Thread(target=login)
    t.start()
    try:
        wait_until(lambda: store.query("SELECT 1 FROM lookups"), 10, what="the stored look-up")
        [row] = store.query("SELECT request FROM lookups")
        import json

        request = json.loads(row["request"])
        assert "pin" not in request and "password" not in request
        assert open_pin(request["pin_sealed"], sync_env.pin_keys.private_key) == PIN
        assert pin_findings(PIN, _store_files(sync_env.store_path("kiosk-01"))) == []
    finally:
        store.lookups.abandon(store.query("SELECT id FROM lookups")[0]["id"])
        t.join(30)
    assert [e.code for e in failure] == ["offline_login_denied"]


@pytest.mark.parametrize("gateway_key", ["none", "wrong"])
def test_a_gateway_that_cannot_open_the_pin_refuses_the_login_and_says_why(
        sync_env: SyncEnv, caplog: pytest.LogCaptureFixture, gateway_key: str) -> None:
    caplog.set_level(logging.INFO)
    _with_pin(sync_env)
    key_file = None if gateway_key == "none" else make_pin_keys(sync_env.tmp, "wrong.key").private_key_file
    observer = _Observer(sync_env.broker.port)
    try:
        store = sync_env.open_store()
        gw = sync_env.start_gateway(pin_key_file=key_file)
        sync_env.start_agent()
        with pytest.raises(EdgeError) as refused:
            _login(_sessions(sync_env, store), PIN)
        assert refused.value.code == "pin_check_unavailable"
        # the observer is another connection: the box may have had the reply first
        wait_until(lambda: observer.payloads(topics.lookup_reply(SITE, "kiosk-01")), 10,
                   what="the reply at the observer")
        [reply] = observer.payloads(topics.lookup_reply(SITE, "kiosk-01"))
        blobs = observer.blobs()
    finally:
        observer.close()
    resp = decode(LookupResponse, reply)
    assert resp.ok is False and resp.reason == "pin_unsealable"
    assert gw.stats["pin_unsealable"] == 1 and gw.stats["lookups"] == 0
    assert "the sealed PIN cannot be opened" in caplog.text
    if gateway_key == "none":
        assert "no [gateway] private_key_file: sealed PINs cannot be opened" in caplog.text
    else:
        assert "does not open with this gateway's key" in caplog.text
    assert pin_findings(PIN, {**blobs, "log": caplog.text.encode()}) == []


def test_a_box_without_the_public_key_refuses_pin_logins_but_not_card_logins(
        sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway()
    sync_env.start_agent()
    sessions = SessionService(store, PolicySection(result_timeout_s=20.0), EventBus())
    with pytest.raises(EdgeError) as refused:
        _login(sessions, PIN)
    assert refused.value.code == "pin_check_unavailable"
    assert store.query("SELECT 1 FROM lookups") == []  # nothing was stored or sent
    card = sessions.login(PatronCredential(source="card", identifier=PATRON), None, "en")
    assert card.offline is False


def test_a_configured_but_unusable_key_file_stops_the_gateway(sync_env: SyncEnv) -> None:
    from sync.gateway.service import Gateway

    sync_env.pin_keys.private_key_file.chmod(0o644)
    with pytest.raises(GatewayError, match="open to others"):
        Gateway.from_settings(load_settings(sync_env.gateway_config()))
