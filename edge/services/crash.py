"""Crash points for the kill -9 tests: ``SMARTLIB_CRASH_AT=<step>`` kills the process there.

The checkout path calls :func:`crash_point` after each durable step (``after_journal``,
``after_result``, ``after_release_task``, ``after_security_write``, ``after_loan_cached``);
the return path after the secure write (``after_security_write``, the same point in
:meth:`~edge.services.security.SecurityService.execute`), after the secure task is done and
its check-in journaled (``after_checkin_journal``), and after the check-in's result arrived
(``after_checkin_result``).
When the environment variable names the step, the process sends itself SIGKILL, exactly as
a power cut or ``kill -9`` would, with no clean-up. Unset (production), it does nothing.

The mechanism is :mod:`smartlib.crashpoints` (shared with the sync gateway); this module
only names the edge's variable and steps.
"""

from __future__ import annotations

from smartlib import crashpoints

ENV = "SMARTLIB_CRASH_AT"
STEPS = ("after_journal", "after_result", "after_release_task", "after_security_write",
         "after_loan_cached")
"""The checkout's steps, in order."""
RETURN_STEPS = ("after_security_write", "after_checkin_journal", "after_checkin_result")
"""The return's steps, in order."""


def crash_point(step: str) -> None:
    """Kill this process with SIGKILL when ``$SMARTLIB_CRASH_AT`` names ``step``
    (``step`` or ``step:N``)."""
    crashpoints.crash_point(ENV, step)
