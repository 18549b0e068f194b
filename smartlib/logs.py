"""Logging set-up for every smartlib process: human or JSON output, a TRACE level, masking.

Masking (:func:`mask_text`) removes PINs, passwords, tokens and the SIP2 ``AD``/``CO``/``AC``
password fields from every record, and masks e-mail addresses (``p***@example.org``). :func:`configure_logging` applies it in three places:

* a :class:`MaskingFilter` on the root logger (records logged on root itself) and on the
  handler it installs, so every record that propagates to root is masked, message, ``fields``
  and traceback alike. Third-party loggers (uvicorn, httpx, paho…) propagate to root by
  default, so their records reach our handler already masked;
* a log-record factory (:func:`install_record_masking`) that masks the message of every
  record when it is created, so a handler that a library attaches to its own logger, or a
  logger with ``propagate = False``, never sees a secret either.

:func:`secret_scope` guards a known secret value (a patron's PIN on its way through a
log-in): every record logged inside the block has that value masked wherever it appears,
and an exception that leaves the block holding it (in its message, or in an exception it
chains) is replaced by :class:`~smartlib.errors.SecretWithheldError`, with the same
traceback, so no log line, stored error or crash report made later can hold it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from smartlib.errors import SecretWithheldError

TRACE = 5
"""Raw device frames are logged at this level, below DEBUG."""

MASK = "***"

_SENSITIVE_WORDS = frozenset({"pin", "password", "passwd", "passcode", "passphrase", "pwd",
                              "secret", "token"})
_SIP2_SECRET_FIELDS = frozenset({"AD", "CO", "AC"})
_KEY = (r"(?:\w*_)?(?:pin|password|passwd|passcode|passphrase|pwd|secret|token)"
        r"(?:_?(?:code|number|no|hash))?")

# key=value, key: value, "key": "value", 'key': 'value' (quoted values may hold spaces).
_KV = re.compile(
    rf"""(?P<key>["']?\b{_KEY}\b["']?\s*[=:]\s*)"""
    r"""(?P<val>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"',;|}&)\]]+)""",
    re.IGNORECASE,
)
# Free-form "PIN 1234", "PIN is 1234", "password hunter2", "password 'x'": the value after the
# word is masked when it holds anything but letters (a bare word such as "PIN entry failed"
# is ordinary text and stays).
_FREE = re.compile(
    rf"""(?P<key>\b{_KEY}\b(?:\s+(?:is|was|code|number|no\.?))?\s+(?:\#\s*)?)"""
    r"""(?P<val>(?=[A-Za-z]*[^A-Za-z\s,;|()\[\]{}<>])[^\s,;|()\[\]{}<>]+)""",
    re.IGNORECASE,
)
# user:password@ in URLs (mqtt://, postgresql://, …).
_URL = re.compile(r"(?P<key>://[^/\s:@]+:)(?P<val>[^/\s@]+)(?=@)")

# E-mail addresses (a patron's, from the ILS's BE field or typed at the kiosk): the first
# letter and the domain stay, ``p***@example.org`` (an address already masked is left alone).
_EMAIL = re.compile(r"(?<![\w.%+-])(?P<first>[A-Za-z0-9])[A-Za-z0-9._%+-]*@"
                    r"(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")

_SIP2_EMAIL = re.compile(r"\|BE(?P<val>[^|\r\n]+)")

# SIP2: AD (patron password), CO (login password) and AC (terminal password) up to the next
# '|' or the end of the line, wherever they occur: after a '|', at the start of a field list,
# or right after the fixed part of a request (fields may come in any order).
_SIP2_AFTER_BAR = re.compile(r"(?P<key>(?:^|(?<=\|))(?:AD|CO|AC))(?P<val>[^|\r\n]+)")
_C = r"[^|\r\n]"
_DATE = rf"\d{{8}}{_C}{{4}}\d{{6}}"
_SIP2_FIXED_PARTS = {
    "93": rf"{_C}{{2}}",                         # login: UID and PWD algorithms
    "23": rf"{_C}{{3}}{_DATE}",                  # patron status: language, date
    "63": rf"{_C}{{3}}{_DATE}{_C}{{10}}",        # patron information: language, date, summary
    "11": rf"[YNyn]{{2}}{_DATE}{_C}{{18}}",      # checkout
    "29": rf"[YNyn]{{2}}{_DATE}{_C}{{18}}",      # renew
    "09": rf"[YNyn]{_DATE}{_C}{{18}}",           # checkin
    "01": rf"[YNyn]{_DATE}",                     # block patron
    "15": rf"[-+*]{_DATE}",                      # hold
    "37": rf"{_DATE}{_C}{{7}}",                  # fee paid: date, fee type, payment, currency
    "17": _DATE, "19": _DATE, "25": _DATE, "35": _DATE, "65": _DATE,
}
_SIP2_AFTER_FIXED = re.compile(
    r"(?P<key>(?<![0-9A-Za-z])(?:"
    + "|".join(code + pat for code, pat in _SIP2_FIXED_PARTS.items())
    + r")(?:AD|CO|AC))(?P<val>[^|\r\n]+)"
)


def _mask_group(m: re.Match[str]) -> str:
    val = m.group("val")
    if len(val) >= 2 and val[0] in "\"'" and val[-1] == val[0]:
        return f"{m.group('key')}{val[0]}{MASK}{val[0]}"
    return f"{m.group('key')}{MASK}"


def _mask_sip2_email(m: re.Match[str]) -> str:
    val = m.group("val")
    _, at, domain = val.partition("@")
    return f"|BE{val[:1]}{MASK}{at}{domain}"


def mask_text(text: str) -> str:
    """Return ``text`` with PINs, passwords, tokens and SIP2 password fields replaced by ``***``.

    Free-form values after a bare word (``password letmein``) are masked only when they are
    not plain letters; use ``key=value`` forms for secrets that are.
    """
    text = _KV.sub(_mask_group, text)
    text = _FREE.sub(_mask_group, text)
    if "://" in text:
        text = _URL.sub(_mask_group, text)
    # Only text with a field separator is scanned for SIP2 fields, so words such as
    # "ADMIN" or "COPY" in ordinary text are left alone.
    if "|" in text:
        text = _SIP2_AFTER_BAR.sub(_mask_group, text)
        text = _SIP2_AFTER_FIXED.sub(_mask_group, text)
    if "|BE" in text:  # SIP2 BE (e-mail address): the field stays, its value is masked
        text = _SIP2_EMAIL.sub(_mask_sip2_email, text)
    if "@" in text:
        text = _EMAIL.sub(lambda m: f"{m.group('first')}{MASK}@{m.group('domain')}", text)
    return text


def _is_sensitive_key(key: str) -> bool:
    if key in _SIP2_SECRET_FIELDS:
        return True
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
    return any(w in _SENSITIVE_WORDS for w in re.split(r"[^a-z0-9]+", words))


def mask_value(key: str, value: Any) -> Any:
    """Mask ``value`` when ``key`` names a secret; recurse into dicts and lists."""
    if isinstance(key, str) and _is_sensitive_key(key):
        return MASK
    if isinstance(value, dict):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value("", v) for v in value)
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_email(address: str) -> str:
    """``p***@example.org``: an e-mail address with only its first letter and domain."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{MASK}@{domain}"


def mask_identifier(ident: str, keep: int = 3) -> str:
    """Show only the last ``keep`` characters of a patron identifier."""
    if len(ident) <= keep:
        return "*" * len(ident)
    return "*" * (len(ident) - keep) + ident[-keep:]


def _mask_record(record: logging.LogRecord) -> None:
    """Mask the message (and any traceback) of ``record`` in place.

    ``record.args`` is kept when nothing needed masking, so formatters that read the
    arguments (uvicorn's access formatter) still work.
    """
    if record.__dict__.get("_smartlib_masked"):
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError) as exc:
        # logging would print msg and args in its "--- Logging error ---" report.
        message = f"{record.msg!r} (bad log arguments: {exc})"
        record.args = None
    masked = mask_guarded(mask_text(message))
    if masked != message or record.args is None:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_guarded(mask_text(
            "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")))
    if record.stack_info:
        record.stack_info = mask_guarded(mask_text(record.stack_info))
    record.__dict__["_smartlib_masked"] = True


class MaskingFilter(logging.Filter):
    """Rewrites each record so that secrets never reach a handler (message, ``fields``, traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record)
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            record.fields = mask_value("", extra)
        return True


_previous_factory: Callable[..., logging.LogRecord] | None = None


def install_record_masking() -> None:
    """Mask every record's message when it is created, whichever handler gets it (idempotent)."""
    global _previous_factory
    if _previous_factory is not None:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _mask_record(record)
        return record

    _previous_factory = previous
    logging.setLogRecordFactory(factory)


def uninstall_record_masking() -> None:
    """Undo :func:`install_record_masking` (tests)."""
    global _previous_factory
    if _previous_factory is not None:
        logging.setLogRecordFactory(_previous_factory)
        _previous_factory = None


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            obj.update(fields)
        if record.exc_info:
            obj["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(obj, ensure_ascii=False, default=str)


class HumanFormatter(logging.Formatter):
    """``time level logger: message key=value…``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info and "Traceback" in line:
            line = mask_text(line)
        return line


def configure_logging(level: str | int = "INFO", json_output: bool = False) -> None:
    """Install one masked stderr handler on the root logger, plus masking everywhere (idempotent).

    The :class:`MaskingFilter` goes on the root logger and on the handler; the record factory
    of :func:`install_record_masking` covers handlers that libraries attach elsewhere.
    """
    logging.addLevelName(TRACE, "TRACE")
    if isinstance(level, str):
        level = TRACE if level.upper() == "TRACE" else logging.getLevelName(level.upper())
    install_record_masking()
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_smartlib", False):
            root.removeHandler(h)
    if not any(isinstance(f, MaskingFilter) for f in root.filters):
        root.addFilter(MaskingFilter())
    handler = logging.StreamHandler(sys.stderr)
    handler._smartlib = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if json_output else HumanFormatter())
    handler.addFilter(MaskingFilter())
    root.addHandler(handler)
    root.setLevel(level)


_GUARDED: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "smartlib_guarded_secrets", default=())


def mask_guarded(text: str) -> str:
    """``text`` with every value guarded by an enclosing :func:`secret_scope` masked."""
    for value in _GUARDED.get():
        if value in text:
            text = text.replace(value, MASK)
    return text


def _holds(exc: BaseException, values: tuple[str, ...]) -> bool:
    """Whether ``exc``, or an exception it chains, shows one of ``values`` when printed."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        try:
            shown = f"{cur}\n{cur.args!r}"
        except Exception as fail:  # noqa: BLE001 (a broken __str__ cannot be shown either)
            shown = repr(fail)
        if any(v in shown for v in values):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


@contextmanager
def secret_scope(*values: str | None,
                 keep: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Guard ``values`` (a PIN…) within the block.

    Records logged inside have them masked (:func:`mask_guarded`, through the masking
    filter and record factory). An exception leaving the block whose message, or that of
    an exception it chains, holds one is replaced by :class:`SecretWithheldError` carrying
    the same traceback; any other exception passes unchanged, and so do the ``keep`` types
    (the caller's own typed errors, whose messages it composes without secrets: a short PIN
    may appear in one by chance, as in "try again in 900 s").
    """
    guarded = tuple(v for v in values if v)
    if not guarded:
        yield
        return
    token = _GUARDED.set(_GUARDED.get() + guarded)
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, Exception) or not _holds(exc, guarded):
            raise
        if isinstance(exc, keep):  # kept, but not a cause that shows the secret
            inner = exc.__cause__ or exc.__context__
            if inner is not None and _holds(inner, guarded):
                exc.__cause__ = SecretWithheldError(inner).with_traceback(inner.__traceback__)
                exc.__suppress_context__ = True
            raise
        withheld = SecretWithheldError(exc)
        raise withheld.with_traceback(exc.__traceback__) from None
    finally:
        _GUARDED.reset(token)
