"""The edge's applier of remote configurations (from the central console, stored by the
sync agent in ``store.remote_config``).

For the newest configuration waiting, :meth:`RemoteConfigApplier.apply_pending`:

1. validates it: its hash, the sections a remote change may touch, and every value with
   the boxes' own models (:mod:`smartlib.remote`);
2. writes it as the remote overlay (``smartlib.config.overlay_path``, read by
   ``load_settings`` at the next start: it outlives a restart), atomically;
3. applies live the keys read at use time (``smartlib.remote.LIVE_KEYS``: the ``[policy]``
   limits, read by the circulation and session services on each use) by setting them on
   the running settings, and names every other changed key as needing a restart;
4. records the outcome (``applied`` with ``needs_restart``, or ``failed`` with the reason,
   the configuration in force and its overlay file left as they were) and rings the agent,
   which publishes the acknowledgement.

It never talks to MQTT.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from edge.store import Store
from edge.store.remote_config import RemoteConfig
from smartlib.config import Settings, overlay_path
from smartlib.errors import ConfigError
from smartlib.remote import (
    LIVE_KEYS,
    changed_keys,
    document_hash,
    load_toml,
    parse_document,
    validate,
)

log = logging.getLogger(__name__)


class RemoteConfigApplier:
    """Applies the remote configurations the agent stored.

    Args:
        store: the edge store.
        settings: the running settings (the services hold its sections: a live key set on
            them is read at the next use).
        device_id: this box (the source of its device events).
        overlay: the overlay file (default: next to the store's file, where
            ``load_settings`` looks for it).
    """

    def __init__(self, store: Store, settings: Settings, *, device_id: str,
                 overlay: Path | None = None) -> None:
        self.store = store
        self.settings = settings
        self.device_id = device_id
        self.overlay = overlay or overlay_path(store.path)

    def apply_pending(self) -> RemoteConfig | None:
        """Apply (or refuse) the newest configuration waiting; returns its outcome, or None
        when nothing waits."""
        rec = self.store.remote_config.pending()
        if rec is None:
            return None
        try:
            if document_hash(rec.document) != rec.sha256:
                raise ConfigError("the document does not match its sha256",
                                  [("(document)", "does not match its sha256 (damaged)")])
            doc = load_toml(rec.document)
            new = validate(doc)  # every refused section and invalid value, not the first
        except ConfigError as exc:
            reason = "; ".join(f"{path}: {msg}" for path, msg in exc.problems) or str(exc)
            return self._refuse(rec, reason)
        before = self.store.remote_config.applied()
        old = parse_document(before.document) if before else {}
        try:
            self._write_overlay(rec.document)
        except OSError as exc:  # nothing changed yet: the old configuration stays in force
            return self._refuse(rec, f"cannot write the overlay {self.overlay}: {exc}")
        restart = self._apply_live(old, doc, new)
        self.store.remote_config.decide(rec.version, "applied", needs_restart=restart)
        self.store.events.record(self.device_id, "config_applied",
                                 {"version": rec.version, "needs_restart": restart})
        log.info("remote configuration version %d applied (restart needed for: %s)",
                 rec.version, ", ".join(restart) or "nothing")
        self.store.ring("agent")
        return self.store.remote_config.get(rec.version)

    def _refuse(self, rec: RemoteConfig, reason: str) -> RemoteConfig | None:
        log.warning("remote configuration version %d refused: %s", rec.version, reason)
        self.store.remote_config.decide(rec.version, "failed", reason=reason[:2000])
        self.store.events.record(self.device_id, "config_failed",
                                 {"version": rec.version, "reason": reason[:500]})
        self.store.ring("agent")
        return self.store.remote_config.get(rec.version)

    def _apply_live(self, old: dict[str, Any], doc: dict[str, Any], new: Settings) -> list[str]:
        """Set the changed live keys on the running settings; the other changed keys."""
        restart = []
        for section, key in changed_keys(old, doc):
            if (section, key) in LIVE_KEYS and key in doc.get(section, {}):
                setattr(getattr(self.settings, section), key, getattr(getattr(new, section), key))
            else:  # read at start, or removed (the file's value returns at the next start)
                restart.append(f"{section}.{key}")
        return restart

    def _write_overlay(self, document: str) -> None:
        tmp = self.overlay.with_suffix(".tmp")
        self.overlay.parent.mkdir(parents=True, exist_ok=True)
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(document)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.overlay)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
