"""The HID OMNIKEY family (5022/5422-class readers): hooks of :class:`PcscIso15693Reader`.

From HID's OMNIKEY developer material (docs/desktop-readers.md cites it):

* READ BINARY ``FF B0 <MSB> <LSB> 00``: Le 00, the reader returns the whole block
  (HID's own ISO 15693 sample for the 5x22 readers sends exactly this);
* UPDATE BINARY ``FF D6 00 <block> 04 <data>``;
* status words with their PC/SC part 3 meanings: ``6A 82`` no such block, ``65 81``
  memory failure (the write did not take), ``62 82`` end of data;
* the pass-through is the PC/SC 2.02 transparent session (the FF C2 command family,
  which the same sample code uses), with no protocol switch and no timer object
  [uncertain: no HID transcript of an ISO 15693 exchange was found].
"""

from __future__ import annotations

from typing import ClassVar

from drivers.pcsc15693.base import PcscIso15693Reader


class OmnikeyIso15693Reader(PcscIso15693Reader):
    """A HID OMNIKEY desk reader (``pcsc15693://OMNIKEY?family=omnikey``)."""

    vendor = "HID OMNIKEY"
    family: ClassVar[str] = "omnikey"
    read_binary_le: ClassVar[int] = 0
