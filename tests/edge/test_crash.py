"""kill -9 of the edge at each step of a checkout, then a restart: consistent, nothing lost or
duplicated. The edge runs in a child process with ``SMARTLIB_CRASH_AT``; the GatewayDouble
(test double of agent + gateway + ILS) runs here and keeps answering across the crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edge.services.container import EdgeServices
from edge.services.crash import STEPS
from tests.edge.doubles import FakeReader, make_tag

CHILD = """
import sys
from pathlib import Path
from drivers.credential import PatronCredential
from edge.services.container import EdgeServices
from smartlib.config import load_settings
from tests.edge.doubles import FakeReader
db, state = sys.argv[1], Path(sys.argv[2])
settings = load_settings(None, store={"path": db}, card_reader={"enabled": False},
                         policy={"result_timeout_s": 5.0})
svc = EdgeServices.build(settings, reader=FakeReader(state_file=state))
svc.start(background=False, poll_pad=False)
s = svc.sessions.login(PatronCredential("manual", "2000001", b"x"), "1234")
svc.circulation.checkout(s)
svc.stop()
print("finished without crashing")
"""


@pytest.mark.parametrize("step", STEPS)
def test_kill9_at_each_checkout_step(step: str, settings, ils, gateway, tmp_path: Path) -> None:
    state = tmp_path / "tags.json"
    seed = FakeReader([make_tag(f"30009{i:02d}") for i in range(3)], state_file=state)
    seed._save()
    env = {**os.environ, "SMARTLIB_CRASH_AT": step, "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(settings.store.path), str(state)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    reader = FakeReader(state_file=state)
    svc = EdgeServices.build(settings, reader=reader)
    try:
        svc.start(background=False, poll_pad=False)
        for _ in range(100):
            gateway.pump()
            svc.recovery.run_once()
            if not svc.store.outbox.unhandled() and not svc.store.security.open():
                break
        entries = svc.store.outbox.list()
        assert entries and all(e.state == "applied" and e.handled_at for e in entries)
        assert all(n == 1 for n in ils.calls.values())  # applied once each in the ILS
        loaned = set(ils.loans)
        released = {t.memory[3:10].decode() for t in reader.tags.values() if t.afi == 0xC2}
        assert released <= loaned  # never released without a loan
        assert released == {e.item_id for e in entries}  # every applied checkout released
        assert {e.item_id for e in entries} == {i for i in loaned
                                                 if svc.store.cache.is_on_loan(i)}
    finally:
        svc.stop()
