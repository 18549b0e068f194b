"""Sans-IO LLRP framing: message header, frame encoder and the streaming decoder.

Bytes in, typed frozen dataclasses out (:mod:`drivers.llrp.messages`,
:mod:`drivers.llrp.params`). This module never touches a socket or a clock; the driver
(:mod:`drivers.llrp.reader`) and the simulator move the bytes.

Every LLRP message (LLRP 1.0.1 §17.1, ISO/IEC 24791-5) starts with a 10-byte header,
big-endian::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-----+-----+-------------------+-------------------------------+
    |rsvd | ver |  message type(10) |      message length (32) ...  |
    +-----+-----+-------------------+-------------------------------+
    |  ... length: the whole message, header included               |
    +-------------------------------+-------------------------------+
    |                     message ID (32)                           |
    +---------------------------------------------------------------+
    |  fields, then TLV/TV parameters (see drivers.llrp.params)      |
    +---------------------------------------------------------------+

``ver`` is 1 for LLRP 1.0.1 and 2 for LLRP 1.1. A response carries its request's message ID.
"""

from __future__ import annotations

import struct
from typing import Final

from drivers.llrp.errors import LlrpFrameError
from drivers.llrp.messages import MESSAGES, Message, UnknownMessage
from drivers.llrp.params import Cursor

HEADER: Final = struct.Struct("!HII")
HEADER_LEN: Final = 10
MAX_MESSAGE_LEN: Final = 1 << 20
"""The largest message accepted (1 MiB): a longer length field is a broken stream."""
VERSIONS: Final = (1, 2)
DEFAULT_PORT: Final = 5084


def encode_message(msg: Message) -> bytes:
    """The whole frame of ``msg``: header (type, length, ``msg.msg_id``, version) and body.

    Raises:
        LlrpFrameError: a version other than 1 or 2, an ID outside 32 bits, or a body the
            message cannot encode.
    """
    if msg.version not in VERSIONS:
        raise LlrpFrameError(f"version must be 1 (LLRP 1.0.1) or 2 (LLRP 1.1), got {msg.version}",
                             "version")
    if not 0 <= msg.msg_id <= 0xFFFFFFFF:
        raise LlrpFrameError(f"message ID must fit 32 bits, got {msg.msg_id}", "message ID")
    mtype = msg.msg_type if isinstance(msg, UnknownMessage) else msg.TYPE
    if not 0 <= mtype <= 0x3FF:
        raise LlrpFrameError(f"message type must fit 10 bits, got {mtype}", "message type")
    body = msg.body()
    return HEADER.pack(msg.version << 10 | mtype, HEADER_LEN + len(body), msg.msg_id) + body


def peek_header(data: bytes) -> tuple[int, int, int, int]:
    """``(version, type, length, message ID)`` of the header at the start of ``data``.

    Raises:
        LlrpFrameError: fewer than 10 bytes, an unsupported version, or a length outside
            10..MAX_MESSAGE_LEN.
    """
    if len(data) < HEADER_LEN:
        raise LlrpFrameError(f"a header needs 10 bytes, got {len(data)}", "header", 0)
    word, length, msg_id = HEADER.unpack_from(data)
    version, mtype = word >> 10 & 7, word & 0x3FF
    if version not in VERSIONS:
        raise LlrpFrameError(f"unsupported LLRP version {version} (expected 1 or 2)", "version", 0)
    if not HEADER_LEN <= length <= MAX_MESSAGE_LEN:
        raise LlrpFrameError(f"message length {length} is outside 10..{MAX_MESSAGE_LEN}",
                             "message length", 2)
    return version, mtype, length, msg_id


def decode_message(frame: bytes) -> Message:
    """One whole frame to its message; an unknown type gives :class:`UnknownMessage`.

    Raises:
        LlrpFrameError: a bad header, a length that disagrees with the frame, or a body
            that does not parse (the error names the field and the byte offset).
    """
    frame = bytes(frame)
    version, mtype, length, msg_id = peek_header(frame)
    if length != len(frame):
        raise LlrpFrameError(f"header length {length} but the frame has {len(frame)} bytes",
                             "message length", 2)
    cls = MESSAGES.get(mtype)
    if cls is None:
        return UnknownMessage(mtype, frame[HEADER_LEN:], msg_id=msg_id, version=version)
    c = Cursor(frame, HEADER_LEN, length)
    msg = cls.from_body(c, msg_id, version)
    if c.left():
        raise LlrpFrameError(f"{c.left()} bytes left over", cls.__name__, c.pos)
    return msg


class FrameDecoder:
    """Streaming decoder: :meth:`feed` bytes as they arrive, get whole messages back.

    A frame whose header is bad leaves the stream unusable (LLRP has no resynchronisation
    marker), so after such an error the decoder refuses further input until :meth:`reset`.
    A frame with a good header and a bad body is dropped whole and its error raised; the
    bytes after it are kept. Messages completed before the bad frame in the same call are
    returned first and the error is raised by the next call.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._broken: LlrpFrameError | None = None
        self._deferred: LlrpFrameError | None = None

    def reset(self) -> None:
        """Forget buffered bytes and any broken-stream state (a new connection)."""
        self._buf.clear()
        self._broken = self._deferred = None

    @property
    def broken(self) -> bool:
        """True after a bad header: the connection's byte stream cannot be trusted."""
        return self._broken is not None

    @property
    def pending(self) -> int:
        """Bytes buffered towards the next frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes; return every message completed by them, in order.

        Raises:
            LlrpFrameError: a malformed frame.
        """
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            self._buf += data
            raise exc
        if self._broken is not None:
            raise LlrpFrameError(f"stream is broken since an earlier bad header: {self._broken}",
                                 "stream")
        self._buf += data
        out: list[Message] = []
        while len(self._buf) >= HEADER_LEN:
            try:
                _, _, length, _ = peek_header(bytes(self._buf[:HEADER_LEN]))
            except LlrpFrameError as exc:
                self._broken = exc
                if out:
                    return out
                raise
            if len(self._buf) < length:
                break
            frame = bytes(self._buf[:length])
            del self._buf[:length]
            try:
                out.append(decode_message(frame))
            except LlrpFrameError as exc:
                if not out:
                    raise
                self._deferred = exc
                break
        return out
