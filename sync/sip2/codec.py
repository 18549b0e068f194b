"""The SIP2 wire codec: bytes in, typed frozen messages out, and back. Sans-IO.

This module never opens a socket, sleeps or logs; the client (``sync.sip2.client``) and the
demo ILS move the bytes. One frame on the wire::

    +----+----------------------+--------------------------------+------+---------+------+
    | 11 | fixed fields         | AOinst|AApatron|ABitem|...     | AY n | AZ hhhh | CR   |
    +----+----------------------+--------------------------------+------+---------+------+
     cmd   fixed widths, in       variable fields: 2-letter code,  seq    checksum  CR,
     2 ch  order (see messages)   value, delimiter '|'            0-9    (optional) CRLF, LF
                                                                  '-- error detection --'

The checksum is the 16-bit two's complement of the sum of every *encoded byte* from the
command up to and including the ``A`` and ``Z`` of ``AZ`` (so UTF-8 Vietnamese text counts
with its multi-byte sequences). ``96``/``97`` carry ``AZ`` only, without ``AY``.

:class:`Sip2Codec` encodes and decodes one frame; :class:`Sip2StreamDecoder` buffers a TCP
byte stream (``receive_data``/``next_message``) because one read is not one message.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from sync.errors import (
    Sip2ChecksumError,
    Sip2DateError,
    Sip2EncodingError,
    Sip2FieldError,
    Sip2FrameError,
    Sip2UnknownMessageError,
)
from sync.sip2.messages import MESSAGES, VARIABLE_FIELDS, Message, MessageLayout

CHARSETS: Final = ("utf-8", "latin-1", "cp850", "ascii")
TERMINATORS: Final = {"cr": b"\r", "crlf": b"\r\n", "lf": b"\n"}
BLANK_DATE: Final = " " * 18


def checksum(data: bytes) -> str:
    """The SIP2 checksum of ``data`` (every byte up to and including ``AZ``), 4 hex digits."""
    return f"{(-sum(data)) & 0xFFFF:04X}"


def format_date(when: _dt.datetime | None = None, *, utc: bool = False) -> str:
    """A SIP2 date ``YYYYMMDDZZZZHHMMSS``: local time with four spaces, or UTC with ``   Z``.

    Args:
        when: the time (naive = local); None means now.
        utc: write the UTC time with the ``   Z`` zone.
    """
    if when is None:
        when = _dt.datetime.now(_dt.UTC) if utc else _dt.datetime.now()
    zone = "    "
    if utc:
        if when.tzinfo is not None:
            when = when.astimezone(_dt.UTC)
        zone = "   Z"
    # not strftime: "%Y" does not pad years below 1000 on every platform
    return (f"{when.year:04d}{when.month:02d}{when.day:02d}{zone}"
            f"{when.hour:02d}{when.minute:02d}{when.second:02d}")


def parse_date(value: str, field: str = "date") -> _dt.datetime:
    """Parse a SIP2 date; ``   Z`` gives an aware UTC datetime, blanks a naive local one.

    Raises:
        Sip2DateError: not 18 characters, not digits where digits belong, or impossible.
    """
    if not isinstance(value, str):
        raise Sip2DateError(f"date must be a string YYYYMMDDZZZZHHMMSS, got {value!r}", field)
    _check_date(value, field)
    zone = value[8:12].strip()
    try:
        dt = _dt.datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]),
                          int(value[12:14]), int(value[14:16]), int(value[16:18]))
    except ValueError as exc:  # pragma: no cover - _check_date rejects these first
        raise Sip2DateError(f"impossible date {value!r}: {exc}", field) from None
    return dt.replace(tzinfo=_dt.UTC) if zone in ("Z", "UTC") else dt


_DATE_RE = re.compile(r"[0-9]{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[A-Za-z ]{4}"
                      r"(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]")


def _check_date(value: str, field: str) -> None:
    """Raise :class:`Sip2DateError` naming ``field`` unless ``value`` is a real date and time."""
    if _DATE_RE.fullmatch(value):
        if value[6:8] <= "28" and value[0:4] != "0000":  # every month has 28 days
            return
        _check_calendar(value, field)
        return
    if len(value) != 18:
        raise Sip2DateError(f"date must be 18 characters YYYYMMDDZZZZHHMMSS, got {value!r}", field)
    d, z, t = value[0:8], value[8:12], value[12:18]
    if not (d.isascii() and d.isdigit() and t.isascii() and t.isdigit()):
        raise Sip2DateError(f"date must be YYYYMMDDZZZZHHMMSS with digits, got {value!r}", field)
    if not (z.isascii() and all(c == " " or c.isalpha() for c in z)):
        raise Sip2DateError(f"date zone must be 4 spaces or letters, got {z!r}", field)
    mo, hh, mi, ss = int(d[4:6]), int(t[0:2]), int(t[2:4]), int(t[4:6])
    if not (1 <= mo <= 12 and hh < 24 and mi < 60 and ss < 60):
        raise Sip2DateError(f"date out of range: {value!r}", field)
    _check_calendar(value, field)


def _check_calendar(value: str, field: str) -> None:
    """The year, month and day of an already well-formed date name a real day."""
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8])
    if year < 1:
        raise Sip2DateError(f"impossible date {value!r}: there is no year 0000", field)
    if not 1 <= month <= 12:
        raise Sip2DateError(f"impossible date {value!r}: no month {month:02d}", field)
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise Sip2DateError(f"impossible date {value!r}: {year:04d}-{month:02d} has "
                            f"{last} days, not {day}", field)


class Decoded(NamedTuple):
    """One decoded frame: the message and its transport metadata.

    ``problems`` lists what a lenient decode skipped (always empty in strict mode).
    """

    message: Message
    sequence: int | None
    checksum: str | None
    raw: bytes
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnknownMessage(Message):
    """A frame whose command this codec does not know (lenient mode only)."""

    command: str = ""
    body: str = ""




class Sip2Codec:
    """Encode and decode single SIP2 frames for one charset and framing setting.

    Args:
        charset: ``utf-8``, ``latin-1``, ``cp850`` or ``ascii``.
        error_detection: write ``AY``/``AZ`` on encode.
        terminator: bytes written after each frame (CR, CRLF or LF); input accepts all three.
        strict: raise on any bad field; lenient keeps what it could parse and lists problems.
        verify_checksum: check ``AZ`` on decode when present (a mismatch always raises).
        require_checksum: a frame without ``AY``/``AZ`` is an error.
        delimiter: the variable-field delimiter (``|``; FOLIO can change it).
    """

    def __init__(self, charset: str = "utf-8", *, error_detection: bool = False,
                 terminator: bytes = b"\r", strict: bool = True, verify_checksum: bool = True,
                 require_checksum: bool = False, delimiter: str = "|") -> None:
        norm = charset.lower().replace("_", "-")
        norm = {"utf8": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1", "ibm850": "cp850",
                "us-ascii": "ascii"}.get(norm, norm)
        if norm not in CHARSETS:
            raise Sip2EncodingError(f"charset {charset!r} is not one of {', '.join(CHARSETS)}")
        if terminator not in (b"\r", b"\r\n", b"\n"):
            raise Sip2FrameError(f"terminator must be CR, CRLF or LF, got {terminator!r}")
        if len(delimiter) != 1 or not delimiter.isascii():
            raise Sip2FrameError(f"delimiter must be one ASCII character, got {delimiter!r}")
        self.charset = norm
        self.error_detection = error_detection
        self.terminator = terminator
        self.strict = strict
        self.verify_checksum = verify_checksum
        self.require_checksum = require_checksum
        self.delimiter = delimiter

    # ---- encode -----------------------------------------------------------------------

    def encode(self, msg: Message, sequence: int | None = None,
               error_detection: bool | None = None) -> bytes:
        """Encode ``msg`` into one frame, terminator included.

        Args:
            msg: any message dataclass.
            sequence: the AY digit (0-9) when error detection is on (default 0).
            error_detection: override the codec's setting for this frame (a server echoes
                the request's mode).

        Raises:
            Sip2FieldError: a fixed field has the wrong width or alphabet, or a value holds
                the delimiter or a line break.
            Sip2EncodingError: the text cannot be encoded in the charset (strict mode).
        """
        return self.encode_text(self.message_text(msg), sequence, error_detection,
                                control=msg.COMMAND in ("96", "97"))

    def message_text(self, msg: Message) -> str:
        """The frame text without trailer and terminator."""
        fixed, variable = _ENCODE_PLANS[msg.COMMAND]
        d = self.delimiter
        parts = [msg.COMMAND]
        append = parts.append
        for name, width, kind in fixed:
            v = getattr(msg, name)
            if kind == "yn":
                append("U" if v is None else ("Y" if v else "N"))
            elif kind == "ok":
                append("1" if v else "0")
            else:
                append(_encode_fixed(name, width, kind, v))
        for code, name, kind in variable:
            v = getattr(msg, name)
            if v is None:
                continue
            if kind == "s":
                if d in v or "\r" in v or "\n" in v:
                    _checked(v, code, d)
                append(code + v + d)
            elif kind == "l":
                for item in v:
                    append(code + _checked(item, code, d) + d)
            else:
                append(code + ("Y" if v else "N") + d)
        for code, v in msg.extra:
            if len(code) != 2 or not code.isascii():
                raise Sip2FieldError(f"extension field code must be 2 ASCII characters, got {code!r}", code)
            append(code + _checked(v, code, d) + d)
        return "".join(parts)

    def encode_text(self, text: str, sequence: int | None = None,
                    error_detection: bool | None = None, *, control: bool = False) -> bytes:
        """Encode already formatted frame text: charset, optional trailer, terminator."""
        if not text.isascii() and not unicodedata.is_normalized("NFC", text):
            text = _nfc_fields(text, self.delimiter)
        try:
            data = text.encode(self.charset, "strict" if self.strict else "replace")
        except UnicodeEncodeError as exc:
            field_start = text.rfind("|", 0, exc.start) + 1
            code = text[field_start:field_start + 2]
            if code in _SECRET_FIELDS:  # a PIN or password: neither its characters nor the cause
                raise Sip2EncodingError(f"cannot encode the {code} field (value withheld: a "
                                        f"secret field) in {self.charset}") from None
            raise Sip2EncodingError(
                f"cannot encode {text[exc.start:exc.end]!r} in {self.charset}") from exc
        if self.error_detection if error_detection is None else error_detection:
            if control:
                data += b"AZ"
            else:
                seq = 0 if sequence is None else sequence
                if not 0 <= seq <= 9:
                    raise Sip2FieldError(f"sequence must be 0-9, got {seq}", "AY")
                data += b"AY%dAZ" % seq
            data += checksum(data).encode("ascii")
        return data + self.terminator

    # ---- decode -----------------------------------------------------------------------

    def decode(self, frame: bytes) -> Decoded:
        """Decode one frame (terminator optional).

        Raises:
            Sip2ChecksumError: AZ does not match (when ``verify_checksum``).
            Sip2FrameError: empty frame, no command, or a missing trailer when required.
            Sip2UnknownMessageError: unknown command (strict mode).
            Sip2FieldError / Sip2DateError: a field is short or invalid (strict mode).
            Sip2EncodingError: bytes invalid in the charset (strict mode).
        """
        body = frame.rstrip(b"\r\n")
        seq: int | None = None
        cs: str | None = None
        n = len(body)
        cs_val = _hex4(body[n - 4:]) if n >= 6 and body[n - 6:n - 4] == b"AZ" else -1
        if cs_val >= 0:
            if self.verify_checksum and (sum(body[:n - 4]) + cs_val) & 0xFFFF:
                raise Sip2ChecksumError(
                    f"checksum {body[n - 4:].decode()} does not match {checksum(body[:n - 4])}", "AZ")
            cs = body[n - 4:].decode("ascii").upper()
            body = body[:n - 6]
            n -= 6
            if n >= 3 and body[n - 3:n - 1] == b"AY" and 48 <= body[n - 1] <= 57:
                seq = body[n - 1] - 48
                body = body[:n - 3]
        elif self.require_checksum:
            raise Sip2FrameError("frame has no AY/AZ error-detection trailer", "AZ")
        if len(body) < 2:
            raise Sip2FrameError(f"frame too short to hold a command: {frame!r}")
        try:
            text = body.decode(self.charset, "strict" if self.strict else "replace")
        except UnicodeDecodeError as exc:
            raise Sip2EncodingError(f"bytes {body[exc.start:exc.end]!r} are not valid {self.charset}") from exc
        if not text.isascii() and not unicodedata.is_normalized("NFC", text):
            text = _nfc_fields(text, self.delimiter)
        problems: list[str] = []
        msg = self._parse(text, problems)
        return Decoded(msg, seq, cs, frame if type(frame) is bytes else bytes(frame), tuple(problems))

    def decode_message(self, frame: bytes) -> Message:
        """Decode one frame and return only the message."""
        return self.decode(frame).message

    def _parse(self, text: str, problems: list[str]) -> Message:
        cmd = text[:2]
        entry = _TABLES.get(cmd)
        if entry is None:
            if self.strict:
                raise Sip2UnknownMessageError(f"unknown command {cmd!r}", "command")
            problems.append(f"unknown command {cmd!r}")
            return UnknownMessage(command=cmd, body=text[2:])
        layout, table, plan = entry
        values: dict[str, Any] = {}
        strict = self.strict
        pos = 2 + layout.fixed_width
        if len(text) >= pos:
            for name, start, end, dec in plan:
                try:
                    if dec is _dec_str:
                        values[name] = text[start:end]
                    elif dec is _dec_yn:
                        c = text[start]
                        values[name] = True if c == "Y" else False if c == "N" else _dec_yn(c, name)
                    else:
                        values[name] = dec(text[start:end], name)
                except Sip2FieldError as exc:
                    if strict:
                        raise
                    problems.append(str(exc))
        else:
            for name, start, end, dec in plan:
                chunk = text[start:end]
                try:
                    if len(chunk) != end - start:
                        raise Sip2FieldError(
                            f"fixed field is short: {len(chunk)} of {end - start} characters", name)
                    values[name] = dec(chunk, name)
                except Sip2FieldError as exc:
                    if strict:
                        raise
                    problems.append(str(exc))
        rest = text[pos:]
        if rest:
            extra: list[tuple[str, str]] = []
            lists: dict[str, list[str]] = {}
            pieces = rest.split(self.delimiter)
            if pieces[-1] == "":
                pieces.pop()
            for p in pieces:
                # every code in the table has two characters, so a shorter piece misses it
                spec = table.get(p[:2])
                if spec is None:
                    if len(p) >= 2:
                        extra.append((p[:2], p[2:]))
                    elif p:
                        if strict:
                            raise Sip2FieldError(f"variable field too short: {p!r}", p)
                        problems.append(f"variable field too short: {p!r}")
                    continue
                name, kind = spec
                if kind == "s":
                    if name in values:
                        extra.append((p[:2], p[2:]))
                    else:
                        values[name] = p[2:]
                elif kind == "l":
                    lists.setdefault(name, []).append(p[2:])
                else:
                    v = p[2:]
                    if v == "Y":
                        values[name] = True
                    elif v == "N":
                        values[name] = False
                    elif v in ("", "U", " "):
                        values[name] = None
                    elif strict:
                        raise Sip2FieldError(f"flag must be Y, N or U, got {v!r}", p[:2])
                    else:
                        problems.append(f"field {p[:2]}: flag must be Y, N or U, got {v!r}")
            for name, items in lists.items():
                values[name] = tuple(items)
            if extra:
                values["extra"] = tuple(extra)
        msg = object.__new__(layout.cls)
        msg.__dict__.update(values)
        return msg


def _hex4(b: bytes) -> int:
    """The value of 4 hex digits, or -1."""
    if not b.isalnum():
        return -1
    try:
        return int(b, 16)
    except ValueError:
        return -1


_SECRET_FIELDS = frozenset({"AD", "CO", "AC"})
"""Password fields (patron PIN, patron password, terminal password): an error never
shows their values."""


def _nfc_fields(text: str, delimiter: str) -> str:
    # NFC, one field at a time: the command and fixed part, then each variable field's code
    # and value apart, so a value that begins with a combining mark (U+0323 ...) does not
    # compose with the last letter of its field code ("AA" + U+0323 is not "A" + U+1EA0).
    entry = _TABLES.get(text[:2])
    head = 2 + entry[0].fixed_width if entry is not None else 2
    pieces = text[head:].split(delimiter)
    return delimiter.join(
        [unicodedata.normalize("NFC", text[:head]) + pieces[0][:2]
         + unicodedata.normalize("NFC", pieces[0][2:])]
        + [p[:2] + unicodedata.normalize("NFC", p[2:]) for p in pieces[1:]])


def _checked(value: str, code: str, delimiter: str) -> str:
    if delimiter in value or "\r" in value or "\n" in value:
        # worded so that log masking leaves it whole (it reads "password field: x" as a secret)
        shown = "(value withheld: a secret field)" if code in _SECRET_FIELDS else repr(value)
        raise Sip2FieldError(f"{code} value must not contain {delimiter!r} or a line break: "
                             f"{shown}", code)
    return value


def _encode_fixed(name: str, width: int, kind: str, v: Any) -> str:
    if kind == "yn":
        return "U" if v is None else ("Y" if v else "N")
    if kind == "ok":
        return "1" if v else "0"
    if kind == "date":
        if v is None or v == "":
            return BLANK_DATE
        if isinstance(v, _dt.datetime):
            return format_date(v, utc=v.tzinfo is not None)
        _check_date(v, name)
        return str(v)
    if kind == "n":
        if v is None:
            return " " * width
        s = str(int(v)).zfill(width)
        if len(s) != width or int(v) < 0:
            raise Sip2FieldError(f"count {v} does not fit in {width} digits", name)
        return s
    s = str(v)
    if len(s) != width:
        raise Sip2FieldError(f"fixed field must be {width} characters, got {s!r}", name)
    return s


def _dec_ok(c: str, name: str) -> bool:
    if c == "1" or c == "Y":
        return True
    if c == "0" or c == "N":
        return False
    raise Sip2FieldError(f"ok must be 1 or 0, got {c!r}", name)


def _dec_yn(c: str, name: str) -> bool | None:
    if c == "Y":
        return True
    if c == "N":
        return False
    if c == "U" or c == " ":
        return None
    raise Sip2FieldError(f"flag must be Y, N or U, got {c!r}", name)


def _dec_date(c: str, name: str) -> str | None:
    if c == BLANK_DATE:
        return None
    _check_date(c, name)
    return c


def _dec_int(c: str, name: str) -> int | None:
    if c.isascii() and c.isdigit():
        return int(c)
    if c.strip() == "":
        return None
    raise Sip2FieldError(f"count must be digits or blank, got {c!r}", name)


def _dec_str(c: str, name: str) -> str:
    return c


_DECODERS: dict[str, Callable[[str, str], Any]] = {
    "ok": _dec_ok, "yn": _dec_yn, "date": _dec_date, "n": _dec_int, "s": _dec_str,
}


# per-layout decode tables, built once
_Plan = tuple[tuple[str, int, int, Callable[[str, str], Any]], ...]


def _plan(layout: MessageLayout) -> _Plan:
    out = []
    pos = 2
    for f in layout.fixed:
        out.append((f.name, pos, pos + f.width, _DECODERS[f.kind]))
        pos += f.width
    return tuple(out)


_ENCODE_PLANS: dict[str, tuple[tuple[tuple[str, int, str], ...], tuple[tuple[str, str, str], ...]]] = {
    cmd: (tuple((f.name, f.width, f.kind) for f in lay.fixed),
          tuple((c, *VARIABLE_FIELDS[c]) for c in lay.variable))
    for cmd, lay in MESSAGES.items()
}

_TABLES: dict[str, tuple[MessageLayout, dict[str, tuple[str, str]], _Plan]] = {
    cmd: (lay, {c: VARIABLE_FIELDS[c] for c in lay.variable}, _plan(lay))
    for cmd, lay in MESSAGES.items()
}


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
"""Returned by :meth:`Sip2StreamDecoder.next_message` when no complete frame is buffered."""


class Sip2StreamDecoder:
    """Buffers a byte stream and yields one decoded frame per terminator (CR, CRLF or LF).

    Args:
        codec: the codec that decodes each frame.
        max_frame: the longest frame accepted, in bytes.
    """

    def __init__(self, codec: Sip2Codec, max_frame: int = 65536) -> None:
        self.codec = codec
        self.max_frame = max_frame
        self._buf = bytearray()
        self.eof = False

    @property
    def buffered(self) -> int:
        """Bytes received that are not yet a complete frame."""
        return len(self._buf)

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the transport; ``b""`` means the peer closed."""
        if not data:
            self.eof = True
            return
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next raw frame (without its terminator), or None if none is complete.

        Raises:
            Sip2FrameError: more than ``max_frame`` bytes arrived without a terminator.
        """
        buf = self._buf
        while True:
            cr = buf.find(b"\r")
            lf = buf.find(b"\n")
            if cr < 0 and lf < 0:
                if len(buf) > self.max_frame:
                    del buf[:]
                    raise Sip2FrameError(f"no terminator within {self.max_frame} bytes")
                return None
            end = lf if cr < 0 or (0 <= lf < cr) else cr
            frame = bytes(buf[:end])
            skip = end + 1
            if buf[end] == 13 and skip < len(buf) and buf[skip] == 10:
                skip += 1
            del buf[:skip]
            if frame:
                return frame

    def next_message(self) -> Decoded | _NeedData:
        """The next decoded frame, or :data:`NEED_DATA`.

        A frame that fails to decode is consumed before the error is raised, so the caller
        may continue with the next one.
        """
        frame = self.next_frame()
        if frame is None:
            return NEED_DATA
        return self.codec.decode(frame)
