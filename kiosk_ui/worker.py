"""Runs blocking edge calls off the GUI thread and hands results back on it.

:class:`TaskRunner` owns a small Python thread pool; a finished call's callback is posted
to the GUI thread through a queued Qt signal, so view-models never block the event loop.
:class:`InlineRunner` runs calls synchronously (view-model unit tests, screenshots).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, Signal, Slot

from kiosk_ui.errors import CallCrashed, PatronFacingError

log = logging.getLogger(__name__)

OnOk = Callable[[Any], None]
OnErr = Callable[[PatronFacingError], None]


class Runner(Protocol):
    """Something that runs ``fn()`` and later calls ``on_ok(result)`` or ``on_err(error)``."""

    def submit(self, fn: Callable[[], Any], on_ok: OnOk, on_err: OnErr) -> None: ...
    def shutdown(self) -> None: ...


def _wrap(exc: BaseException) -> PatronFacingError:
    if isinstance(exc, PatronFacingError):
        return exc
    log.error("edge call failed unexpectedly: %r", exc)
    return CallCrashed(repr(exc))


class InlineRunner:
    """Runs each call at once on the caller's thread."""

    def submit(self, fn: Callable[[], Any], on_ok: OnOk, on_err: OnErr) -> None:
        try:
            result = fn()
        except PatronFacingError as exc:
            on_err(exc)
            return
        on_ok(result)

    def shutdown(self) -> None:
        return None


class TaskRunner(QObject):
    """Runs calls on worker threads; callbacks run on the thread that owns this object.

    Args:
        workers: thread-pool size (two: one slow checkout must not stall a health probe).
    """

    _done = Signal(object)

    def __init__(self, workers: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="kiosk-edge")
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def submit(self, fn: Callable[[], Any], on_ok: OnOk, on_err: OnErr) -> None:
        """Queue ``fn``; ``on_ok``/``on_err`` are later called on the GUI thread."""
        if self._pool is None:
            log.warning("edge call dropped: runner is shut down")
            return
        fut = self._pool.submit(fn)

        def finished(f: Future[Any]) -> None:
            exc = f.exception()
            if exc is not None:
                self._done.emit(lambda: on_err(_wrap(exc)))
            else:
                res = f.result()
                self._done.emit(lambda: on_ok(res))

        fut.add_done_callback(finished)

    @Slot(object)
    def _deliver(self, thunk: Callable[[], None]) -> None:
        if self._pool is not None:
            thunk()

    def shutdown(self) -> None:
        """Wait for running calls and stop the threads; later results are dropped."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
