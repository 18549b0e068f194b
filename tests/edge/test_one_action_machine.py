"""A Hypothesis state machine over the edge's circulation (issue 17 §1).

Sessions open, tags are placed and removed, checkouts, returns and renewals are called once
or repeated (one after the other, or concurrently), AFI writes fail, the gateway drops
away and comes back, and the recovery pass runs. The property, checked after every step:
each (session, item, kind) reaches the ILS (the GatewayDouble) at most once, unless a
check-in or checkout of the item came between (then it is a new action); the repeats of
one call, together or one after the other, are answered with one transaction key per item.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from edge.services.circulation import ItemResult
from edge.services.container import EdgeServices
from edge.services.sessions import Session
from smartlib.config import load_settings
from smartlib.sealing import generate_keypair
from tests.edge.doubles import FakeReader, GatewayDouble, Ils, make_tag
from tests.edge.test_one_action import at_once, ils_reached_repeats, login

ITEMS = [f"37000{i}" for i in range(4)]
PATRONS = {"2000001": "1234", "2000002": "5555"}


class OneActionMachine(RuleBasedStateMachine):
    """The edge's services over a fresh store, a fake pad and the gateway double."""

    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="edge-once-"))
        key, public = generate_keypair()
        cfg = load_settings(None, store={"path": self.dir / "edge.db"},
                            policy={"result_timeout_s": 0.3, "offline_max_items": 1,
                                    "offline_login": "cached"},
                            card_reader={"enabled": False},
                            api={"device_token": "dev-tok", "staff_token": "staff-tok"},
                            gateway={"public_key": public})
        self.ils = Ils(patrons=dict(PATRONS))
        self.gateway = GatewayDouble(cfg.store.path, self.ils, pin_key=key).__enter__()
        self.reader = FakeReader(seed=7)
        self.tags = {item: make_tag(item) for item in ITEMS}
        self.services = EdgeServices.build(cfg, reader=self.reader)
        self.services.start(background=False, poll_pad=False)

    def teardown(self) -> None:
        self.services.stop()
        self.gateway.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize(target=sessions)
    def first_session(self) -> Session:
        for tag in self.tags.values():  # every book starts on the pad
            self.reader.tags[tag.uid] = tag
        return login(self.services)

    @rule(target=sessions, patron=st.sampled_from(sorted(PATRONS)))
    def log_in(self, patron: str) -> Session:
        self.gateway.online = True
        return login(self.services, patron, PATRONS[patron])

    @rule(item=st.sampled_from(ITEMS))
    def place(self, item: str) -> None:
        self.reader.tags[self.tags[item].uid] = self.tags[item]

    @rule(item=st.sampled_from(ITEMS))
    def remove(self, item: str) -> None:
        self.reader.tags.pop(self.tags[item].uid, None)

    @rule(rate=st.sampled_from([0.0, 0.3, 1.0]))
    def afi_faults(self, rate: float) -> None:
        self.reader.afi_fail_rate = rate

    @rule(online=st.booleans())
    def gateway_online(self, online: bool) -> None:
        self.gateway.online = online

    @rule()
    def recovery_pass(self) -> None:
        self.services.recovery.run_once()

    @rule(session=st.one_of(sessions, st.none()),
          kind=st.sampled_from(["checkout", "return", "renew"]),
          items=st.one_of(st.none(), st.lists(st.sampled_from(ITEMS), min_size=1, max_size=2)),
          times=st.integers(1, 4), together=st.booleans())
    def act(self, session: Session | None, kind: str, items: list[str] | None, times: int,
            together: bool) -> None:
        circulation = self.services.circulation
        if session is None and kind != "return":
            return  # only a return is made without a session

        def call(_: int) -> list[ItemResult]:
            if kind == "checkout":
                assert session is not None
                return circulation.checkout(session, items)
            if kind == "return":
                return circulation.return_items(session, items)
            assert session is not None
            return circulation.renew(session, items or ITEMS[:2])

        answers = at_once(times, call) if together and times > 1 else \
            [call(i) for i in range(times)]
        keys: dict[str, set[str]] = {}  # the repeats of one call: one key per item
        for answer in answers:
            for r in answer:
                if r.transaction:
                    keys.setdefault(r.item_id, set()).add(r.transaction)
        assert all(len(k) == 1 for k in keys.values()), keys

    @invariant()
    def each_action_reaches_the_ils_once(self) -> None:
        assert max(self.ils.calls.values(), default=0) <= 1  # the ledger, per key
        assert ils_reached_repeats(self.services.store, set(self.ils.calls)) == []


def test_each_session_item_kind_reaches_the_ils_at_most_once() -> None:
    run_state_machine_as_test(OneActionMachine, settings=settings(
        max_examples=40, stateful_step_count=16, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
