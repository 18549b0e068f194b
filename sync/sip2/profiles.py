"""Per-ILS SIP2 profiles: data that says how one ILS speaks SIP2, never a code path.

The client, the gateway and the demo ILS read these values; no module branches on a
profile's name. A site can build its own profile with :func:`dataclasses.replace`.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Final

from sync.errors import Sip2Error
from sync.sip2.codec import Sip2Codec, format_date

ALERT_HOLD_SHELF = "hold_shelf"
ALERT_HOLD_OTHER_BRANCH = "hold_other_branch"
ALERT_TRANSIT = "transit"
ALERT_OTHER = "other"
ALERT_NONE = "none"
ALERT_MEANINGS: Final = frozenset({ALERT_HOLD_SHELF, ALERT_HOLD_OTHER_BRANCH, ALERT_TRANSIT,
                                   ALERT_OTHER, ALERT_NONE})
"""What a 10's CV alert code can mean."""

CANONICAL_ALERT_CODES: Final = MappingProxyType({
    ALERT_HOLD_SHELF: "01", ALERT_HOLD_OTHER_BRANCH: "02", ALERT_TRANSIT: "04"})
"""The CV code the gateway reports for each routing meaning, whatever the ILS sent."""

RELEASE_RULES: Final = ("ok", "desensitize", "both")
HOLDS_FIELDS: Final = ("AS", "CD")

_KOHA_CV = MappingProxyType({
    "00": ALERT_NONE, "01": ALERT_HOLD_SHELF, "02": ALERT_HOLD_OTHER_BRANCH,
    "04": ALERT_TRANSIT, "99": ALERT_OTHER,
})


@functools.lru_cache(maxsize=1024)
def _parse_due_date(value: str, formats: tuple[str, ...]) -> _dt.datetime | None:
    # Cached: a drain's answers carry a handful of distinct due dates (strptime is slow).
    for fmt in formats:
        try:
            dt = _dt.datetime.strptime(value.strip() if "Z" not in fmt else value, fmt)
        except ValueError:
            continue
        return dt.replace(tzinfo=_dt.UTC) if "Z" in fmt else dt
    return None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a circulation answer means, as the site's profile reads it.

    The fields are those of a :class:`~sync.messages.TransactionResult` (Y/N/U flags,
    canonical alert codes, ISO due dates); None: not said.
    """

    ok: bool
    title: str | None = None
    due_date: str | None = None
    desensitize: str | None = None
    resensitize: str | None = None
    sort_bin: str | None = None
    destination: str | None = None
    alert_type: str | None = None
    hold_shelf: bool | None = None
    renewed: int | None = None
    unrenewed: int | None = None
    items: tuple[str, ...] = ()
    unrenewed_items: tuple[str, ...] = ()
    screen_message: str | None = None
    needs_item_state: bool = False
    """A refused checkin whose meaning depends on whether the item was on loan (ask 17,
    then :meth:`Sip2Profile.interpret_checkin` with ``on_loan``)."""

    def result_fields(self) -> dict[str, Any]:
        """The result fields it sets (``ok``, the screen text and flags of its own aside)."""
        out = {name: getattr(self, name) for name in _RESULT_FIELDS
               if getattr(self, name) is not None}
        for name in ("items", "unrenewed_items"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        return out


_RESULT_FIELDS = ("title", "due_date", "desensitize", "resensitize", "sort_bin", "destination",
                  "alert_type", "hold_shelf", "renewed", "unrenewed")


def _yn(value: bool | None) -> str:
    return "U" if value is None else ("Y" if value else "N")


def screen_text(resp: Any) -> str | None:
    """A SIP2 answer's screen messages (AF) as one text, or None."""
    msgs = getattr(resp, "screen_message", ()) or ()
    return " ".join(m for m in msgs if m) or None


@dataclass(frozen=True)
class Sip2Profile:
    """How one ILS speaks SIP2.

    Attributes:
        name: the profile's name.
        charset: text encoding on the wire (``utf-8``, ``latin-1``, ``cp850``, ``ascii``).
        terminator: bytes after each message (``\\r`` or ``\\r\\n``).
        error_detection: send ``AY``/``AZ`` and verify them on input.
        delimiter: the variable-field delimiter.
        utc_dates: write transaction dates in UTC (``   Z``) instead of local time.
        due_date_formats: ``strptime`` formats tried, in order, for the free-form ``AH`` due date.
        holds_field: where the patron's hold items are listed in 64 (``AS`` or ``CD``).
        release_security_on: which flag of a 12 wins when ``ok`` and ``desensitize``
            disagree: ``ok`` (ok = 1 releases, desensitize is ignored), ``desensitize``
            (the desensitize flag alone decides), or ``both`` (ok = 1 and desensitize = Y).
        unknown_desensitize_releases: whether desensitize ``U`` counts as ``Y``.
        checkin_not_loaned_ok: a 10 with ok = 0 for an item that was not on loan is
            treated as a successful return (Koha's ``checked_in_ok`` off).
        alert_types: CV code -> meaning (``hold_shelf``, ``hold_other_branch``,
            ``transit``, ``other``, ``none``).
        barcode_strip: strip surrounding white space from barcodes.
        barcode_upper: upper-case barcodes.
        barcode_remove: characters removed from barcodes before they are sent.
        idle_timeout: seconds after which the ILS drops an idle connection.
        keepalive_fraction: a 99 is sent after ``idle_timeout * keepalive_fraction`` idle.
        max_print_width: the 99's print width.
        uid_algorithm / pwd_algorithm: the 93's algorithm flags.
    """

    name: str
    charset: str = "utf-8"
    terminator: bytes = b"\r"
    error_detection: bool = True
    delimiter: str = "|"
    utc_dates: bool = False
    due_date_formats: tuple[str, ...] = ("%Y%m%d    %H%M%S", "%Y%m%d   Z%H%M%S", "%Y-%m-%d %H:%M",
                                         "%Y-%m-%d", "%m/%d/%Y")
    holds_field: str = "AS"
    release_security_on: str = "both"
    unknown_desensitize_releases: bool = False
    checkin_not_loaned_ok: bool = False
    alert_types: Mapping[str, str] = field(default_factory=lambda: _KOHA_CV)
    barcode_strip: bool = True
    barcode_upper: bool = False
    barcode_remove: str = ""
    idle_timeout: float = 300.0
    keepalive_fraction: float = 0.5
    max_print_width: int = 40
    uid_algorithm: str = "0"
    pwd_algorithm: str = "0"

    def __post_init__(self) -> None:
        if self.release_security_on not in RELEASE_RULES:
            raise Sip2Error(f"release_security_on must be one of {', '.join(RELEASE_RULES)}, "
                            f"got {self.release_security_on!r}", "release_security_on")
        if self.holds_field not in HOLDS_FIELDS:
            raise Sip2Error(f"holds_field must be AS or CD, got {self.holds_field!r}",
                            "holds_field")
        bad = {c: m for c, m in self.alert_types.items() if m not in ALERT_MEANINGS}
        if bad:
            raise Sip2Error(f"alert_types has unknown meanings {bad!r}; expected "
                            f"{', '.join(sorted(ALERT_MEANINGS))}", "alert_types")
        if not self.due_date_formats:
            raise Sip2Error("due_date_formats must list at least one format", "due_date_formats")

    @property
    def keepalive_interval(self) -> float:
        """Idle seconds after which the client sends a 99 keepalive."""
        return self.idle_timeout * self.keepalive_fraction

    def codec(self, *, strict: bool = True) -> Sip2Codec:
        """A codec with this profile's charset, terminator, delimiter and error detection."""
        return Sip2Codec(self.charset, error_detection=self.error_detection,
                         terminator=self.terminator, strict=strict, delimiter=self.delimiter)

    def normalize_barcode(self, barcode: str) -> str:
        """Apply the profile's barcode rules (barcodes may contain spaces or ``/``)."""
        if self.barcode_strip:
            barcode = barcode.strip()
        if self.barcode_remove:
            barcode = barcode.translate({ord(c): None for c in self.barcode_remove})
        if self.barcode_upper:
            barcode = barcode.upper()
        return barcode

    def date(self, when: _dt.datetime | None = None) -> str:
        """A transaction date in this profile's convention (local or UTC)."""
        return format_date(when, utc=self.utc_dates)

    def parse_due_date(self, value: str | None) -> _dt.datetime | None:
        """Parse a free-form ``AH`` due date with the profile's formats, tried in order.

        A format with ``Z`` gives an aware UTC datetime. Returns None when the value is
        blank or no format matches (the caller keeps the text as it is).
        """
        if not value or not value.strip():
            return None
        return _parse_due_date(value, self.due_date_formats)

    def due_date_iso(self, value: str | None) -> str | None:
        """An ``AH`` due date as ISO 8601 via :meth:`parse_due_date`; unparsable text is
        returned stripped (None when blank)."""
        dt = self.parse_due_date(value)
        if dt is not None:
            return dt.isoformat()
        return (value or "").strip() or None

    def alert_meaning(self, alert_type: str | None) -> str | None:
        """What a 10's CV code means (``hold_shelf``, ``transit``…); None when absent.

        A code the profile does not list means ``other``.
        """
        if alert_type is None or alert_type.strip() == "":
            return None
        return self.alert_types.get(alert_type.strip(), ALERT_OTHER)

    def is_hold_alert(self, alert_type: str | None) -> bool:
        """Whether a CV code means "a hold is waiting" (here or at another branch)."""
        return self.alert_meaning(alert_type) in (ALERT_HOLD_SHELF, ALERT_HOLD_OTHER_BRANCH)

    def canonical_alert(self, alert_type: str | None) -> str | None:
        """The CV code rewritten to the gateway's canonical one (01 hold shelf, 02 hold at
        another branch, 04 transit); None for "no alert"; other codes unchanged."""
        meaning = self.alert_meaning(alert_type)
        if meaning is None or meaning == ALERT_NONE:
            return None
        return CANONICAL_ALERT_CODES.get(meaning, alert_type)

    def releases_security(self, ok: bool | None, desensitize: bool | None) -> bool:
        """Whether a checkout answer (12) means "release the item's security".

        ``desensitize`` None (``U``) counts as :attr:`unknown_desensitize_releases`.
        """
        des = self.unknown_desensitize_releases if desensitize is None else desensitize
        if self.release_security_on == "ok":
            return bool(ok)
        if self.release_security_on == "desensitize":
            return bool(des)
        return bool(ok) and bool(des)

    def checkin_succeeded(self, ok: bool | None, *, on_loan: bool | None) -> bool:
        """Whether a checkin answer (10) means "returned".

        Args:
            ok: the 10's ok flag.
            on_loan: whether the item was on loan before the checkin (None: unknown, e.g.
                the ILS does not know the item). Only read when ``ok`` is false.
        """
        if ok:
            return True
        return self.checkin_not_loaned_ok and on_loan is False

    # ---- one call per answer: what it means -------------------------------------------------

    def interpret_checkout(self, resp: Any) -> Verdict:
        """A 12: ok, the release verdict (``desensitize`` Y/N), due date, title."""
        release = self.releases_security(resp.ok, resp.desensitize)
        return Verdict(ok=bool(resp.ok), title=resp.title,
                       due_date=self.due_date_iso(resp.due_date),
                       desensitize="Y" if release else "N", screen_message=screen_text(resp))

    def interpret_checkin(self, resp: Any, *, on_loan: bool | None = None,
                          asked: bool = False) -> Verdict:
        """A 10: returned or not, resensitize, routing (sort bin, destination, canonical
        alert), hold shelf (never whose hold: privacy).

        Args:
            on_loan / asked: whether the item was on loan before (17), once asked; a
                refused checkin the profile may count as a return comes back with
                ``needs_item_state`` until it is.
        """
        ok = bool(resp.ok)
        needs = False
        if not ok and self.checkin_not_loaned_ok:
            if asked:
                ok = self.checkin_succeeded(resp.ok, on_loan=on_loan)
            else:
                needs = True
        hold = bool(resp.hold_patron_id) or self.is_hold_alert(resp.alert_type)
        return Verdict(ok=ok, title=resp.title, resensitize=_yn(resp.resensitize),
                       sort_bin=resp.sort_bin, destination=resp.destination_location,
                       alert_type=self.canonical_alert(resp.alert_type), hold_shelf=hold,
                       screen_message=screen_text(resp), needs_item_state=needs)

    def interpret_renew(self, resp: Any) -> Verdict:
        """A 30: ok, the new due date, desensitize, title."""
        return Verdict(ok=bool(resp.ok), title=resp.title,
                       due_date=self.due_date_iso(resp.due_date),
                       desensitize=_yn(resp.desensitize), screen_message=screen_text(resp))

    def interpret_renew_all(self, resp: Any) -> Verdict:
        """A 66: ok, the counts and the renewed and unrenewed items."""
        return Verdict(ok=bool(resp.ok), renewed=resp.renewed_count,
                       unrenewed=resp.unrenewed_count, items=tuple(resp.renewed_items),
                       unrenewed_items=tuple(resp.unrenewed_items),
                       screen_message=screen_text(resp))

    def hold_items(self, items_as: tuple[str, ...], items_cd: tuple[str, ...]) -> tuple[str, ...]:
        """The patron's hold list from a 64, read from the profile's holds field."""
        return items_cd if self.holds_field == "CD" else items_as


PROFILES: Mapping[str, Sip2Profile] = MappingProxyType({
    "generic": Sip2Profile(name="generic"),
    # Koha C4::SIP: per-login encoding (set utf8 for Vietnamese), CR terminator by default,
    # client_timeout commonly 600 s, CV 01/02/04 on checkin, holds in AS.
    "koha": Sip2Profile(name="koha", charset="utf-8", error_detection=True, idle_timeout=600.0,
                        holds_field="AS", release_security_on="both",
                        checkin_not_loaned_ok=True, barcode_strip=True),
    # Evergreen SIPServer: UTF-8, checksums on, holds in AS; treats unknown desensitize as no.
    "evergreen": Sip2Profile(name="evergreen", charset="utf-8", error_detection=True,
                             idle_timeout=600.0, holds_field="AS",
                             release_security_on="both"),
    # FOLIO edge-sip2: IBM850 by default, error detection off unless configured.
    "folio": Sip2Profile(name="folio", charset="cp850", error_detection=False,
                         idle_timeout=300.0, holds_field="CD", release_security_on="ok",
                         unknown_desensitize_releases=True, barcode_upper=False),
})
"""The built-in profiles: ``generic``, ``koha``, ``evergreen``, ``folio``."""


TERMINATORS: Final = MappingProxyType({"CR": b"\r", "CRLF": b"\r\n"})
OVERRIDABLE: Final = frozenset({"charset", "error_detection", "terminator", "idle_timeout",
                                "keepalive_fraction", "checkin_not_loaned_ok"})
"""The profile settings a site may override one by one (``[ils.sip2]``)."""


def with_overrides(profile: Sip2Profile, overrides: Mapping[str, Any]) -> Sip2Profile:
    """``profile`` with a site's single settings applied (None values are left alone).

    ``terminator`` is ``CR`` or ``CRLF``; ``charset`` a Python codec name.

    Raises:
        Sip2Error: an unknown setting, or a value the profile cannot take.
    """
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(changes) - OVERRIDABLE)
    if unknown:
        raise Sip2Error(f"not an overridable SIP2 setting: {', '.join(unknown)}", unknown[0])
    if "terminator" in changes:
        term = changes["terminator"]
        if term not in TERMINATORS:
            raise Sip2Error(f"terminator must be CR or CRLF, got {term!r}", "terminator")
        changes["terminator"] = TERMINATORS[term]
    for key in ("idle_timeout", "keepalive_fraction"):
        if key in changes and not float(changes[key]) > 0:
            raise Sip2Error(f"{key} must be positive, got {changes[key]!r}", key)
    site = replace(profile, **changes)
    try:
        site.codec()  # the charset must be one the codec speaks
    except Sip2Error as exc:
        raise Sip2Error(f"charset: {exc}", "charset") from exc
    return site


def get_profile(name: str) -> Sip2Profile:
    """The built-in profile called ``name``.

    Raises:
        Sip2Error: no such profile.
    """
    try:
        return PROFILES[name]
    except KeyError:
        raise Sip2Error(f"unknown SIP2 profile {name!r}; expected one of "
                        f"{', '.join(PROFILES)}", "profile") from None
