"""The exception tree of ``hardware_sim``: every simulator error is a :class:`SimError`.

Messages say what was wrong and what was expected.
"""

from __future__ import annotations


class SimError(Exception):
    """Root of all simulator errors."""


# ---- demo ILS -----------------------------------------------------------------------------

class IlsError(SimError):
    """The demo ILS cannot start, or its database is unusable."""


class IlsDataError(IlsError):
    """The demo ILS database is missing a table, or a record is malformed."""


# ---- virtual card (vpcd) ------------------------------------------------------------------

class VpcdProtocolError(SimError):
    """A message from vpcd does not follow the vpcd protocol (names what was wrong)."""


class CardSimError(SimError):
    """A simulated-card request is invalid (bad UID, unknown card kind, no such fault)."""
