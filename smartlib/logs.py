"""Logging set-up for every smartlib process: human or JSON output, a TRACE level, masking.

The :class:`MaskingFilter` is attached to every handler that :func:`configure_logging`
installs, so no PIN, password or SIP2 ``AD``/``CO`` field value reaches a log line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

TRACE = 5
"""Raw device frames are logged at this level, below DEBUG."""

MASK = "***"

_SENSITIVE_KEYS = ("pin", "password", "passwd", "secret", "token", "pwd")

# key=value, key: value, "key": "value" forms for sensitive keys.
_KV = re.compile(
    r"""(?P<key>["']?\b(?:\w*_)?(?:pin|password|passwd|secret|token|pwd)\b["']?\s*[=:]\s*)"""
    r"""(?P<q>["']?)(?P<val>[^\s"',;|}&]+)(?P=q)""",
    re.IGNORECASE,
)
# SIP2 variable fields AD (patron password) and CO (login password), up to the next '|'
# or the end of the message.
_SIP2 = re.compile(r"(?P<pre>(?:^|\|)(?:AD|CO))(?P<val>[^|\r\n]*)")


def mask_text(text: str) -> str:
    """Return ``text`` with secrets replaced by ``***``."""
    text = _KV.sub(lambda m: f"{m.group('key')}{m.group('q')}{MASK}{m.group('q')}", text)
    # Only messages that look like SIP2 (two digits first, or after a quote/space) are
    # scanned for AD/CO fields, so ordinary words are not touched.
    if "|" in text:
        text = _SIP2.sub(lambda m: f"{m.group('pre')}{MASK}" if m.group("val") else m.group(0), text)
    return text


def mask_value(key: str, value: Any) -> Any:
    """Mask ``value`` when ``key`` names a secret; recurse into dicts and lists."""
    if isinstance(key, str) and any(s in key.lower() for s in _SENSITIVE_KEYS):
        return MASK
    if isinstance(value, dict):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value("", v) for v in value)
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_identifier(ident: str, keep: int = 3) -> str:
    """Show only the last ``keep`` characters of a patron identifier."""
    if len(ident) <= keep:
        return "*" * len(ident)
    return "*" * (len(ident) - keep) + ident[-keep:]


class MaskingFilter(logging.Filter):
    """Rewrites each record so that secrets never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError) as exc:
            message = f"{record.msg!r} (bad log arguments: {exc})"
        record.msg = mask_text(message)
        record.args = None
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            record.fields = mask_value("", extra)
        return True


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
    """Install one stderr handler with masking on the root logger (idempotent)."""
    logging.addLevelName(TRACE, "TRACE")
    if isinstance(level, str):
        level = TRACE if level.upper() == "TRACE" else logging.getLevelName(level.upper())
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_smartlib", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._smartlib = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if json_output else HumanFormatter())
    handler.addFilter(MaskingFilter())
    root.addHandler(handler)
    root.setLevel(level)
