"""The gate's pure logic: IR-beam people counting, pass direction, debounce, reasons.

Nothing here does I/O or reads the clock: every method takes the time (monotonic
seconds) from its caller, so the rules are tested without a reader or a sleep. The
:class:`~edge.services.gate.GateService` feeds these from its poll loop.

Must not do: talk to the reader or the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["in", "out", "unknown"]
Side = Literal["inner", "outer", "both"]

REASONS: dict[str, dict[str, str]] = {
    "not_checked_out": {
        "en": "The item is secured and was not checked out.",
        "vi": "Tài liệu còn khóa từ và chưa được mượn."},
    "loaned_alarm_on": {
        "en": "Loaned, alarm still on (release failed at the kiosk): the item was just "
              "checked out but its security could not be released.",
        "vi": "Đã mượn, khóa từ vẫn bật (ki-ốt mở khóa thất bại): tài liệu vừa được mượn "
              "nhưng chưa mở được khóa từ."},
    "loaned_but_secured": {
        "en": "The cache shows the item on loan, but its tag is still secured.",
        "vi": "Tài liệu đang được mượn theo dữ liệu, nhưng thẻ vẫn còn khóa từ."},
    "not_on_loan": {
        "en": "The item is not on loan (security database).",
        "vi": "Tài liệu không ở trạng thái đang mượn (cơ sở dữ liệu an ninh)."},
    "unknown_item": {
        "en": "The item is not in the catalogue cache and is not on loan.",
        "vi": "Tài liệu không có trong bộ nhớ đệm danh mục và không được mượn."},
    "eas": {
        "en": "The gate's EAS check answered (an EAS bit is set on a tag in the gate); this "
              "item was singled out as the likely one (see how it was identified).",
        "vi": "Kiểm tra EAS của cổng báo có thẻ đang bật bit EAS; tài liệu này được xác định "
              "là thẻ có khả năng nhất (xem cách nhận diện)."},
    "eas_unidentified": {
        "en": "An EAS bit is set, but the tag left before it could be identified.",
        "vi": "Có bit EAS bật nhưng thẻ đã rời cổng trước khi nhận diện được."},
    "undetermined": {
        "en": "The gate could not read this tag's security state or item (the tag did not "
              "answer, or left the gate too fast): the item may not be checked out. "
              "Check it.",
        "vi": "Cổng không đọc được trạng thái an ninh hoặc mã tài liệu của thẻ này (thẻ "
              "không trả lời hoặc đi qua cổng quá nhanh): tài liệu có thể chưa được mượn. "
              "Hãy kiểm tra."},
}
"""Why a gate alarmed, in both languages (the ``reason`` of an alarm record)."""


def reason_texts(reason: str) -> dict[str, str]:
    """The Vietnamese and English texts of ``reason`` (the code itself when unknown)."""
    return dict(REASONS.get(reason, {"en": reason, "vi": reason}))


@dataclass(frozen=True, slots=True)
class BeamPass:
    """A person who crossed both IR beams: ``direction`` from the order they broke."""

    direction: Direction
    started_at: float
    ended_at: float


@dataclass
class BeamCounter:
    """Counts people from two IR beams (inner and outer), with direction.

    A pass starts when a beam breaks while both are clear, and ends when both have been
    clear for ``gap_s`` (so a short gap between the beams, or a poll between two input
    changes, does not split a pass). It counts only if both beams were broken during it;
    the beam that broke first gives the direction (inner first = leaving = ``out``). Both
    breaking in the same poll gives ``unknown``. A person who breaks one beam and steps
    back is not counted.

    Args:
        hint_s: how long after a pass ends its direction is still offered as a hint for
            tags that arrive late (:meth:`direction_hint`).
        gap_s: how long both beams must be clear to end a pass.
    """

    hint_s: float = 1.5
    gap_s: float = 0.15
    _clear_since: float | None = None
    _start: Side | None = None
    _seen_inner: bool = False
    _seen_outer: bool = False
    _started_at: float = 0.0
    _last: BeamPass | None = None

    @property
    def active(self) -> bool:
        """True while a pass is in progress."""
        return self._start is not None

    def update(self, inner: bool, outer: bool, now: float) -> BeamPass | None:
        """Feed the beams' state (True = broken); returns a finished pass, if any."""
        if self._start is None:
            if not inner and not outer:
                return None
            self._start = "both" if inner and outer else ("inner" if inner else "outer")
            self._started_at = now
            self._seen_inner, self._seen_outer = inner, outer
            return None
        self._seen_inner |= inner
        self._seen_outer |= outer
        if inner or outer:
            self._clear_since = None
            return None
        if self._clear_since is None:
            self._clear_since = now
        if now - self._clear_since < self.gap_s:
            return None
        done = None
        if self._seen_inner and self._seen_outer:
            direction: Direction = {"inner": "out", "outer": "in"}.get(self._start, "unknown")  # type: ignore[assignment]
            done = BeamPass(direction, self._started_at, self._clear_since)
            self._last = done
        self._start = self._clear_since = None
        self._seen_inner = self._seen_outer = False
        return done

    def direction_hint(self, now: float) -> Direction | None:
        """The direction of the pass in progress, or of one that just ended, else None."""
        if self._start in ("inner", "outer"):
            return "out" if self._start == "inner" else "in"
        if self._start == "both":
            return None
        if self._last is not None and now - self._last.ended_at <= self.hint_s:
            return self._last.direction
        return None


def direction_from_zones(first_zones: set[str], inner: str, outer: str) -> Direction | None:
    """The direction given by the zone(s) where a tag was first seen, else None.

    First seen only at the inner antenna: the tag comes from inside, so it goes ``out``;
    only at the outer antenna: ``in``; at both at once (or elsewhere): undecided.
    """
    if first_zones == {inner}:
        return "out"
    if first_zones == {outer}:
        return "in"
    return None


@dataclass
class Debouncer:
    """Per-tag debounce: a UID alarms at most once per ``window_s``."""

    window_s: float = 10.0
    _last: dict[str, float] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        """True (and remembered) when ``key`` has not alarmed within the window."""
        last = self._last.get(key)
        if last is not None and now - last < self.window_s:
            return False
        self._last[key] = now
        return True

    def prune(self, now: float) -> None:
        """Forget keys older than the window (keeps the map small)."""
        for k in [k for k, t in self._last.items() if now - t >= self.window_s]:
            del self._last[k]

    def __len__(self) -> int:
        return len(self._last)
