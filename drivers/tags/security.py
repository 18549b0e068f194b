"""Security states of library items: secured / released via AFI, the NXP EAS bit, or both.

A site's ``SecurityPolicy`` (configuration, never constants) says which indicator(s) mean
what; gates ask ``interpret`` and ``should_alarm``, kiosks ask ``target`` what to write.
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from drivers.errors import TagFormatError

MODES = ("afi", "eas", "both")


class SecurityState(StrEnum):
    """What a tag's security indicators say about the item."""

    SECURED = "secured"     # in stock: the gate alarms
    RELEASED = "released"   # on loan: the gate ignores it
    UNKNOWN = "unknown"     # indicators unreadable, foreign, or contradicting each other


@dataclass(frozen=True)
class SecurityWrite:
    """What to write to a tag for a state: ``None`` means leave that indicator alone."""

    afi: int | None
    eas: bool | None


@dataclass(frozen=True)
class SecurityPolicy:
    """Maps the named states to AFI values, the EAS bit, or both.

    Args:
        mode: ``"afi"``, ``"eas"`` or ``"both"``.
        afi_secured: AFI of an item in stock (0x07 per the Danish guidance).
        afi_released: AFI of an item on loan (0xC2).

    Raises:
        TagFormatError: unknown mode, AFI out of range, or equal AFI values.
    """

    mode: str = "afi"
    afi_secured: int = 0x07
    afi_released: int = 0xC2

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise TagFormatError(f"security mode {self.mode!r}, expected one of {MODES}", "mode")
        for name in ("afi_secured", "afi_released"):
            v = getattr(self, name)
            if not isinstance(v, int) or not 0 <= v <= 0xFF:
                raise TagFormatError(f"{name} must be 0..255, got {v!r}", name)
        if self.afi_secured == self.afi_released:
            raise TagFormatError("afi_secured and afi_released must differ", "afi_released")

    def _from_afi(self, afi: int | None) -> SecurityState:
        if afi == self.afi_secured:
            return SecurityState.SECURED
        if afi == self.afi_released:
            return SecurityState.RELEASED
        return SecurityState.UNKNOWN

    @staticmethod
    def _from_eas(eas: bool | None) -> SecurityState:
        if eas is None:
            return SecurityState.UNKNOWN
        return SecurityState.SECURED if eas else SecurityState.RELEASED

    def interpret(self, afi: int | None, eas: bool | None = None) -> SecurityState:
        """The state of a tag seen with this AFI and EAS bit (None = not read).

        In ``both`` mode the two must agree; otherwise the state is UNKNOWN.
        """
        if self.mode == "afi":
            return self._from_afi(afi)
        if self.mode == "eas":
            return self._from_eas(eas)
        a, e = self._from_afi(afi), self._from_eas(eas)
        return a if a == e else SecurityState.UNKNOWN

    def should_alarm(self, afi: int | None, eas: bool | None = None) -> bool:
        """Gate decision: alarm if the tag is secured, or if any indicator says secured."""
        if self.interpret(afi, eas) == SecurityState.SECURED:
            return True
        return self.mode == "both" and SecurityState.SECURED in (self._from_afi(afi),
                                                                  self._from_eas(eas))

    def target(self, state: SecurityState | str) -> SecurityWrite:
        """What to write to put a tag in ``state`` (secured or released).

        Raises:
            TagFormatError: the state is UNKNOWN or not a state name.
        """
        try:
            st = SecurityState(state)
        except ValueError as exc:
            raise TagFormatError(f"unknown security state {state!r}", "state") from exc
        if st == SecurityState.UNKNOWN:
            raise TagFormatError("cannot write the unknown state", "state")
        secured = st == SecurityState.SECURED
        afi = (self.afi_secured if secured else self.afi_released) if self.mode != "eas" else None
        eas = secured if self.mode != "afi" else None
        return SecurityWrite(afi=afi, eas=eas)
