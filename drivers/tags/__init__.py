"""Library tag data: ISO 15693 memory, ISO 28560-2/-3, RFID501, security states. Pure, no I/O.

Public API (other packages code against these names)::

    decode_tag(memory, *, dsfid=None, fmt="auto", reversed_blocks=None, lenient=False) -> TagData
    encode_tag(item, *, fmt="iso28560-3", block_size=4, blocks=None) -> bytes
    ItemTagData, TagData, TagMemory, SecurityPolicy, SecurityState,
    blocks_from_bytes, bytes_from_blocks, crc16_iso28560,
    UnsupportedConstruct  (a TagFormatError: valid-looking data using a construct not decoded)
    encode_uhf, decode_uhf, pc_afi, with_afi, stored_crc, UhfMemory, UhfTagData  (ISO/TS 28560-4)
"""

from drivers.tags._report import UnsupportedConstruct
from drivers.tags.codec import decode_tag, encode_tag
from drivers.tags.crc import crc16_iso28560
from drivers.tags.iso28560_2 import DSFID as DSFID_ISO28560_2
from drivers.tags.iso28560_4 import (
                                     UhfMemory,
                                     UhfTagData,
                                     decode_uhf,
                                     encode_uhf,
                                     pc_afi,
                                     stored_crc,
                                     with_afi,
)
from drivers.tags.memory import TagMemory, blocks_from_bytes, bytes_from_blocks, reverse_blocks
from drivers.tags.model import ItemTagData, TagData, usage_name
from drivers.tags.security import SecurityPolicy, SecurityState, SecurityWrite

__all__ = [
    "DSFID_ISO28560_2", "ItemTagData", "SecurityPolicy", "SecurityState", "SecurityWrite",
    "TagData", "TagMemory", "UhfMemory", "UhfTagData", "UnsupportedConstruct", "blocks_from_bytes",
    "bytes_from_blocks", "crc16_iso28560", "decode_tag", "decode_uhf", "encode_tag", "encode_uhf",
    "pc_afi", "reverse_blocks", "stored_crc", "usage_name", "with_afi",
]
