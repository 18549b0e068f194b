"""Keyboard-wedge barcode scans: telling a scanner from a person typing, and the scan rules.

A wedge scanner types the barcode as keystrokes and presses Enter. The kiosk must not take
a card number a person typed for a scan, because a scan logs in without a PIN while a typed
number always needs its PIN. :class:`WedgeDetector` decides, from the key events of the
number field, whether an entry was a scan:

* **a burst**: at least ``min_length`` characters, each at most ``max_gap_s`` after the one
  before, and Enter at most ``max_gap_s`` after the last (no auto-repeat, no edit keys), or
* **the configured affixes**: a prefix and/or suffix is configured and the keys typed since
  the field was last cleared start with the prefix and end with the suffix.

The on-screen keypad never goes through here, so it can never produce a scan.

:func:`parse_scan` applies the same rules as ``drivers.scanner.parse_scan`` (the kiosk may
not import ``drivers``): a trailing CR/LF is the terminator, a configured prefix and suffix
must be present and are stripped, no control or format characters, spaces trimmed, not empty,
at most :data:`MAX_SCAN` characters. A suffix made only of CR/LF is the Enter key itself.
Pure Python, no Qt.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_SCAN = 128
"""Longest accepted scan, in characters (as ``drivers.scanner.MAX_SCAN``)."""

MAX_GAP_S = 0.05
"""Longest pause between two keys of a scan (scanners type every 1–20 ms; people ≥ 80 ms)."""

MIN_LENGTH = 4
"""Shortest scan counted as a burst (a person can roll two or three keys quickly)."""

_CONTROL = ("Cc", "Cf", "Cs", "Co", "Cn")


class ScanRejected(ValueError):
    """A scan is unusable. ``reason`` says why in English and never holds the scan."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def effective_suffix(suffix: str) -> str:
    """``suffix`` without trailing CR/LF: for a wedge the CR is the Enter key that ends the scan."""
    return suffix.rstrip("\r\n")


def parse_scan(text: str, *, prefix: str = "", suffix: str = "") -> str:
    """Turn one wedge scan into a patron identifier.

    Args:
        text: what the scanner typed (a trailing CR LF, CR or LF is allowed).
        prefix: the configured prefix; required and stripped when set (may be a control
            character such as STX).
        suffix: the configured suffix; required and stripped when set (CR/LF at its end are
            the terminator, see :func:`effective_suffix`).

    Returns:
        The identifier, without prefix, suffix and surrounding spaces.

    Raises:
        ScanRejected: empty, missing prefix/suffix, a control character, too long.
        TypeError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"a scan must be text, got {type(text).__name__}")
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith(("\r", "\n")):
        text = text[:-1]
    suffix = effective_suffix(suffix)
    if not text.strip(" "):
        raise ScanRejected("empty scan")
    if prefix:
        if not text.startswith(prefix):
            raise ScanRejected("scan lacks the configured prefix")
        text = text[len(prefix):]
    if suffix:
        if not text.endswith(suffix):
            raise ScanRejected("scan lacks the configured suffix")
        text = text[:-len(suffix)]
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in _CONTROL:
            raise ScanRejected(f"scan has a control character U+{ord(ch):04X} at offset "
                               f"{i + len(prefix)}")
    text = text.strip(" ")
    if not text:
        raise ScanRejected("empty scan")
    if len(text) > MAX_SCAN:
        raise ScanRejected(f"scan of {len(text)} characters, expected at most {MAX_SCAN}")
    return text


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
        without them is still returned so that :func:`parse_scan` rejects it with a reason.
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
