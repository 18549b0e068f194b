"""The common part of every view-model: the edge, a runner, the language, busy and error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from kiosk_ui.client import EdgeApi
from kiosk_ui.errors import PatronFacingError
from kiosk_ui.i18n import Localizer
from kiosk_ui.worker import Runner


class ViewModel(QObject):
    """Base view-model.

    Args:
        client: the edge (an :class:`~kiosk_ui.client.EdgeApi`).
        runner: runs blocking calls off the GUI thread.
        localizer: the current language.

    Signals:
        changed: any property changed; views re-read what they show.
        failed: an edge call failed with this :class:`~kiosk_ui.errors.PatronFacingError` (the root view-model
            watches for ``edge_unreachable`` and ``session_expired``).
    """

    changed = Signal()
    failed = Signal(object)

    def __init__(self, client: EdgeApi, runner: Runner, localizer: Localizer,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.runner = runner
        self.localizer = localizer
        self._busy = 0
        self._error: PatronFacingError | None = None
        self._generation = 0
        localizer.changed.connect(lambda _l: self.changed.emit())

    @property
    def busy(self) -> bool:
        """True while a call to the edge is under way."""
        return self._busy > 0

    @property
    def error_code(self) -> str | None:
        """The code of the last error shown, or None."""
        return self._error.code if self._error else None

    @property
    def error_text(self) -> str:
        """The last error in the patron's language, or ``""``."""
        if self._error is None:
            return ""
        return self.localizer.error(self._error.code, self._error.texts)

    def set_error(self, err: PatronFacingError | None) -> None:
        """Show ``err`` (None clears it)."""
        self._error = err
        self.changed.emit()

    def reset(self) -> None:
        """Forget everything (session end); late answers of earlier calls are ignored."""
        self._generation += 1
        self._busy = 0
        self._error = None
        self.changed.emit()

    def call(self, fn: Callable[[], Any], on_ok: Callable[[Any], None],
             on_err: Callable[[PatronFacingError], None] | None = None) -> None:
        """Run ``fn`` on the runner; drop the answer if :meth:`reset` happened meanwhile."""
        gen = self._generation
        self._busy += 1
        self.changed.emit()

        def ok(result: Any) -> None:
            if gen != self._generation:
                return
            self._busy = max(0, self._busy - 1)
            on_ok(result)
            self.changed.emit()

        def err(exc: PatronFacingError) -> None:
            if gen != self._generation:
                return
            self._busy = max(0, self._busy - 1)
            self.failed.emit(exc)
            if on_err is not None:
                on_err(exc)
            else:
                self.set_error(exc)
            self.changed.emit()

        self.runner.submit(fn, ok, err)
