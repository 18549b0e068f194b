"""Stop a long-running command on SIGINT or SIGTERM: one place for the signal handling.

:func:`stop_on_signals` turns the signals into a :class:`threading.Event` that the command's
main loop waits on, and puts the previous handlers back when the command ends. Must not do:
exit the process or touch anything but the handlers of the signals it was given.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(signals: tuple[signal.Signals, ...] = STOP_SIGNALS,
                    name: str = "") -> Iterator[threading.Event]:
    """An event set by the first of ``signals``; the previous handlers come back on exit.

    ``name`` (the command) goes into the log line that says which signal stopped it. Call it
    from the main thread (Python installs signal handlers only there).
    """
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        if name:
            log.info("%s: signal %s, stopping", name, signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
