"""An agent hosted by a runner (``SyncAgent(runner=...)``): no threads of its own, the same
transactions and results; the receiver's ``drain`` and the doorbell's ``fileno``/``take``
that such a runner uses."""

from __future__ import annotations

import selectors
import threading
from typing import Any

import paho.mqtt.client as mqtt

from edge.store import open_store
from tests.sync.gateway.harness import SITE, SyncEnv, items, journal


class OneLoop:
    """A minimal runner: one thread, paho's external loop API, the agent's pass and drain."""

    def __init__(self) -> None:
        self.agent: Any = None
        self.attached = threading.Event()
        self.detached = threading.Event()
        self.passes = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def attach(self, agent: Any) -> None:
        self.agent = agent
        agent.client.reconnect()
        self.attached.set()
        self._thread.start()

    def detach(self, agent: Any) -> None:
        self.detached.set()
        self._thread.join(10)

    def _run(self) -> None:
        agent, client = self.agent, self.agent.client
        sel = selectors.DefaultSelector()
        sel.register(client.socket().fileno(), selectors.EVENT_READ, "sock")
        sel.register(agent.doorbell.fileno(), selectors.EVENT_READ, "bell")
        while not self.detached.is_set():
            ready = {key.data for key, _ in sel.select(agent.tuning.poll_s)}
            if "sock" in ready:
                assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
                agent.receiver.drain()
            if "bell" in ready:
                agent.doorbell.take()
            agent.sender_pass()
            self.passes += 1
            client.loop_misc()
            while client.want_write():
                client.loop_write()
        sel.close()


def test_a_hosted_agent_runs_no_threads_and_gets_its_results(sync_env: SyncEnv) -> None:
    store = sync_env.open_store()
    sync_env.start_gateway()
    before = {t.ident for t in threading.enumerate()}
    runner = OneLoop()
    agent = sync_env.start_agent(runner=runner)
    assert runner.attached.is_set() and agent.client._thread is None  # no paho network thread
    started = [t.name for t in threading.enumerate() if t.ident not in before]
    assert not [n for n in started if n.startswith("sync-agent")], started
    key = journal(store, "checkout", items(1)[0], offline=False)
    entry = store.outbox.wait_for_result(key, 20)
    assert entry is not None and entry.state == "applied"
    assert agent.stats.results == 1 and runner.passes > 0
    agent.stop()
    assert runner.detached.is_set()


class Idle:
    """A runner that drives nothing: only what the test calls happens."""

    def attach(self, agent: Any) -> None:
        pass

    def detach(self, agent: Any) -> None:
        pass


def test_drain_stores_what_is_queued_without_a_thread(sync_env: SyncEnv) -> None:
    from sync import topics
    from sync.messages import DeviceStatus, encode
    from sync.mqtt import ReceivedMessage

    store = sync_env.open_store()
    agent = sync_env.start_agent(wait=False, runner=Idle())
    status = DeviceStatus(site=SITE, device="gate-07", state="online", role="gate")
    for _ in range(3):
        agent.receiver.put(ReceivedMessage(topic=topics.status(SITE, "gate-07"),
                                           payload=encode(status)))
    assert [d.device for d in store.site.devices()] == []  # nothing runs the receiver
    assert agent.receiver.drain() == 3
    assert agent.receiver.drain() == 0
    assert [d.device for d in store.site.devices()] == ["gate-07"]


def test_a_bell_is_readable_after_a_ring_and_take_consumes_it(tmp_path: Any) -> None:
    store = open_store(tmp_path / "edge.db")
    other = open_store(tmp_path / "edge.db")
    try:
        bell = store.doorbell("agent")
        fd = bell.fileno()
        assert fd is not None
        assert bell.take() is False
        other.ring("agent")
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        assert sel.select(5)  # readable: a ring came
        assert bell.take() is True
        assert not sel.select(0) and bell.take() is False
        sel.close()
    finally:
        other.close()
        store.close()
