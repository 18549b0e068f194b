"""A gateway ends on SIGTERM even when its broker and its PostgreSQL ledger are gone
(session 18's fleet bench: a stopped run's gateway hung in shutdown and was killed by hand)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from smartlib_demo.postgres import PrivatePostgres
from tests.sync.gateway.harness import SyncEnv, applied_keys, items, journal, wait_until


@pytest.mark.parametrize("busy", [False, True])
@pytest.mark.parametrize("how", ["kill", "immediate"])
def test_gateway_exits_on_sigterm_with_its_broker_and_ledger_gone(
        sync_env: SyncEnv, busy: bool, how: str) -> None:
    pg = PrivatePostgres(max_connections=20).start()
    try:
        admin = pg.admin_url
        cfg = sync_env.gateway_config(ledger=admin)
        gw = sync_env.proc("gateway", ["gateway", "run", "--config", str(cfg)]).start()
        wait_until(lambda: "gateway connected" in gw.output(), 30, what="gateway connected")
        if busy:  # traffic in flight when everything goes
            store = sync_env.open_store()
            for it in items(400):
                journal(store, "checkout", it)
            sync_env.start_agent()
            wait_until(lambda: store.outbox.backlog().open < 390, 30, what="first applications")
        sync_env.broker.stop()
        if how == "kill":
            _kill_postgres(pg)
        else:
            pg.stop()
        sync_env.ils.stop()
        assert gw.proc is not None
        gw.proc.send_signal(signal.SIGTERM)
        try:
            code = gw.wait_exit(40)
        except subprocess.TimeoutExpired:
            gw.kill9()
            pytest.fail("the gateway did not end within 40 s of SIGTERM:\n"
                        + gw.output()[-3000:])
        assert code == 0, gw.output()[-3000:]
    finally:
        pg.stop()


def _kill_postgres(pg: Any) -> None:
    pid_file = Path(pg.root) / "data" / "postmaster.pid"
    pid = int(pid_file.read_text().split()[0])
    import os

    os.kill(pid, signal.SIGKILL)


def test_a_gateway_with_a_backlog_ends_on_sigterm_and_the_next_one_applies_the_rest_once(
        sync_env: SyncEnv) -> None:
    """The fleet bench's hang: SIGTERM queued the pipelines' stop behind every job already
    received, so a gateway with a backlog (a slow ILS, a fleet at 10x) worked the whole
    backlog off first. It stops at the next batch now; what it did not acknowledge is
    redelivered to the next gateway and applied once."""
    n = 3000
    store = sync_env.open_store()
    keys = [journal(store, "checkout", it) for it in items(n)]
    sync_env.ils.set_latency(0.05)                 # a busy ILS: about 40 calls/s on 2: 75 s of work
    cfg = sync_env.gateway_config(pool_size=2)
    gw = sync_env.proc("gateway", ["gateway", "run", "--config", str(cfg)]).start()
    sync_env.start_agent()
    wait_until(lambda: len(applied_keys(sync_env.ils)) >= 20, 60, what="first applications")
    assert gw.proc is not None
    gw.proc.send_signal(signal.SIGTERM)
    try:
        code = gw.wait_exit(10)     # a batch is at most 256 calls: 6.4 s
    except subprocess.TimeoutExpired:
        gw.kill9()
        pytest.fail(f"the gateway did not end within 10 s of SIGTERM; "
                    f"{len(applied_keys(sync_env.ils))} of {n} applied")
    assert code == 0, gw.output()[-3000:]
    assert len(applied_keys(sync_env.ils)) < n
    sync_env.ils.set_latency(0.0)
    gw2 = sync_env.proc("gateway2", ["gateway", "run", "--config", str(cfg)]).start()
    wait_until(lambda: store.outbox.backlog().open == 0, 120, what="the rest applied")
    assert gw2.running
    assert sorted(applied_keys(sync_env.ils)) == sorted(keys)
    assert sync_env.ils.duplicate_count() == 0
