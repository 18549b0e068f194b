"""SIP2: sans-IO codec, client, connection pool and ILS profiles.

Public API: :class:`Sip2Codec`, :class:`Sip2StreamDecoder`, the message dataclasses in
``sync.sip2.messages``, :class:`Sip2Client`, :class:`Sip2ConnectionPool`,
:class:`Sip2Profile` and :func:`get_profile`.
"""

from sync.sip2.client import Sip2Client, Sip2ConnectionPool, Sip2TlsError, client_tls_context
from sync.sip2.codec import (
    NEED_DATA,
    Decoded,
    Sip2Codec,
    Sip2StreamDecoder,
    checksum,
    format_date,
    parse_date,
)
from sync.sip2.profiles import PROFILES, Sip2Profile, get_profile

__all__ = [
    "NEED_DATA", "PROFILES", "Decoded", "Sip2Client", "Sip2Codec", "Sip2ConnectionPool",
    "Sip2Profile", "Sip2StreamDecoder", "Sip2TlsError", "checksum", "client_tls_context",
    "format_date", "get_profile", "parse_date",
]
