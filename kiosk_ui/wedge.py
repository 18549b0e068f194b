"""Keyboard-wedge barcode scans: telling a scanner from a person typing.

A wedge scanner types the barcode as keystrokes and presses Enter. The kiosk must not take
a card number a person typed for a scan, because a scan logs in without a PIN while a typed
number always needs its PIN. :class:`WedgeDetector` decides, from the key events of the
number field, whether an entry was a scan:

* **a burst**: at least ``min_length`` characters, each at most ``max_gap_s`` after the one
  before, and Enter at most ``max_gap_s`` after the last (no auto-repeat, no edit keys), or
* **the configured affixes**: a prefix and/or suffix is configured and the keys typed since
  the field was last cleared start with the prefix and end with the suffix.

The on-screen keypad never goes through here, so it can never produce a scan.

:class:`WedgeDetector` only decides *whether* an entry was a scan. What a scan may hold
(affixes required and stripped, no control characters, not empty, not too long) is the
scanner driver's rule, and the kiosk may not import ``drivers``: the raw scan goes to the
edge (``POST /scans``, :meth:`kiosk_ui.client.EdgeClient.read_scan`), which answers the
identifier or ``bad_scan``. A suffix made only of CR/LF is the Enter key itself.
Pure Python, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_GAP_S = 0.05
"""Longest pause between two keys of a scan (scanners type every 1–20 ms; people ≥ 80 ms)."""

MIN_LENGTH = 4
"""Shortest scan counted as a burst (a person can roll two or three keys quickly)."""


def effective_suffix(suffix: str) -> str:
    """``suffix`` without trailing CR/LF: for a wedge the CR is the Enter key that ends the scan."""
    return suffix.rstrip("\r\n")


@dataclass
class WedgeDetector:
    """Watches the keys typed into the number field and says whether Enter ended a scan.

    Feed every key press with :meth:`key` (its text and the time it arrived), call
    :meth:`edited` for keys that edit (Backspace, Delete, arrows, auto-repeat) and
    :meth:`reset` when the field is cleared or the keypad types into it; :meth:`enter`
    returns the scan or ``None`` when a person typed the entry.

    Args:
        prefix, suffix: the scanner's configured affixes (``[card_reader] scanner_prefix``,
            ``scanner_suffix``).
        max_gap_s: longest pause between two keys of a burst, Enter included.
        min_length: fewest characters of a burst.
    """

    prefix: str = ""
    suffix: str = ""
    max_gap_s: float = MAX_GAP_S
    min_length: int = MIN_LENGTH

    def __post_init__(self) -> None:
        if self.max_gap_s <= 0:
            raise ValueError(f"max_gap_s must be > 0, got {self.max_gap_s!r}")
        if self.min_length < 1:
            raise ValueError(f"min_length must be >= 1, got {self.min_length!r}")
        self._entry = ""        # every key since the last reset (the affix rule)
        self._burst = ""        # the keys since the last pause longer than max_gap_s
        self._last: float | None = None
        self._clean = True      # no edit key in the burst

    @property
    def has_affixes(self) -> bool:
        return bool(self.prefix or effective_suffix(self.suffix))

    def reset(self) -> None:
        """Forget everything typed (the field was cleared, or the keypad typed into it)."""
        self._entry = ""
        self._burst = ""
        self._last = None
        self._clean = True

    def key(self, text: str, at: float) -> None:
        """One key press that produced ``text`` at time ``at`` (seconds, monotonic)."""
        if not text:
            return
        if self._last is None or at - self._last > self.max_gap_s:
            self._burst = ""
            self._clean = True
        self._burst += text
        self._entry += text
        self._last = at

    def edited(self) -> None:
        """An edit key or an auto-repeated key: whatever follows starts a new burst."""
        self._burst = ""
        self._clean = False
        self._entry = ""
        self._last = None

    def enter(self, at: float) -> str | None:
        """Enter was pressed at ``at``: the scan (raw, affixes included), or ``None``.

        With affixes configured, an entry carrying them is a scan at any speed, and a burst
        without them is still returned so that the edge refuses it with a reason.
        Either way the detector is reset.
        """
        entry, burst, last, clean = self._entry, self._burst, self._last, self._clean
        self.reset()
        suffix = effective_suffix(self.suffix)
        if self.has_affixes and entry.startswith(self.prefix) and entry.endswith(suffix) \
                and len(entry) > len(self.prefix) + len(suffix):
            return entry
        fast = last is not None and at - last <= self.max_gap_s
        if clean and fast and len(burst) >= self.min_length:
            return burst
        return None
