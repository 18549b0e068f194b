"""Fault injection for simulated readers: what goes wrong next, scriptable and live.

A :class:`FaultPlan` holds armed faults; the reader device asks it, for each request,
whether one applies (:meth:`FaultPlan.take`). Faults are armed by scenarios, by the
control API and by tests. Kinds:

=====================  ==========================================================
``fail_write``         the next N block writes answer STATUS 0x03 (write error)
``fail_afi``           the next N AFI writes answer STATUS 0x03 (``status`` to change)
``fail_read``          the next N Read Multiple Blocks answer STATUS 0x02 (data false:
                       the tag's answer failed its CRC; ``status`` to change)
``fail_system_info``   the next N Get System Information answer STATUS 0x02 (``status``)
``corrupt_crc``        the next N answers go out with a wrong CRC
``timeout``            the next N requests get no answer at all
``garbage``            the next N answers are preceded by ``bytes`` random bytes
``tag_leaves``         the next write to a tag writes half its blocks, then the tag
                       leaves the field (the reader answers 0x01, no transponder)
``disconnect``         TCP: the connection drops; pty: the line is dead for ``seconds``
``hang``               the device answers nothing for ``seconds``
``accept_error``       TCP: the next N ``accept()`` calls of the listener fail with an
                       ``OSError`` (EMFILE), as when the process runs out of file
                       descriptors; the device logs, counts ``accept_errors`` and retries
=====================  ==========================================================

Any fault may carry ``rate`` (0 < rate <= 1) and ``seed``: it then fires on that share of
the matching requests, drawn from its own seeded generator (``count=None`` for a standing
fault rate, e.g. 30 % of AFI writes fail).

(A partial set on the pad is arranged by placing only some parts; see the control API.)
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hardware_sim.errors import SimError

KINDS = ("fail_write", "fail_afi", "fail_read", "fail_system_info", "corrupt_crc", "timeout", "garbage", "tag_leaves",
         "disconnect", "hang", "accept_error")


class FaultError(SimError):
    """An unknown fault kind or a bad parameter."""


@dataclass
class Fault:
    """One armed fault: ``count`` more times (None: until cleared)."""

    kind: str
    count: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0
    rng: random.Random | None = field(default=None, repr=False, compare=False)

    def applies(self) -> bool:
        """False when a ``rate`` fault's draw says this request goes through."""
        rate = self.params.get("rate")
        if rate is None or self.rng is None:
            return True
        return self.rng.random() < float(rate)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "params": self.params, "fired": self.fired}


class FaultPlan:
    """Armed faults, thread-safe. ``hang``/``disconnect`` set a dead-until time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.dead_until = 0.0
        self.line_dead_until = 0.0
        self.disconnects = 0
        self.fired: dict[str, int] = {}

    def add(self, kind: str, count: int | None = 1, **params: Any) -> Fault:
        """Arm a fault.

        Raises:
            FaultError: unknown kind or a negative count.
        """
        if kind not in KINDS:
            raise FaultError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
        if count is not None and count < 1:
            raise FaultError(f"count must be >= 1 or None, got {count}")
        rate = params.get("rate")
        rng = None
        if rate is not None:
            rate = float(rate)
            if not 0.0 < rate <= 1.0:
                raise FaultError(f"rate must be in (0, 1], got {rate}")
            params["rate"] = rate
            rng = random.Random(params.get("seed", 0))
        f = Fault(kind, count, dict(params), rng=rng)
        with self._lock:
            if kind in ("hang", "disconnect"):
                seconds = float(params.get("seconds", 1.0))
                if seconds <= 0:
                    raise FaultError(f"seconds must be positive, got {seconds}")
                until = time.monotonic() + seconds
                if kind == "hang":
                    self.dead_until = max(self.dead_until, until)
                else:
                    self.line_dead_until = max(self.line_dead_until, until)
                    self.disconnects += 1
                self.fired[kind] = self.fired.get(kind, 0) + 1
                return f
            self._faults.append(f)
        return f

    def take(self, kind: str) -> Fault | None:
        """The first armed fault of ``kind``, consumed once; None if none is armed."""
        with self._lock:
            for f in self._faults:
                if f.kind == kind:
                    if not f.applies():
                        return None
                    f.fired += 1
                    self.fired[kind] = self.fired.get(kind, 0) + 1
                    if f.count is not None:
                        f.count -= 1
                        if f.count <= 0:
                            self._faults.remove(f)
                    return f
            return None

    def is_dead(self) -> bool:
        """True while a hang lasts (no endpoint answers)."""
        return time.monotonic() < self.dead_until

    def line_dead(self) -> bool:
        """True while a pty "disconnect" lasts (a pty cannot be unplugged and come back
        under the same path, so its line goes silent instead)."""
        return time.monotonic() < self.line_dead_until

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.dead_until = self.line_dead_until = 0.0

    def armed(self) -> list[dict[str, Any]]:
        with self._lock:
            out = [f.to_dict() for f in self._faults]
            for kind, until in (("hang", self.dead_until), ("disconnect", self.line_dead_until)):
                remaining = until - time.monotonic()
                if remaining > 0:
                    out.append({"kind": kind, "count": None,
                                "params": {"seconds_left": round(remaining, 3)}, "fired": 0})
            return out
