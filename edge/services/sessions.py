"""Patron sessions: login from a credential, online verification, offline policy, idle wipe.

Online, a login is a ``patron`` look-up through the gateway (SIP2 63/23 with the PIN,
done centrally); the answer is read from these keys: ``valid`` (or ``valid_patron``), ``pin_ok`` (or
``valid_pin``), ``name``,
``blocked``, ``block_reason``, ``expired``, ``loan_limit``. Without an answer within the
policy's timeout, ``policy.offline_login`` decides:

* ``deny``: nobody logs in;
* ``cached``: a patron the cache knows and who is not blocked; with a PIN, it must match
  the cached slow salted hash (scrypt) written at the last online login;
* ``card-only``: a library card (``source == "card"``) is enough; barcodes and typed
  numbers are refused.

A typed card number (``source == "manual"``) always needs a PIN, online and offline
("a card number and PIN"): without one the answer is ``pin_required`` before anything is
looked up, and online the ILS must confirm it (``pin_ok`` true), else ``wrong_pin``. Card
and barcode logins need no PIN unless ``policy.pin_required_for`` names their source. A
PIN given with any source is checked. The credential's source must be one the edge vouches
for (its own reader, or a scan token: :mod:`edge.services.scan_tokens`); the API decides it.

Wrong PINs, online or offline, are counted by :class:`~edge.services.pin_guard.PinGuard`:
too many within the policy's window lock the credential out (``pin_locked``) before
anything is looked up, and a correct PIN clears the count.

A PIN is sealed to the site gateways' public key (``[gateway] public_key``;
:mod:`smartlib.sealing`) before the look-up is stored, so neither the store nor MQTT ever
holds it in clear. A box without that key refuses a login with a PIN
(``pin_check_unavailable``; ``smartlib doctor`` says why), and so does a gateway that
cannot open the seal (the answer's ``reason`` is ``pin_unsealable``).

A patron the ILS blocks **only for fines** (SIP2 patron status flag 10 or 11, excessive
outstanding fines or fees, and not flag 4, card reported lost) gets a *restricted* session
(``restricted == "fines"``) so they can pay at the kiosk: the account and the fines and
payment endpoints work, and returns; checkout and renew are refused with ``restricted_fines``.
Any other block (a lost card, a block without the fines flag) still refuses the login
(``patron_blocked``); offline, a cached blocked patron is refused as before.

Sessions live in memory only: an idle timeout (``policy.session_idle_s``) ends and wipes
one. Nothing here stores or logs a PIN.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from drivers.credential import PatronCredential
from edge.errors import EdgeError, SessionError
from edge.services.events import EventBus
from edge.services.pin_guard import PinGuard
from edge.services.scan_tokens import ScanTokens
from edge.store import PatronRecord, Store, utcnow
from smartlib.config import PolicySection
from smartlib.logs import mask_email, mask_identifier, secret_scope
from smartlib.sealing import PublicKey, seal_pin

log = logging.getLogger(__name__)

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}

FINES_FLAGS = (10, 11)
"""SIP2 patron status flags (0-based) for excessive outstanding fines / fees."""
HARD_BLOCK_FLAGS = (4,)
"""SIP2 patron status flags that refuse a login even when fines are owed: card reported lost."""


def fines_only_block(status_flags: str | None) -> bool:
    """True when SIP2 patron status flags say the block is for fines and nothing harder."""
    flags = status_flags or ""

    def on(i: int) -> bool:
        return len(flags) > i and flags[i] == "Y"

    return any(on(i) for i in FINES_FLAGS) and not any(on(i) for i in HARD_BLOCK_FLAGS)


PIN_SOURCES = frozenset({"manual"})
"""Credential sources that never log in without a PIN, whatever the policy: a typed number."""


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """A slow salted hash of a PIN: ``scrypt$n$r$p$salt$hash`` (hex)."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches a :func:`hash_pin` value (constant-time compare)."""
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass
class ReceiptLine:
    """One line of a session's receipt."""

    item_id: str
    title: str
    action: str
    due_date: str | None = None
    outcome: str | None = None
    """A return's outcome: ``returned``, ``offline_accepted``, ``bin``, ``transit``,
    ``hold_shelf`` or ``refused`` (None for checkouts and renewals)."""
    destination: str | None = None
    """Where a ``transit`` (or ``hold_shelf``) item goes."""
    bin: str | None = None
    """The label of the return bin (``bin``; also given with a transit or hold shelf)."""
    reason: str | None = None
    """Why a return was ``refused``: the edge's code (``not_loanable`` ...)."""
    reason_text: str | None = None
    """The ILS's own words for a refusal, when it gave some."""


@dataclass
class Session:
    """A logged-in patron (in memory only)."""

    id: str
    patron_id: str
    name: str
    language: str
    source: str
    offline: bool
    loan_limit: int
    started_at: str
    last_active: float
    idle_timeout_s: int
    lines: list[ReceiptLine] = field(default_factory=list)
    offline_items: int = 0
    offline_value: int = 0
    warned: bool = False
    email: str | None = None
    """The patron's e-mail address from the ILS (SIP2 BE): the default of e-mailed receipts.
    Kept here only (never in the store, never logged whole; the API shows it masked)."""
    restricted: str | None = None
    """``"fines"``: blocked for fines, may only see the account and pay (None: not restricted)."""

    def require_unrestricted(self, action: str) -> None:
        """Refuse ``action`` (checkout, renew) in a restricted session (returns are allowed).

        Raises:
            EdgeError: ``restricted_fines`` (403) with the patron texts.
        """
        if self.restricted == "fines":
            raise EdgeError("restricted_fines", f"{action} refused: the patron is blocked for "
                            "fines and may only pay them", restricted=self.restricted)

    def expires_at(self) -> str:
        """When the session ends without activity (ISO 8601 UTC)."""
        left = max(0.0, self.idle_timeout_s - (time.monotonic() - self.last_active))
        at = datetime.now(UTC) + timedelta(seconds=left)
        return at.isoformat(timespec="seconds").replace("+00:00", "Z")

    def remaining_s(self) -> float:
        """Seconds left before the idle timeout."""
        return self.idle_timeout_s - (time.monotonic() - self.last_active)

    def to_json(self) -> dict[str, Any]:
        """The API's ``Session`` object (the patron id masked)."""
        return {"id": self.id,
                "patron": {"id_masked": mask_identifier(self.patron_id), "name": self.name,
                           "language": self.language},
                "started_at": self.started_at, "expires_at": self.expires_at(),
                "idle_timeout_s": self.idle_timeout_s, "offline": self.offline,
                "restricted": self.restricted,
                "email_masked": mask_email(self.email) if self.email else None}


class SessionService:
    """Creates, finds, touches and ends sessions. Thread-safe.

    Args:
        store: the edge store (look-ups and the patron cache).
        policy: the site's circulation policy.
        bus: where ``session_timeout`` / ``session_ended`` events go.
        lookup_timeout_s: how long to wait for the gateway (default: the policy's
            ``result_timeout_s``).
        pin_sources: credential sources that need a PIN (default: :data:`PIN_SOURCES` and
            the policy's ``pin_required_for``).
        pin_guard: the wrong-PIN lockout (default: one over ``store`` and ``policy``).
        device_id: this box's id (for the lockouts' device events).

    Attributes:
        scan_tokens: the tokens ``POST /scans`` issues and ``POST /sessions`` redeems.
        gateway_key: the site gateways' public key, to seal PINs to (None: no PIN login).
    """

    def __init__(self, store: Store, policy: PolicySection, bus: EventBus, *,
                 lookup_timeout_s: float | None = None,
                 pin_sources: frozenset[str] | None = None,
                 pin_guard: PinGuard | None = None, device_id: str = "",
                 gateway_key: PublicKey | None = None) -> None:
        self.store = store
        self.policy = policy
        self.bus = bus
        self.pin_sources = (frozenset(pin_sources) if pin_sources is not None
                            else PIN_SOURCES | frozenset(policy.pin_required_for))
        self.pin_guard = pin_guard or PinGuard(store, policy, device=device_id)
        self.scan_tokens = ScanTokens(policy.scan_token_s)
        self.gateway_key = gateway_key
        self.lookup_timeout_s = lookup_timeout_s or policy.result_timeout_s
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.last_gateway_seen: float | None = None
        self.last_gateway_missed: float | None = None

    def login(self, credential: PatronCredential, pin: str | None = None,
              language: str = "vi") -> Session:
        """Verify a credential (online, else by the offline policy) and open a session.

        Raises:
            EdgeError: ``pin_required``, ``pin_locked``, ``unknown_patron``, ``wrong_pin``,
                ``patron_blocked``, ``card_expired`` or ``offline_login_denied``.
        """
        pid = credential.identifier
        needs_pin = credential.source in self.pin_sources
        if needs_pin and not pin:
            raise EdgeError("pin_required", f"a {credential.source} login needs a PIN")
        self.pin_guard.check(pid)
        try:
            # A crash in here leaves no PIN in a log line or an error message (docs/edge.md)
            with secret_scope(pin, keep=(EdgeError,)):
                session, pin_verified = self._login(credential, pin, language, needs_pin)
        except EdgeError as exc:
            if exc.code == "wrong_pin":
                self.pin_guard.failed(pid, offline=bool(exc.detail.get("offline")))
            raise
        if pin_verified:
            self.pin_guard.succeeded(pid)
        return session

    def _login(self, credential: PatronCredential, pin: str | None, language: str,
               needs_pin: bool) -> tuple[Session, bool]:
        """The session, and whether a PIN was given and confirmed (by the ILS or the cache)."""
        pid = credential.identifier
        request: dict[str, Any] = {"patron_id": pid, "source": credential.source,
                                   "language": language}
        if pin:
            request["pin_sealed"] = self._seal(pin)
        lookup = self.store.lookups.request("patron", request)
        answer = self.store.lookups.wait(lookup.id, self.lookup_timeout_s)
        if answer is not None and (answer.response or {}).get("reason") == "pin_unsealable":
            log.error("the gateway cannot open sealed PINs (its key is missing or does not "
                      "match [gateway] public_key); PIN logins are refused")
            raise EdgeError("pin_check_unavailable", "the gateway cannot open the sealed PIN")
        if answer is None or answer.state == "failed":
            if answer is None:
                self.last_gateway_missed = time.monotonic()
            self.store.lookups.abandon(lookup.id)
            return self._offline_login(credential, pin, language)
        self.last_gateway_seen = time.monotonic()
        resp = dict(answer.response or {})
        # The sync agent's LookupResponse names them valid_patron / valid_pin.
        resp.setdefault("valid", resp.get("valid_patron", False))
        resp.setdefault("pin_ok", resp.get("valid_pin"))
        if not resp.get("valid", False):
            raise EdgeError("unknown_patron", f"patron {mask_identifier(pid)} is not known")
        if pin and resp.get("pin_ok") is False:
            raise EdgeError("wrong_pin")
        if needs_pin and resp.get("pin_ok") is not True:
            # The ILS did not confirm the PIN: a typed number alone is not enough.
            raise EdgeError("wrong_pin", "the library system did not confirm the PIN")
        if resp.get("expired"):
            raise EdgeError("card_expired")
        cached = self.store.cache.patron(pid)
        limit = int(resp.get("loan_limit") or (cached.loan_limit if cached else 10))
        pin_hash = cached.pin_hash if cached else None
        if pin and resp.get("pin_ok") is True and self.policy.offline_login == "cached":
            pin_hash = hash_pin(pin)  # only a PIN the ILS confirmed
        self.store.cache.upsert_patron(PatronRecord(
            pid, display_name=str(resp.get("name") or ""), blocked=bool(resp.get("blocked")),
            block_reason=resp.get("block_reason"), loan_limit=limit, pin_hash=pin_hash,
            expires_on=resp.get("expires_on"), verified_at=utcnow()))
        restricted = None
        if resp.get("blocked"):
            if not fines_only_block(resp.get("status_flags")):
                raise EdgeError("patron_blocked",
                                str(resp.get("block_reason") or "patron blocked"))
            restricted = "fines"
            log.info("restricted login of %s: blocked for fines, may pay only",
                     mask_identifier(pid))
        session = self._open(pid, str(resp.get("name") or ""), language, credential.source,
                             offline=False, loan_limit=limit)
        session.restricted = restricted
        if resp.get("email"):
            session.email = str(resp["email"])
            self.store.lookups.redact(lookup.id, "email")
        return session, bool(pin) and resp.get("pin_ok") is True

    def _seal(self, pin: str) -> str:
        """``pin`` sealed to the gateways' key; refused when this box has no key."""
        if self.gateway_key is None:
            log.error("a PIN login was refused: [gateway] public_key is not configured")
            raise EdgeError("pin_check_unavailable",
                            "this box has no gateway public key to seal the PIN to")
        return seal_pin(pin, self.gateway_key)

    def _offline_login(self, credential: PatronCredential, pin: str | None,
                       language: str) -> tuple[Session, bool]:
        pid = credential.identifier
        mode = self.policy.offline_login
        cached = self.store.cache.patron(pid)
        if mode == "deny":
            raise EdgeError("offline_login_denied", "gateway unreachable and offline_login=deny")
        if cached is not None and cached.blocked:
            raise EdgeError("patron_blocked", "blocked in the patron cache")
        if mode == "card-only":
            if credential.source != "card":
                raise EdgeError("offline_login_denied", "offline, only library cards are accepted")
        else:  # cached
            if cached is None:
                raise EdgeError("offline_login_denied", "offline and the patron is not cached")
            if pin:
                if not cached.pin_hash or not verify_pin(pin, cached.pin_hash):
                    raise EdgeError("wrong_pin", "PIN does not match the cached hash",
                                    offline=True)
            elif credential.source != "card":
                raise EdgeError("offline_login_denied", "offline, a PIN is needed")
        name = cached.display_name if cached else ""
        limit = cached.loan_limit if cached else 10
        log.info("offline login of %s (policy %s)", mask_identifier(pid), mode)
        session = self._open(pid, name, language, credential.source, offline=True,
                             loan_limit=limit)
        return session, bool(pin) and mode == "cached"

    def _open(self, pid: str, name: str, language: str, source: str, *, offline: bool,
              loan_limit: int) -> Session:
        s = Session(id=uuid.uuid4().hex, patron_id=pid, name=name, language=language,
                    source=source, offline=offline, loan_limit=loan_limit, started_at=utcnow(),
                    last_active=time.monotonic(), idle_timeout_s=self.policy.session_idle_s)
        with self._lock:
            self._sessions[s.id] = s
        self.store.counters.incr("login")
        return s

    def get(self, session_id: str, *, touch: bool = True) -> Session:
        """The live session ``session_id`` (and reset its idle timer).

        Raises:
            SessionError: unknown or expired.
        """
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None or s.remaining_s() <= 0:
                raise SessionError()
            if touch:
                s.last_active = time.monotonic()
                s.warned = False
            return s

    def end(self, session_id: str, reason: str = "logout") -> bool:
        """End and wipe a session; False when it did not exist."""
        with self._lock:
            s = self._sessions.pop(session_id, None)
        if s is None:
            return False
        s.lines.clear()
        self.bus.publish("session_ended", session=session_id, reason=reason)
        return True

    def sweep(self, warn_before_s: float = 10.0) -> list[str]:
        """End idle sessions (and warn those about to end); returns the ended ids."""
        ended, warn = [], []
        with self._lock:
            for s in list(self._sessions.values()):
                left = s.remaining_s()
                if left <= 0:
                    ended.append(s.id)
                elif left <= warn_before_s and not s.warned:
                    s.warned = True
                    warn.append((s.id, left))
        for sid, left in warn:
            self.bus.publish("session_timeout", session=sid, remaining_s=round(left, 1))
        for sid in ended:
            self.end(sid, "timeout")
        return ended

    def active(self) -> int:
        """How many sessions are open."""
        with self._lock:
            return len(self._sessions)
