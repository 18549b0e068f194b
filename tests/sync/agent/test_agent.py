"""The agent: cache snapshots and deltas into edge stores, status and last will, CLI."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from smartlib.config import load_settings
from sync import topics
from sync.gateway.cachefeed import publish_snapshot_files
from tests.sync.gateway.harness import (
    SITE,
    SyncEnv,
    items,
    journal,
    mqtt_client,
    wait_until,
)


def test_snapshot_of_100k_items_reaches_an_edge_and_a_delta_a_second_edge(sync_env: SyncEnv,
                                                                          tmp_path: Path) -> None:
    csv_path = tmp_path / "items.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item_id", "title", "usage", "value"])
        w.writerows([f"4{i:07d}", f"Sách số {i}", 1, 50000] for i in range(100_000))
    kiosk_store, gate_store = sync_env.open_store("kiosk-01"), sync_env.open_store("gate-01")
    sync_env.start_gateway()
    sync_env.start_agent("kiosk-01")
    sync_env.start_agent("gate-01")
    settings = load_settings(sync_env.gateway_config())
    t0 = time.monotonic()
    sent = publish_snapshot_files(settings, SITE, items=csv_path, chunk_size=5000)
    assert sent == {"items": (100_000, 20)}
    for store in (kiosk_store, gate_store):
        wait_until(lambda s=store: s.cache.counts()["items"] == 100_000, 120, 0.2,
                   what="100k items in the edge cache")
    snapshot_s = time.monotonic() - t0
    assert kiosk_store.cache.item("40099999").title == "Sách số 99999"
    # A checkout at the kiosk: the gate learns the new loan from the delta.
    item = items(1)[0]
    key = journal(kiosk_store, "checkout", item, offline=False)
    entry = kiosk_store.outbox.wait_for_result(key, 20)
    assert entry is not None and entry.state == "applied"
    t1 = time.monotonic()
    wait_until(lambda: gate_store.cache.loan(item) is not None, 30, 0.005, what="delta at the gate")
    delta_s = time.monotonic() - t1
    print(json.dumps({"snapshot_100k_s": round(snapshot_s, 2),
                      "delta_to_second_edge_after_result_s": round(delta_s, 4)}))


def test_status_is_retained_online_and_the_last_will_says_offline(sync_env: SyncEnv) -> None:
    sync_env.open_store("gate-01")
    agent = sync_env.proc("agent", ["sync", "--config", str(sync_env.agent_config("gate-01"))])
    agent.start()
    with mqtt_client(sync_env.broker.port) as staff:
        staff.subscribe(topics.status(SITE, "gate-01"))
        first = json.loads(staff.get(20).payload)
        assert first["state"] == "online" and first["backlog"] == 0
        agent.kill9()  # no clean disconnect: the broker publishes the will
        second = json.loads(staff.get(60).payload)
        assert second["state"] == "offline"
    with mqtt_client(sync_env.broker.port) as late:
        late.subscribe(topics.status(SITE, "gate-01"))
        msg = late.get(10)
        assert msg.retain and json.loads(msg.payload)["state"] == "offline"


def test_invalid_results_are_rejected_and_logged(sync_env: SyncEnv, caplog: Any) -> None:
    store = sync_env.open_store()
    agent = sync_env.start_agent()
    key = journal(store, "checkout", items(1)[0])
    with mqtt_client(sync_env.broker.port) as rogue:
        rogue.publish(topics.result(SITE, "kiosk-01"), b'{"v": 9}')
        rogue.publish(topics.result(SITE, "kiosk-01"), json.dumps({
            "v": 1, "key": key, "kind": "checkout", "site": SITE, "device": "gate-01",
            "status": "applied", "ok": True}).encode())
    wait_until(lambda: agent.stats.rejected >= 2, 10, what="rejections")
    assert store.outbox.get(key).state in ("pending", "sent")
    assert "version 9" in caplog.text and "gate-01 on our topic" in caplog.text
