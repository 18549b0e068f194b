"""Retry and abandon through the production ACLs: the console's command goes out on the
collector's own account, the box's real agent carries it out in its edge store, and the
acknowledgement comes back to the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from central.db import stamp
from central.web.tasks import command_task
from smartlib.config import load_settings
from sync.agent.service import SyncAgent
from tests.central.conftest import Central, agent_toml
from tests.sync.gateway.harness import wait_until

SITE = "hn-01"


def test_abandon_and_retry_reach_the_box_and_its_outcome_comes_back(
        tmp_path: Path, site_broker: Any, central: Central) -> None:
    agent = SyncAgent.from_settings(load_settings(agent_toml(tmp_path, site_broker, SITE,
                                                             "kiosk-01")))
    store = agent.store
    first = store.security.create("3000301", "e004010000000301", "release")
    store.security.record_failure(first.id, "RfidError: no answer", alarm=True)
    second = store.security.create("3000302", "e004010000000302", "release")
    store.security.record_failure(second.id, "RfidError: no answer", alarm=True)
    agent.start()
    try:
        wait_until(lambda: len(central.store.security_tasks.list()) == 2,
                   what="the box's failed tasks at the centre")
        abandon = command_task(central.store, SITE, "kiosk-01", first.id, "abandon", "lan",
                               stamp())
        retry = command_task(central.store, SITE, "kiosk-01", second.id, "retry", "lan", stamp())
        wait_until(lambda: central.store.commands.get(abandon.command_id).state == "done",
                   what="the abandon acknowledged")
        assert store.security.get(first.id).state == "abandoned"
        wait_until(lambda: [t.task_id for t in central.store.security_tasks.list()] == [second.id],
                   what="the abandoned task no longer failing at the centre")
        # The retry waits for the edge's security service (not running here): stored, sent,
        # not answered; once the edge records its outcome, the console has it.
        wait_until(lambda: store.commands.pending("retry_security"), what="the stored retry")
        assert central.store.commands.get(retry.command_id).sent_at is not None
        assert central.store.commands.get(retry.command_id).state == "pending"
        store.commands.finish(retry.command_id, "failed", "RfidError: no answer")
        wait_until(lambda: central.store.commands.get(retry.command_id).state == "failed",
                   what="the retry's outcome")
        assert central.store.commands.get(retry.command_id).reason == "RfidError: no answer"
    finally:
        agent.stop()
        store.close()
