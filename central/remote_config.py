"""Remote configuration on the central side: versioned site and device documents, what is
pushed to each device and what the device answered.

* A site and each device have their own versioned TOML document (``config_versions``),
  holding only the sections a remote change may touch (:mod:`smartlib.remote`). A device's
  configuration is its site's document with its own on top.
* :class:`RemoteConfigService` checks an edit (the merged document of every device it
  reaches, with the boxes' own pydantic models), stores the new version, records the push
  of each device concerned (``device_configs``: ``pending``) and writes the audit entry
  with who made it and the unified diff.
* :class:`ConfigPublisher` (run by the collector, whose account may write the devices'
  ``…/config`` topics) publishes each pending push retained with QoS 1, and records the
  devices' acknowledgements (``applied`` with the keys that need a restart, or ``failed``
  with the reason).

The web app only writes the database; only the collector talks to MQTT.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from central.db import Database, parse_stamp, stamp
from central.errors import ConfigConflict, ConfigRefused
from smartlib.errors import ConfigError
from smartlib.remote import (
    document_hash,
    document_problems,
    dump_document,
    load_toml,
    merge,
    parse_document,
)
from sync import topics
from sync.errors import MessageError
from sync.messages import ConfigAck, DeviceConfig, decode, encode

log = logging.getLogger(__name__)

SITE_SCOPE = ""
"""The ``device_id`` of a site's own document."""

STATES = ("pending", "applied", "failed")


@dataclass(frozen=True)
class ConfigVersion:
    """One version of a site's (``device_id`` empty) or a device's document."""

    site_id: str
    device_id: str
    version: int
    document: str
    sha256: str
    created_by: str
    created_at: str


@dataclass(frozen=True)
class DeviceConfigState:
    """What was pushed to a device, and what it answered."""

    site_id: str
    device_id: str
    version: int
    """The push's version (one more at each push to this device)."""
    site_version: int
    device_version: int
    document: str
    sha256: str
    state: str
    needs_restart: tuple[str, ...]
    reason: str | None
    pushed_by: str
    pushed_at: str
    published_at: str | None
    acked_at: str | None


_VERSION_COLS = "site_id, device_id, version, document, sha256, created_by, created_at"
_STATE_COLS = ("site_id, device_id, version, site_version, device_version, document, sha256, "
               "state, needs_restart, reason, pushed_by, pushed_at, published_at, acked_at")


def _state(r: tuple[Any, ...]) -> DeviceConfigState:
    return DeviceConfigState(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), r[5], r[6], r[7],
                             tuple(json.loads(r[8])), r[9], r[10], r[11], r[12], r[13])


class ConfigRepository:
    """The ``config_versions`` and ``device_configs`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def current(self, site_id: str, device_id: str = SITE_SCOPE) -> ConfigVersion | None:
        rows = self._db.query(f"SELECT {_VERSION_COLS} FROM config_versions WHERE site_id = ? "
                              "AND device_id = ? ORDER BY version DESC LIMIT 1",
                              (site_id, device_id))
        return ConfigVersion(*rows[0]) if rows else None

    def history(self, site_id: str, device_id: str = SITE_SCOPE,
                limit: int = 20) -> list[ConfigVersion]:
        return [ConfigVersion(*r) for r in self._db.query(
            f"SELECT {_VERSION_COLS} FROM config_versions WHERE site_id = ? AND device_id = ? "
            "ORDER BY version DESC LIMIT ?", (site_id, device_id, limit))]

    def add_version(self, site_id: str, device_id: str, document: str, by: str, at: str,
                    base_version: int) -> ConfigVersion:
        """Store the next version, edited from ``base_version`` (call in a transaction).

        Raises:
            ConfigConflict: the current version is not ``base_version``.
        """
        cur = self.current(site_id, device_id)
        have = cur.version if cur else 0
        if have != base_version:
            raise ConfigConflict(f"edited from version {base_version}, but version {have} "
                                 "is current: reload and edit again")
        row = ConfigVersion(site_id, device_id, have + 1, document, document_hash(document),
                            by, at)
        self._db.execute(f"INSERT INTO config_versions ({_VERSION_COLS}) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", tuple(vars(row).values()))
        return row

    def device_state(self, site_id: str, device_id: str) -> DeviceConfigState | None:
        rows = self._db.query(f"SELECT {_STATE_COLS} FROM device_configs WHERE site_id = ? "
                              "AND device_id = ?", (site_id, device_id))
        return _state(rows[0]) if rows else None

    def states(self, site_id: str | None = None) -> list[DeviceConfigState]:
        where, params = ("WHERE site_id = ?", (site_id,)) if site_id else ("", ())
        return [_state(r) for r in self._db.query(
            f"SELECT {_STATE_COLS} FROM device_configs {where} ORDER BY site_id, device_id",
            params)]

    def record_push(self, site_id: str, device_id: str, *, site_version: int,
                    device_version: int, document: str, by: str, at: str) -> DeviceConfigState:
        """The device's next push, ``pending`` until it answers (call in a transaction)."""
        old = self.device_state(site_id, device_id)
        version = old.version + 1 if old else 1
        self._db.execute(
            f"INSERT INTO device_configs ({_STATE_COLS}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, 'pending', '[]', NULL, ?, ?, NULL, NULL) "
            "ON CONFLICT (site_id, device_id) DO UPDATE SET version = excluded.version, "
            "site_version = excluded.site_version, device_version = excluded.device_version, "
            "document = excluded.document, sha256 = excluded.sha256, state = 'pending', "
            "needs_restart = '[]', reason = NULL, pushed_by = excluded.pushed_by, "
            "pushed_at = excluded.pushed_at, published_at = NULL, acked_at = NULL",
            (site_id, device_id, version, site_version, device_version, document,
             document_hash(document), by, at))
        state = self.device_state(site_id, device_id)
        assert state is not None
        return state

    def unpublished(self) -> list[DeviceConfigState]:
        """Pushes not yet handed to the broker."""
        return [_state(r) for r in self._db.query(
            f"SELECT {_STATE_COLS} FROM device_configs WHERE published_at IS NULL "
            "ORDER BY pushed_at")]

    def mark_published(self, site_id: str, device_id: str, version: int, at: str) -> None:
        self._db.execute("UPDATE device_configs SET published_at = ? WHERE site_id = ? AND "
                         "device_id = ? AND version = ?", (at, site_id, device_id, version))

    def publish_again(self) -> int:
        """Hand every push still pending to the broker again (after the collector
        reconnects: a copy lost with the connection is replaced)."""
        return self._db.execute("UPDATE device_configs SET published_at = NULL "
                                "WHERE state = 'pending'")

    def record_ack(self, ack: ConfigAck, at: str) -> bool:
        """Record a device's answer; False when it answers another push than the current
        one (an older version, or a hash that does not match)."""
        with self._db.transaction():
            changed = self._db.execute(
                "UPDATE device_configs SET state = ?, needs_restart = ?, reason = ?, "
                "acked_at = ? WHERE site_id = ? AND device_id = ? AND version = ? "
                "AND sha256 = ?",
                (ack.state, json.dumps(ack.needs_restart), ack.reason, at, ack.site, ack.device,
                 ack.version, ack.sha256))
            if changed and ack.state == "applied":
                self._db.execute("UPDATE devices SET config_version = ? WHERE site_id = ? "
                                 "AND device_id = ?", (str(ack.version), ack.site, ack.device))
        return bool(changed)


@dataclass(frozen=True)
class ConfigChange:
    """The outcome of an edit: the new version, the pushes it made, the diff."""

    version: ConfigVersion
    pushes: list[DeviceConfigState]
    diff: str


class _Store(Protocol):
    db: Database
    configs: ConfigRepository

    @property
    def audit(self) -> Any: ...

    @property
    def devices(self) -> Any: ...


class RemoteConfigService:
    """Edits of site and device documents: check, version, push, audit.

    Args:
        store: the central store.
        clock: the current aware time.
    """

    def __init__(self, store: _Store,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.repo = store.configs
        self.clock = clock

    def document(self, site_id: str, device_id: str = SITE_SCOPE) -> tuple[str, int]:
        """The current document text and version (``""`` and 0 before the first edit)."""
        cur = self.repo.current(site_id, device_id)
        return (cur.document, cur.version) if cur else ("", 0)

    def effective(self, site_id: str, device_id: str) -> str:
        """The device's configuration as it would be pushed: the site's document with the
        device's on top."""
        return dump_document(self._merged(site_id, device_id)[0])

    def _merged(self, site_id: str, device_id: str,
                replace: tuple[str, dict[str, Any]] | None = None
                ) -> tuple[dict[str, Any], int, int]:
        docs, versions = [], []
        for scope in (SITE_SCOPE, device_id):
            cur = self.repo.current(site_id, scope)
            text = cur.document if cur else ""
            doc = parse_document(text)
            if replace is not None and replace[0] == scope:
                doc = replace[1]
            docs.append(doc)
            versions.append(cur.version if cur else 0)
        return merge(docs[0], docs[1]), versions[0], versions[1]

    def _devices_of(self, site_id: str) -> list[str]:
        known = {d.device_id for d in self.store.devices.list(site_id=site_id)}
        known |= {s.device_id for s in self.repo.states(site_id)}
        return sorted(known)

    def change(self, site_id: str, device_id: str | None, text: str, *, base_version: int,
               actor: str) -> ConfigChange:
        """Store a new version of a site's (``device_id`` None) or a device's document and
        push the configuration of every device it reaches.

        Raises:
            ConfigRefused: not TOML, a refused section or key, or an invalid value (for a
                site edit: in any of its devices' merged configuration).
            ConfigConflict: the document changed since ``base_version``.
        """
        topics.check_id(site_id, "site")
        scope = device_id or SITE_SCOPE
        if device_id:
            topics.check_id(device_id, "device")
        try:
            doc = load_toml(text)
        except ConfigError as exc:
            raise ConfigRefused(str(exc), exc.problems) from exc
        problems = document_problems(doc)
        targets = [device_id] if device_id else self._devices_of(site_id)
        merged: dict[str, tuple[dict[str, Any], int, int]] = {}
        if not problems:
            merged = {d: self._merged(site_id, d, replace=(scope, doc)) for d in targets}
            for m, _sv, _dv in merged.values():  # each refusal once, not once per device
                problems += [p for p in document_problems(m) if p not in problems]
        if problems:
            raise ConfigRefused(f"{len(problems)} refused or invalid setting(s)", problems)
        try:
            canonical = dump_document(doc)
        except ConfigError as exc:
            raise ConfigRefused(str(exc), exc.problems) from exc
        at = stamp(self.clock())
        old_text = self.document(site_id, scope)[0]
        target = f"config:{site_id}" + (f"/{device_id}" if device_id else "")
        with self.store.db.transaction():
            version = self.repo.add_version(site_id, scope, canonical, actor, at, base_version)
            pushes = []
            for d, (m, sv, dv) in merged.items():
                sv, dv = (version.version, dv) if not device_id else (sv, version.version)
                pushes.append(self.repo.record_push(site_id, d, site_version=sv,
                                                    device_version=dv,
                                                    document=dump_document(m), by=actor, at=at))
            diff = "".join(difflib.unified_diff(
                old_text.splitlines(keepends=True), canonical.splitlines(keepends=True),
                fromfile=f"{target} v{base_version}", tofile=f"{target} v{version.version}"))
            self.store.audit.record(actor, "config.change", target, at, {
                "version": version.version, "sha256": version.sha256, "diff": diff,
                "pushed": {p.device_id: p.version for p in pushes}})
        log.info("%s: version %d by %s, pushed to %d device(s)", target, version.version,
                 actor, len(pushes))
        return ConfigChange(version, pushes, diff)


class ConfigPublisher:
    """The collector's part of remote configuration: publishes pushes, stores answers.

    Args:
        repo: the configurations of the collector's own store connection.
        publish: ``publish(topic, payload, qos, retain)`` of the connected client; returns
            True when the client accepted the message.
        clock: the current aware time.
    """

    def __init__(self, repo: ConfigRepository, publish: Callable[[str, bytes], bool],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repo = repo
        self.publish = publish
        self.clock = clock

    def publish_due(self) -> int:
        """Publish every push not yet handed to the broker; returns how many went."""
        sent = 0
        for s in self.repo.unpublished():
            msg = DeviceConfig(site=s.site_id, device=s.device_id, version=s.version,
                               sha256=s.sha256, document=s.document, by=s.pushed_by,
                               at=parse_stamp(s.pushed_at))
            if not self.publish(topics.config(s.site_id, s.device_id), encode(msg)):
                break
            self.repo.mark_published(s.site_id, s.device_id, s.version, stamp(self.clock()))
            sent += 1
        return sent

    def handle_ack(self, ref: topics.TopicRef, payload: bytes) -> str:
        """Store a device's answer (``config_ack``; an outdated one is ignored).

        Raises:
            MessageError: not a ConfigAck, or one naming another device than its topic.
        """
        if not payload:
            return "cleared"
        ack = decode(ConfigAck, payload)
        if (ack.site, ack.device) != (ref.site, ref.device):
            raise MessageError(f"ack names {ack.site}/{ack.device} but came on "
                               f"{ref.site}/{ref.device}")
        if not self.repo.record_ack(ack, stamp(self.clock())):
            log.info("outdated configuration ack from %s/%s (version %d)", ack.site, ack.device,
                     ack.version)
        return "config_ack"
