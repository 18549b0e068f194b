"""Enrolment of new boxes: one-time codes, the answer a box gets for one, and revocation.

An admin (console page or ``smartlib central enroll-code``) issues a code for a site, a
device id and a role; only its SHA-256 is stored, with its expiry. The box
(``smartlib enroll``, :mod:`sync.enroll_client`) sends the code and a certificate signing
request; the centre signs it with the site CA (:func:`sync.pki.sign_client_csr`, the key
never leaves the box) and answers with the identity, the certificate, the CA certificate and
a ``smartlib.toml``, authenticated by an HMAC keyed from the code (the box trusts nothing
else on first contact; see docs/central.md, "Enrolment"). Revoking a device revokes its
certificates (the broker's CRL) and lists it in the revoked-devices file the gateways read.

Every outcome is logged and written to the audit log. This module never logs a code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from central.config import EnrollSection
from central.db import parse_stamp, stamp
from central.errors import EnrolRefused
from central.store import CentralStore, EnrolCode
from sync.enroll_client import bundle_mac, normalize_code

log = logging.getLogger(__name__)

ROLES = ("kiosk", "gate")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def code_hash(code: str) -> str:
    """What the store keeps of a code."""
    return hashlib.sha256(b"smartlib-enrol-code\0" + normalize_code(code).encode()).hexdigest()


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode()  # 16 characters, 80 bits
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class IssuedCode:
    """A code as shown once to the admin."""

    code: str
    site: str
    device: str
    role: str
    expires_at: str
    ca_fingerprint: str
    """SHA-256 of the site CA certificate (hex): the box may pin it (``--ca-fingerprint``)."""


def box_config(site: str, device: str, role: str, host: str, port: int) -> str:
    """The enrolled box's ``smartlib.toml`` (paths relative to the file's directory)."""
    return (f'[site]\nid = "{site}"\n\n[device]\nid = "{device}"\nrole = "{role}"\n\n'
            f'[broker]\nhost = "{host}"\nport = {port}\ntls = true\n'
            f'ca_file = "ca.crt"\ncert_file = "{device}.crt"\nkey_file = "{device}.key"\n')


class EnrolmentService:
    """Codes, enrolment answers and revocations over the central store and the site CA."""

    def __init__(self, store: CentralStore, section: EnrollSection,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.section = section
        self.clock = clock
        self.broker_note: str | None = None
        """What the last enrolment or revocation did to the broker (None: nothing)."""

    @property
    def revoked_file(self) -> Path | None:
        if self.section.revoked_file is not None:
            return self.section.revoked_file
        return self.section.ca_dir / "revoked.json" if self.section.ca_dir else None

    def _ca(self):  # type: ignore[no-untyped-def]
        from sync.errors import PkiError
        from sync.pki import open_ca

        if self.section.ca_dir is None:
            raise EnrolRefused("not_configured", "enrolment is off: set [enroll] ca_dir")
        try:
            return open_ca(self.section.ca_dir)
        except PkiError as exc:
            raise EnrolRefused("not_configured", str(exc)) from exc

    def issue_code(self, site: str, device: str, role: str, *, actor: str,
                   minutes: float | None = None) -> IssuedCode:
        """A new one-time code for ``site``/``device`` as ``role``, valid ``minutes``.

        Raises:
            EnrolRefused: a bad site, device or role, or no site CA.
        """
        from sync.pki import fingerprint

        if not _ID.match(site) or not _ID.match(device):
            raise EnrolRefused("bad_request", "site and device ids: a-z, 0-9, - and _")
        if role not in ROLES:
            raise EnrolRefused("bad_request", f"role must be one of {', '.join(ROLES)}")
        ca = self._ca()
        now = self.clock()
        code = _new_code()
        expires = now + timedelta(minutes=minutes or self.section.code_minutes)
        self.store.enrolment.add_code(EnrolCode(code_hash(code), site, device, role, actor,
                                                stamp(now), stamp(expires), None, None))
        self.store.audit.record(actor, "enrol_code", f"{site}/{device}", stamp(now),
                                {"role": role, "expires_at": stamp(expires)})
        log.info("enrolment code for %s/%s (%s) issued by %s, valid until %s", site, device,
                 role, actor, stamp(expires))
        return IssuedCode(code, site, device, role, stamp(expires),
                          fingerprint(ca.cert_path.read_bytes()))

    def enrol(self, code: str, csr_pem: str, *, peer: str = "?") -> dict[str, Any]:
        """Redeem a code: sign the box's CSR and answer ``{"bundle": …, "mac": …}``.

        Raises:
            EnrolRefused: an unknown, used or expired code, or a bad CSR.
        """
        from sync.errors import PkiError
        from sync.pki import sign_client_csr

        now = self.clock()
        row = self.store.enrolment.find_code(code_hash(code))
        target = f"{row.site_id}/{row.device_id}" if row else "?"
        try:
            if row is None:
                raise EnrolRefused("code_unknown", "this enrolment code is unknown")
            if row.used_at is not None:
                raise EnrolRefused("code_used", f"this enrolment code was used at {row.used_at}")
            if parse_stamp(row.expires_at) <= now:
                raise EnrolRefused("code_expired",
                                   f"this enrolment code expired at {row.expires_at}")
            ca = self._ca()
            # claimed before signing: two boxes racing for one code get one certificate
            if not self.store.enrolment.claim_code(row.code_hash, stamp(now)):
                raise EnrolRefused("code_used", "this enrolment code was just used")
            try:
                cert_pem, issued = sign_client_csr(ca, csr_pem.encode(), row.device_id,
                                                   site=row.site_id)
            except PkiError as exc:
                self.store.enrolment.release_code(row.code_hash)
                raise EnrolRefused("bad_request", str(exc)) from exc
            try:
                self.broker_note = self._update_broker(site=row.site_id, add=row.device_id,
                                                       role=row.role)
            except EnrolRefused:
                # before set_serial, so the code is given back: fix the broker, run again
                self.store.enrolment.release_code(row.code_hash)
                raise
            self.store.enrolment.set_serial(row.code_hash, str(issued.serial))
        except EnrolRefused as exc:
            log.warning("enrolment from %s refused (%s): %s", peer, exc.reason, exc)
            self.store.audit.record(f"box@{peer}", "enrol_refused", target, stamp(now),
                                    {"reason": exc.reason})
            raise
        self.store.enrolment.reinstate(row.site_id, row.device_id)
        self._write_revoked()
        self.store.audit.record(f"box@{peer}", "enrolled", target, stamp(now),
                                {"serial": str(issued.serial), "role": row.role})
        log.info("%s enrolled from %s (certificate serial %d)", target, peer, issued.serial)
        bundle = {"site": row.site_id, "device": row.device_id, "role": row.role,
                  "ca_cert": ca.cert_path.read_text(), "cert": cert_pem.decode(),
                  "broker": {"host": self.section.broker_host, "port": self.section.broker_port},
                  "config": box_config(row.site_id, row.device_id, row.role,
                                       self.section.broker_host, self.section.broker_port)}
        return {"bundle": bundle, "mac": bundle_mac(code, bundle)}

    def revoke(self, site: str, device: str, *, actor: str) -> int:
        """Lock a device out: revoke its certificates (the CRL), list it in the
        revoked-devices file the gateways check, take its lines out of the broker's ACL and
        password files and reload the broker (``[enroll] broker_*``; :attr:`broker_note`
        says what was done). Returns the certificates revoked (0 when it had none left).

        Raises:
            EnrolRefused: no site CA configured; or (``broker_unavailable``, after the
                revocation is recorded) the broker's files or its reload failed.
        """
        from sync.errors import PkiError
        from sync.pki import revoke

        ca = self._ca()
        try:
            count = len(revoke(ca, device, site))
        except PkiError:
            count = 0
        now = stamp(self.clock())
        self.store.enrolment.revoke(site, device, actor, now)
        self._write_revoked()
        self.store.audit.record(actor, "device_revoked", f"{site}/{device}", now,
                                {"certificates": count})
        log.warning("%s/%s revoked by %s (%d certificate(s))", site, device, actor, count)
        self.broker_note = self._update_broker(site=site, remove=device)
        return count

    def _update_broker(self, *, site: str, add: str | None = None, role: str = "kiosk",
                       remove: str | None = None) -> str | None:
        """Add (enrolment) or remove (revocation) a device in the broker's ACL and password
        files, then reload the broker. Returns what was done, or None when ``[enroll]`` names
        neither the files nor a way to reload.

        Raises:
            EnrolRefused: ``broker_unavailable``: a file or the reload failed.
        """
        from sync.broker_accounts import add_device, reload_broker, remove_device
        from sync.errors import BrokerAccountsError

        sec = self.section
        reloadable = sec.broker_pid_file is not None or bool(sec.broker_reload_command)
        if sec.broker_acl_file is None and not reloadable:
            return None
        try:
            if sec.broker_acl_file is not None and add is not None:
                add_device(sec.broker_acl_file, site, add, role)
            if remove is not None and (sec.broker_acl_file or sec.broker_password_file):
                remove_device(sec.broker_acl_file, remove, sec.broker_password_file)
            if not reloadable:
                return (f"updated {sec.broker_acl_file}; reload the broker "
                        "(set [enroll] broker_pid_file or broker_reload_command)")
            done = reload_broker(pid_file=sec.broker_pid_file, command=sec.broker_reload_command)
        except BrokerAccountsError as exc:
            log.error("broker not updated for %s/%s: %s", site, add or remove, exc)
            self.store.audit.record("central", "broker_update_failed", f"{site}/{add or remove}",
                                    stamp(self.clock()), {"error": str(exc)[:300]})
            raise EnrolRefused("broker_unavailable", f"the broker was not updated: {exc}") from exc
        log.info("broker updated for %s/%s: %s", site, add or remove, done)
        return done

    def _write_revoked(self) -> None:
        """Rewrite the revoked-devices file (atomically) from the store."""
        path = self.revoked_file
        if path is None:
            return
        rows = [{"site": s, "device": d, "revoked_at": at}
                for s, d, at in self.store.enrolment.revoked()]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"revoked": rows}, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
