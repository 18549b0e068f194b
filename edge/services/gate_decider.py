"""The gate's alarm decision for one tag: its AFI, or the cache's loan, or both.

:class:`GateDecider` is the hot path of a gate's poll loop (at most one cache point
look-up per tag); the rules around it (direction, debounce, counting) are in
:mod:`edge.services.gate_logic`, the loop in :mod:`edge.services.gate`.

Must not do: talk to the reader, write to the store, or read the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drivers.tags import SecurityPolicy, SecurityState
from edge.store import Store

DetectionMode = Literal["eas", "afi", "database", "afi+database"]
"""The site's ``gate.detection``: what a tag's alarm is decided on."""


@dataclass(frozen=True, slots=True)
class GateDecision:
    """Whether one tag alarms, and on what grounds.

    Attributes:
        alarm: the tag alarms (before direction and debounce).
        decided_by: ``tag`` (its AFI / EAS), ``cache`` (security database), or
            ``undetermined`` (the tag could not be read: the gate alarms to be safe).
        security_state: ``secured`` / ``released`` / ``unknown`` / ``not_read``.
        on_loan: what the cache says (``None`` when it was not asked).
    """

    alarm: bool
    decided_by: Literal["tag", "cache", "undetermined"]
    security_state: str
    on_loan: bool | None = None


class GateDecider:
    """The alarm decision for one tag of a pass: the hot path, a cache point look-up at most.

    Args:
        store: the edge store (its cache answers ``database`` decisions).
        mode: the site's ``gate.detection``.
        policy: the AFI values of secured and released items.
    """

    def __init__(self, store: Store, mode: DetectionMode, policy: SecurityPolicy) -> None:
        self.store = store
        self.mode = mode
        self.policy = SecurityPolicy("afi", policy.afi_secured, policy.afi_released)

    def state_of(self, afi: int | None) -> SecurityState:
        """The security state an AFI means (``UNKNOWN`` for a foreign value)."""
        return self.policy.interpret(afi)

    def needs_afi(self) -> bool:
        """True when the decision reads the tag's AFI."""
        return self.mode in ("afi", "afi+database")

    def needs_item(self, afi: int | None) -> bool:
        """True when the decision needs the item id (read from the tag) first."""
        if self.mode == "database":
            return True
        return self.mode == "afi+database" and self.state_of(afi) == SecurityState.UNKNOWN

    def decide(self, *, afi: int | None = None, item_id: str | None = None) -> GateDecision:
        """Decide one tag.

        Args:
            afi: the tag's AFI (``afi`` modes).
            item_id: the item on the tag (``database`` modes; ``None``: not a library tag).
        """
        state = self.state_of(afi).value if afi is not None else "not_read"
        if self.mode == "database":
            if item_id is None:
                return GateDecision(False, "cache", state)
            on_loan = self.store.cache.is_on_loan(item_id)
            return GateDecision(not on_loan, "cache", state, on_loan)
        if state == SecurityState.SECURED.value:
            return GateDecision(True, "tag", state)
        if self.mode == "afi+database" and state == SecurityState.UNKNOWN.value and item_id:
            on_loan = self.store.cache.is_on_loan(item_id)
            return GateDecision(not on_loan, "cache", state, on_loan)
        return GateDecision(False, "tag", state)
