"""PC/SC card readers (pyscard): ATR parsing, APDUs, patron identity.

Public API: :class:`PcscCardReader` behind the :class:`CardReader` interface, its events,
:class:`PatronIdentityRule`, and the sans-IO :func:`parse_atr` and APDU builders.
"""

from drivers.credential import PatronCredential
from drivers.pcsc.atr import Atr, CardKind, StorageCardInfo, parse_atr
from drivers.pcsc.events import (
    CardEvent,
    CardInserted,
    CardLeft,
    CardUnreadable,
    ReaderAttached,
    ReaderDetached,
    ReaderMissing,
)
from drivers.pcsc.identity import PatronIdentityRule, PatronLookupFailed, format_uid
from drivers.pcsc.reader import CardReader, CardTimeout, PcscCardReader

__all__ = [
    "Atr", "CardEvent", "CardInserted", "CardKind", "CardLeft", "CardReader", "CardTimeout",
    "CardUnreadable", "PatronCredential", "PatronIdentityRule", "PatronLookupFailed",
    "PcscCardReader", "ReaderAttached", "ReaderDetached", "ReaderMissing", "StorageCardInfo",
    "format_uid", "parse_atr",
]
