"""The site view through a real Mosquitto: agents see each other's status (and the last
will of one killed), today's counters and alarms of the site's other devices; and an
entry the edge accepted offline after its first (online) send reaches the gateway with
``offline=true`` (issue 9, B2)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from edge.store import SiteRepository
from edge.store.connection import stamp
from sync import topics
from sync.agent.service import AgentTuning, SyncAgent
from sync.messages import Alarm, DeviceStatus, encode
from tests.sync.gateway.harness import (
    SITE,
    SyncEnv,
    items,
    journal,
    mqtt_client,
    wait_until,
)

FAST = AgentTuning(ops_interval_s=0.2, poll_s=0.1, offline_check_s=0.1, resend_s=2.0,
                   stats_live_interval_s=1.0)


def _agent(env: SyncEnv, device: str, tuning: AgentTuning = FAST) -> SyncAgent:
    agent: SyncAgent = env.start_agent(device, tuning=tuning)
    return agent


def test_two_agents_see_each_other_and_a_killed_one_goes_offline(sync_env: SyncEnv) -> None:
    gate_store = sync_env.open_store("gate-01")
    gate_store.events.record("gate-01", "reader_offline", {"error": "timeout"})
    key = journal(gate_store, "checkout", items(1)[0])    # no gateway: stays in the backlog
    with gate_store.transaction() as conn:  # ... a minute already (over status_backlog_age_s)
        conn.execute("UPDATE outbox SET created_at = ? WHERE key = ?",
                     (stamp(datetime.now(UTC) - timedelta(minutes=1)), key))
    kiosk = _agent(sync_env, "kiosk-01")
    gate = sync_env.proc("agent-gate", ["sync", "--config", str(sync_env.agent_config("gate-01"))])
    gate.start()
    view = SiteRepository(kiosk.store)

    def gate_online() -> object:
        d = view.device("gate-01")
        return d is not None and d.state == "online" and d
    seen = wait_until(gate_online, 30, what=lambda: f"gate-01 online at the kiosk: {view.devices()}")
    assert seen.role == "gate" and seen.backlog == 1
    assert seen.reader == "offline" and seen.reader_failures == 1
    # ... and the gate's agent sees the kiosk (written into the gate's own store).
    gate_view = SiteRepository(gate_store)
    wait_until(lambda: (d := gate_view.device("kiosk-01")) is not None and d.state == "online",
               30, what=lambda: f"kiosk-01 online at the gate: {gate_view.devices()}")
    # The reader comes back: the gate re-publishes its status.
    gate_store.events.record("gate-01", "reader_online", {})
    wait_until(lambda: view.device("gate-01").reader == "online", 30,  # type: ignore[union-attr]
               what="the gate's new reader state")
    # kill -9: no clean disconnect, the broker publishes the last will.
    gate.kill9()
    gone = wait_until(lambda: (d := view.device("gate-01")) is not None and d.state == "offline"
                      and d, 60, what=lambda: f"gate-01 offline: {view.devices()}")
    assert gone.since >= seen.since


def test_site_counts_and_alarms_of_other_devices(sync_env: SyncEnv) -> None:
    kiosk_store, gate_store = sync_env.open_store("kiosk-01"), sync_env.open_store("gate-01")
    kiosk_store.counters.incr("checkout", 3)
    kiosk_store.counters.incr("renew", 1)
    gate_store.counters.incr("visitors_in", 4)
    gate_store.counters.incr("visitors_out", 2, at=datetime.now(UTC) - timedelta(hours=3))
    alarm = gate_store.alarms.raise_alarm(
        "gate", "gate-01: 'Truyện Kiều' going out", device="gate-01", item_id="30000100",
        uid="E004010012345678", detail={"direction": "out", "title": "Truyện Kiều",
                                        "reason": "secured"})
    with mqtt_client(sync_env.broker.port) as staff:
        staff.subscribe(topics.staff_alarms(SITE))
        kiosk = _agent(sync_env, "kiosk-01")
        gate = _agent(sync_env, "gate-01")
        # The gate's alarm goes to the site's staff topic.
        msg = staff.get(20)
        assert msg.topic == topics.staff_alarm(SITE, "gate-01")
        assert json.loads(msg.payload)["alarm_id"] == alarm.id
    kv, gv = SiteRepository(kiosk.store), SiteRepository(gate.store)
    hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
    wait_until(lambda: kv.hours(hour, hour).get("gate-01", {}).get(hour) == {"visitors_in": 4},
               30, what=lambda: f"the gate's live counters at the kiosk: {kv.hours('0', '9')}")
    wait_until(lambda: gv.hours(hour, hour).get("kiosk-01", {}).get(hour)
               == {"checkout": 3, "renew": 1}, 30, what="the kiosk's counters at the gate")
    # The completed hour arrives too (on ``…/stats``), the current one updates live.
    three = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H")
    wait_until(lambda: kv.totals(three, hour).get("gate-01") == {"visitors_in": 4,
                                                                 "visitors_out": 2},
               30, what=lambda: f"the gate's totals at the kiosk: {kv.totals('0', '9')}")
    gate_store.counters.incr("visitors_in", 1)
    wait_until(lambda: kv.hours(hour, hour)["gate-01"][hour] == {"visitors_in": 5}, 30,
               what="the gate's updated counter")
    [a] = wait_until(lambda: kv.alarms(), 30, what="the gate's alarm at the kiosk")
    assert (a.device, a.alarm_id, a.kind, a.item_id, a.title, a.direction) == (
        "gate-01", alarm.id, "gate", "30000100", "Truyện Kiều", "out")
    assert a.detail["reason"] == "secured"
    # A box keeps only others' alarms and counters (its own are in its store already).
    assert gv.alarms() == [] and "gate-01" not in gv.hours("0", "9")


def test_site_view_rejects_forged_payloads(sync_env: SyncEnv) -> None:
    kiosk = _agent(sync_env, "kiosk-01")
    with mqtt_client(sync_env.broker.port) as rogue:
        # A status naming another device than its topic, and an alarm without its id.
        rogue.publish(topics.status(SITE, "gate-09"), encode(DeviceStatus(
            site=SITE, device="gate-01", state="online")), retain=True)
        rogue.publish(topics.staff_alarm(SITE, "gate-09"), encode(Alarm(
            site=SITE, device="gate-09", kind="gate")))
        wait_until(lambda: kiosk.stats.rejected >= 2, 10, what="the rejections")
        rogue.publish(topics.status(SITE, "gate-09"), b"", retain=True)  # clear the retain
    view = SiteRepository(kiosk.store)
    assert view.devices() == [] or {d.device for d in view.devices()} <= {"kiosk-01"}
    assert view.alarms() == []


def test_entry_accepted_offline_after_its_online_send_reaches_the_gateway_offline(
        sync_env: SyncEnv) -> None:
    """B2: the gateway is down (its persistent session holds what is published meanwhile);
    the edge publishes online, gives up after its wait and marks the entry offline. When
    the gateway starts it must apply the offline version (no-block, original date)."""
    gw = sync_env.start_gateway()      # its session and shared subscription now exist
    gw.stop()
    store = sync_env.open_store("kiosk-01")
    agent = _agent(sync_env, "kiosk-01", AgentTuning(
        ops_interval_s=0.2, poll_s=0.1, offline_check_s=0.1, resend_s=60.0,
        online_expiry_s=1.0))
    item = items(1)[0]
    key = journal(store, "checkout", item, offline=False)
    created = store.outbox.get(key).created_at
    wait_until(lambda: agent.stats.acked >= 1, 10, what="the online publish")
    time.sleep(2.2)  # the edge's wait (and the online copy's 1 s expiry) runs out
    store.outbox.mark_offline(key, {"no_block": True, "nb_due_date": "2030-01-31"})
    wait_until(lambda: agent.stats.offline_resends >= 1 and agent.stats.acked >= 2, 10,
               what="the offline re-send")
    gw = sync_env.start_gateway()
    entry = store.outbox.wait_for_result(key, 30)
    assert entry is not None and entry.state == "applied", entry
    row = gw.ledger.get(key)
    assert row is not None and row.request["offline"] is True
    assert row.request["payload"]["no_block"] is True
    assert row.request["payload"]["nb_due_date"] == "2030-01-31"
    assert datetime.fromisoformat(str(row.request["created_at"]).replace("Z", "+00:00")) == \
        datetime.fromisoformat(created.replace("Z", "+00:00"))
    [app] = sync_env.ils.circulation.applications(key)
    assert app["kind"] == "checkout" and app["no_block"] == 1, app
    assert sync_env.ils.circulation.duplicate_count() == 0
