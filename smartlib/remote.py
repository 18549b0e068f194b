"""Remote configuration: which settings the central console may change on a box, and how a
remote document is checked, merged, written as TOML and hashed.

A remote document is a TOML text with only the sections in :data:`REMOTE_SECTIONS` (minus
:data:`REFUSED_KEYS`). The console validates the site's and the device's documents merged;
the box validates what it receives again with the same models (:class:`~smartlib.config.Settings`)
before it applies anything. This module does no I/O beyond what its callers hand it and
imports no product package.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from typing import Any

from pydantic import ValidationError

from smartlib.config import Settings, _problems
from smartlib.errors import ConfigError

REMOTE_SECTIONS = ("policy", "gate", "kiosk", "printer", "security", "sync")
"""Sections a remote configuration may set."""

REFUSED_SECTIONS: dict[str, str] = {
    "site": "the box's identity is set on the box",
    "device": "the box's identity is set on the box",
    "broker": "broker credentials and address stay on the box",
    "store": "the store path stays on the box",
    "api": "the edge API's address and tokens stay on the box",
    "ils": "the ILS account belongs to the gateway, not to a box",
    "gateway": "gateway settings are not a box's",
    "smtp": "mail relay credentials stay on the box",
    "reader": "the reader's wiring is set on the box",
    "card_reader": "the card reader's wiring is set on the box",
}
"""Sections a remote configuration may not set, with the reason given back to staff."""

REFUSED_KEYS: dict[tuple[str, str], str] = {
    ("kiosk", "admin_exit_code"): "a secret: it is never sent over MQTT; set it on the box",
    ("kiosk", "edge_url"): "the kiosk's link to its edge is set on the box",
}

LIVE_KEYS: frozenset[tuple[str, str]] = frozenset(
    ("policy", k) for k in ("offline_login", "partial_set", "offline_max_items",
                            "offline_max_value", "offline_forbidden_usage", "session_idle_s",
                            "anonymous_return"))
"""Keys the edge reads at use time (applied live); every other key needs a restart."""


def load_toml(text: str) -> dict[str, Any]:
    """A remote document's TOML text as a dict of sections, not checked yet.

    Raises:
        ConfigError: not TOML.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}",
                          [("(document)", f"not valid TOML: {exc}")]) from exc


def parse_document(text: str) -> dict[str, Any]:
    """A remote document's TOML text as a dict of sections.

    Raises:
        ConfigError: not TOML, a value outside a section, a refused section or key.
    """
    doc = load_toml(text)
    check_sections(doc)
    return doc


def check_sections(doc: dict[str, Any]) -> None:
    """Refuse what a remote configuration may not touch (with the reason for each).

    Raises:
        ConfigError: ``problems`` names each refused section or key.
    """
    problems = section_problems(doc)
    if problems:
        raise ConfigError(f"{len(problems)} refused setting(s)", problems)


def section_problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """``(path, reason)`` of every section or key a remote configuration may not touch."""
    problems: list[tuple[str, str]] = []
    for name, value in doc.items():
        if name in REFUSED_SECTIONS:
            problems.append((name, f"not remotely configurable: {REFUSED_SECTIONS[name]}"))
        elif name not in REMOTE_SECTIONS:
            problems.append((name, "unknown section (remote sections: "
                                   + ", ".join(REMOTE_SECTIONS) + ")"))
        elif not isinstance(value, dict):
            problems.append((name, "must be a [section] table"))
        else:
            problems += [(f"{name}.{key}", f"not remotely configurable: {why}")
                         for (sec, key), why in REFUSED_KEYS.items() if sec == name and key in value]
    return problems


def document_problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem of a remote document at once: each refused section or key, then each
    value the boxes' models refuse in the sections a remote change may set."""
    problems = section_problems(doc)
    allowed = {name: {k: v for k, v in values.items() if (name, k) not in REFUSED_KEYS}
               for name, values in doc.items()
               if name in REMOTE_SECTIONS and isinstance(values, dict)}
    try:
        Settings.model_validate(allowed)
    except ValidationError as exc:
        problems += _problems(exc)
    return problems


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, section by section (keys of ``over`` win)."""
    out = {name: dict(values) for name, values in base.items()}
    for name, values in over.items():
        out.setdefault(name, {}).update(values)
    return out


def validate(doc: dict[str, Any]) -> Settings:
    """Check a remote document with the boxes' own models (its sections over the defaults).

    Raises:
        ConfigError: ``problems`` names every refused section or key and every value the
            models refuse (not only the first).
    """
    problems = document_problems(doc)
    if problems:
        raise ConfigError(f"{len(problems)} refused or invalid setting(s)", problems)
    return Settings.model_validate(doc)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{value} cannot be written as TOML", [("(value)", str(value))])
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"a {type(value).__name__} cannot be a remote setting",
                      [("(value)", repr(value))])


def dump_document(doc: dict[str, Any]) -> str:
    """A remote document as canonical TOML text: sections and keys sorted (so equal
    documents have equal text, hash and diff)."""
    parts = []
    for name in sorted(doc):
        values = doc[name]
        if not values:
            continue
        lines = [f"[{name}]", *(f"{k} = {_value(values[k])}" for k in sorted(values))]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def document_hash(text: str) -> str:
    """The hex SHA-256 of a document's UTF-8 text (carried with each push and ack)."""
    return hashlib.sha256(text.encode()).hexdigest()


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    """``(section, key)`` pairs whose value differs between two documents (added or removed
    keys too), sorted."""
    keys = {(s, k) for d in (old, new) for s, vs in d.items() for k in vs}
    return sorted((s, k) for s, k in keys
                  if old.get(s, {}).get(k, _MISSING) != new.get(s, {}).get(k, _MISSING))


_MISSING = object()
