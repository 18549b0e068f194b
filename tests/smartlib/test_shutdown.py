"""``smartlib.shutdown.stop_on_signals``: a signal sets the event; the old handlers come back."""

from __future__ import annotations

import os
import signal

from smartlib.shutdown import stop_on_signals


def test_a_signal_sets_the_event_and_the_old_handler_returns() -> None:
    calls: list[int] = []

    def before(signum: int, _frame: object) -> None:
        calls.append(signum)

    old = signal.signal(signal.SIGUSR1, before)
    try:
        with stop_on_signals((signal.SIGUSR1,), name="test") as stop:
            assert not stop.is_set()
            os.kill(os.getpid(), signal.SIGUSR1)
            assert stop.wait(5)
            assert calls == []
        os.kill(os.getpid(), signal.SIGUSR1)
        assert calls == [signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, old)
