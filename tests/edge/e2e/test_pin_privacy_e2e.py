"""A patron's PIN through the whole product (issue 18 §1): ``smartlib serve`` seals it to
the gateway's key (made by ``smartlib gateway keygen``), ``smartlib sync`` carries the
sealed blob, ``smartlib gateway run`` opens it for SIP2. An MQTT observer on ``#`` (with
the gateway's credentials, which may read the whole site) sees no PIN in any payload or
property; no process log, edge store file or ledger holds it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from hardware_sim.ils.data import DEMO_PIN_COST, hash_pin
from sync.messages import LookupRequest, decode
from tests.edge.e2e.conftest import DEVICE_TOKEN, SITE, World, login
from tests.support.pin_keys import pin_findings
from tests.sync.gateway.harness import MqttProbe, wait_until

PIN = "49271863"  # distinctive: looked for in every captured byte


def _set_pin(world: World, patron: str) -> None:
    """Give ``patron`` a distinctive PIN in the demo ILS (``sim serve`` reads it per request)."""
    with sqlite3.connect(world.ils.path, timeout=10) as db:
        db.execute("UPDATE patrons SET pin_hash = ? WHERE id = ?",
                   (hash_pin(PIN, os.urandom(16), DEMO_PIN_COST), patron))


def _files(*paths: Path) -> dict[str, bytes]:
    out = {}
    for path in paths:
        for f in path.parent.glob(path.name + "*"):
            if f.is_file():
                out[str(f.name)] = f.read_bytes()
    return out


def test_no_pin_on_the_wire_in_logs_or_on_disk_during_online_logins(world: World) -> None:
    patron = world.patron()
    _set_pin(world, patron)
    observer = MqttProbe(world.broker.port, user="gateway", password=world.credentials["gateway"],
                         client_id="e2e-pin-observer")
    try:
        observer.wait_connected()
        observer.subscribe("#", qos=1)
        api = world.api(DEVICE_TOKEN)
        sid = login(api, patron, PIN)
        assert api.get(f"/sessions/{sid}").json()["offline"] is False
        assert api.delete(f"/sessions/{sid}").status_code == 204
        wrong = api.post("/sessions", json={"credential": {
            "source": "manual", "identifier": patron, "pin": "83619274"}, "language": "en"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "wrong_pin"
        lookup_topic = f"smartlib/v1/{SITE}/kiosk-01/lookup"
        wait_until(lambda: sum(m.topic == lookup_topic for m in list(observer.messages.queue)) >= 2,
                   20, "the observer to see both look-ups")
        seen = list(observer.messages.queue)
    finally:
        observer.close()
    blobs = {f"#{i} {m.topic}": b"\n".join([
        m.topic.encode(), m.payload, getattr(m.properties, "CorrelationData", b"") or b"",
        str(getattr(m.properties, "ResponseTopic", "")).encode(),
        str(getattr(m.properties, "UserProperty", "")).encode()]) for i, m in enumerate(seen)}
    lookups = [decode(LookupRequest, m.payload) for m in seen if m.topic == lookup_topic]
    assert lookups and all(r.pin_sealed for r in lookups if r.kind == "patron")
    assert pin_findings(PIN, blobs) == []
    logs = {p.name: p.read_bytes() for p in world.tmp.glob("*.log")}
    assert {"gateway.log", "serve.log"} <= set(logs)
    assert pin_findings(PIN, logs) == []
    assert pin_findings(PIN, _files(world.store_path("kiosk-01"), world.tmp / "ledger.db")) == []
