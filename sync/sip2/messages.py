"""SIP2 2.00 messages as typed frozen dataclasses, and the layout table the codec reads.

Every message is a frozen dataclass whose fields are the fixed fields (in wire order) and
then the variable fields, all by name. The wire layout of each class is declared next to it
with :func:`message`; the codec (``sync.sip2.codec``) is driven by that table only.
This module holds no I/O and no encoding logic.

Kinds of fixed fields:

* ``ok``   ``1``/``0``                       -> ``bool`` (``Y``/``N`` tolerated)
* ``yn``   ``Y``/``N``, ``U`` or blank        -> ``bool | None``
* ``date`` ``YYYYMMDDZZZZHHMMSS``             -> ``str`` (validated; blank -> ``None``)
* ``nN``   N digits, blank = unknown          -> ``int | None``
* ``sN``   N characters                       -> ``str``

Variable fields are ``str``, ``tuple[str, ...]`` (repeatable) or ``bool | None`` (Y/N).
Unknown field codes are kept, in order, in ``extra`` as ``(code, value)`` pairs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

# code -> (name, kind); kind is "s" (text), "l" (repeatable list) or "f" (Y/N flag)
VARIABLE_FIELDS: dict[str, tuple[str, str]] = {
    "AA": ("patron_id", "s"),
    "AB": ("item_id", "s"),
    "AC": ("terminal_password", "s"),
    "AD": ("patron_password", "s"),
    "AE": ("personal_name", "s"),
    "AF": ("screen_message", "l"),
    "AG": ("print_line", "l"),
    "AH": ("due_date", "s"),
    "AJ": ("title", "s"),
    "AL": ("blocked_card_message", "s"),
    "AM": ("library_name", "s"),
    "AN": ("terminal_location", "s"),
    "AO": ("institution_id", "s"),
    "AP": ("current_location", "s"),
    "AQ": ("permanent_location", "s"),
    "AS": ("hold_items", "l"),
    "AT": ("overdue_items", "l"),
    "AU": ("charged_items", "l"),
    "AV": ("fine_items", "l"),
    "BD": ("home_address", "s"),
    "BE": ("email_address", "s"),
    "BF": ("home_phone_number", "s"),
    "BG": ("owner", "s"),
    "BH": ("currency_type", "s"),
    "BI": ("cancel", "f"),
    "BK": ("transaction_id", "s"),
    "BL": ("valid_patron", "f"),
    "BM": ("renewed_items", "l"),
    "BN": ("unrenewed_items", "l"),
    "BO": ("fee_acknowledged", "f"),
    "BP": ("start_item", "s"),
    "BQ": ("end_item", "s"),
    "BR": ("queue_position", "s"),
    "BS": ("pickup_location", "s"),
    "BT": ("fee_type", "s"),
    "BU": ("recall_items", "l"),
    "BV": ("fee_amount", "s"),
    "BW": ("expiration_date", "s"),
    "BX": ("supported_messages", "s"),
    "BY": ("hold_type", "s"),
    "BZ": ("hold_items_limit", "s"),
    "CA": ("overdue_items_limit", "s"),
    "CB": ("charged_items_limit", "s"),
    "CC": ("fee_limit", "s"),
    "CD": ("unavailable_hold_items", "l"),
    "CF": ("hold_queue_length", "s"),
    "CG": ("fee_identifier", "s"),
    "CH": ("item_properties", "s"),
    "CI": ("security_inhibit", "f"),
    "CJ": ("recall_date", "s"),
    "CK": ("media_type", "s"),
    "CL": ("sort_bin", "s"),
    "CM": ("hold_pickup_date", "s"),
    "CN": ("login_user_id", "s"),
    "CO": ("login_password", "s"),
    "CP": ("location_code", "s"),
    "CQ": ("valid_patron_password", "f"),
    # common extensions (Koha, Evergreen): checkin routing hints, collection, call number
    "CR": ("collection_code", "s"),
    "CS": ("call_number", "s"),
    "CT": ("destination_location", "s"),
    "CV": ("alert_type", "s"),
    "CY": ("hold_patron_id", "s"),
    "DA": ("hold_patron_name", "s"),
}

FIELD_CODES: dict[str, str] = {name: code for code, (name, _k) in VARIABLE_FIELDS.items()}
"""Field name -> two-letter code."""


@dataclass(frozen=True)
class FixedField:
    """One fixed-length field: its name, width and kind (``ok``, ``yn``, ``date``, ``n``, ``s``)."""

    name: str
    width: int
    kind: str


@dataclass(frozen=True)
class MessageLayout:
    """The wire layout of one message type."""

    command: str
    cls: type[Message]
    fixed: tuple[FixedField, ...]
    variable: tuple[str, ...]  # codes, in the order they are written
    fixed_width: int


@dataclass(frozen=True)
class Message:
    """Base of every SIP2 message; ``extra`` keeps unknown ``(code, value)`` fields in order."""

    COMMAND: ClassVar[str] = ""
    LAYOUT: ClassVar[MessageLayout]

    extra: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (lists for repeatable fields), plus ``command``."""
        out: dict[str, Any] = {"command": self.COMMAND, "message": type(self).__name__}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) and f.name != "extra" else v
        out["extra"] = [list(p) for p in self.extra]
        return out

    def get_extra(self, code: str) -> str | None:
        """The first value of an unknown (extension) field, or None."""
        for c, v in self.extra:
            if c == code:
                return v
        return None


MESSAGES: dict[str, MessageLayout] = {}
"""Command code -> layout, for every message this codec knows."""

_KINDS = {"ok": 1, "yn": 1, "date": 18}
M = TypeVar("M", bound=Message)


def message(command: str, fixed: str, variable: str) -> Callable[[type[M]], type[M]]:
    """Declare the wire layout of a message class (``fixed`` as ``name:kind`` words)."""

    def wrap(cls: type[M]) -> type[M]:
        fx: list[FixedField] = []
        for word in fixed.split():
            name, kind = word.split(":")
            if kind in _KINDS:
                fx.append(FixedField(name, _KINDS[kind], kind))
            else:
                fx.append(FixedField(name, int(kind[1:]), kind[0]))
        codes = tuple(variable.split())
        expected = [f.name for f in fx] + [VARIABLE_FIELDS[c][0] for c in codes] + ["extra"]
        actual = sorted(f.name for f in dataclasses.fields(cls))
        if sorted(expected) != actual:
            raise TypeError(f"{cls.__name__}: layout {sorted(expected)} != fields {actual}")
        layout = MessageLayout(command, cls, tuple(fx), codes, sum(f.width for f in fx))
        cls.COMMAND = command
        cls.LAYOUT = layout
        MESSAGES[command] = layout
        return cls

    return wrap


_RESP = "AF AG"

# ---- session ---------------------------------------------------------------------------


@message("93", "uid_algorithm:s1 pwd_algorithm:s1", "CN CO CP")
@dataclass(frozen=True)
class LoginRequest(Message):
    """93 Login."""

    uid_algorithm: str = "0"
    pwd_algorithm: str = "0"
    login_user_id: str | None = None
    login_password: str | None = None
    location_code: str | None = None


@message("94", "ok:ok", "")
@dataclass(frozen=True)
class LoginResponse(Message):
    """94 Login Response."""

    ok: bool | None = False


@message("99", "status_code:s1 max_print_width:s3 protocol_version:s4", "")
@dataclass(frozen=True)
class ScStatus(Message):
    """99 SC Status (also the keepalive)."""

    status_code: str = "0"
    max_print_width: str = "030"
    protocol_version: str = "2.00"


@message("98", "online_status:yn checkin_ok:yn checkout_ok:yn acs_renewal_policy:yn "
               "status_update_ok:yn offline_ok:yn timeout_period:s3 retries_allowed:s3 "
               "date_time_sync:date protocol_version:s4", "AO AM BX AN " + _RESP)
@dataclass(frozen=True)
class AcsStatus(Message):
    """98 ACS Status."""

    online_status: bool | None = None
    checkin_ok: bool | None = None
    checkout_ok: bool | None = None
    acs_renewal_policy: bool | None = None
    status_update_ok: bool | None = None
    offline_ok: bool | None = None
    timeout_period: str = "000"
    retries_allowed: str = "000"
    date_time_sync: str | None = None
    protocol_version: str = "2.00"
    institution_id: str | None = None
    library_name: str | None = None
    supported_messages: str | None = None
    terminal_location: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("35", "transaction_date:date", "AO AA AC AD")
@dataclass(frozen=True)
class EndPatronSession(Message):
    """35 End Patron Session."""

    transaction_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    terminal_password: str | None = None
    patron_password: str | None = None


@message("36", "end_session:yn transaction_date:date", "AO AA " + _RESP)
@dataclass(frozen=True)
class EndSessionResponse(Message):
    """36 End Session Response."""

    end_session: bool | None = None
    transaction_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("97", "", "")
@dataclass(frozen=True)
class RequestAcsResend(Message):
    """97 Request ACS Resend (the SC asks the ILS to repeat its last answer)."""


@message("96", "", "")
@dataclass(frozen=True)
class RequestScResend(Message):
    """96 Request SC Resend (the ILS asks the SC to repeat its last request)."""


# ---- patron ----------------------------------------------------------------------------


@message("63", "language:s3 transaction_date:date summary:s10", "AO AA AC AD BP BQ")
@dataclass(frozen=True)
class PatronInformation(Message):
    """63 Patron Information."""

    language: str = "000"
    transaction_date: str | None = None
    summary: str = " " * 10
    institution_id: str | None = None
    patron_id: str | None = None
    terminal_password: str | None = None
    patron_password: str | None = None
    start_item: str | None = None
    end_item: str | None = None


@message("64", "patron_status:s14 language:s3 transaction_date:date hold_items_count:n4 "
               "overdue_items_count:n4 charged_items_count:n4 fine_items_count:n4 "
               "recall_items_count:n4 unavailable_holds_count:n4",
         "AO AA AE BZ CA CB BL CQ BH BV CC AS AT AU AV BU CD BD BE BF " + _RESP)
@dataclass(frozen=True)
class PatronInformationResponse(Message):
    """64 Patron Information Response."""

    patron_status: str = " " * 14
    language: str = "000"
    transaction_date: str | None = None
    hold_items_count: int | None = None
    overdue_items_count: int | None = None
    charged_items_count: int | None = None
    fine_items_count: int | None = None
    recall_items_count: int | None = None
    unavailable_holds_count: int | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    personal_name: str | None = None
    hold_items_limit: str | None = None
    overdue_items_limit: str | None = None
    charged_items_limit: str | None = None
    valid_patron: bool | None = None
    valid_patron_password: bool | None = None
    currency_type: str | None = None
    fee_amount: str | None = None
    fee_limit: str | None = None
    hold_items: tuple[str, ...] = ()
    overdue_items: tuple[str, ...] = ()
    charged_items: tuple[str, ...] = ()
    fine_items: tuple[str, ...] = ()
    recall_items: tuple[str, ...] = ()
    unavailable_hold_items: tuple[str, ...] = ()
    home_address: str | None = None
    email_address: str | None = None
    home_phone_number: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("23", "language:s3 transaction_date:date", "AO AA AC AD")
@dataclass(frozen=True)
class PatronStatus(Message):
    """23 Patron Status."""

    language: str = "000"
    transaction_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    terminal_password: str | None = None
    patron_password: str | None = None


@message("24", "patron_status:s14 language:s3 transaction_date:date",
         "AO AA AE BL CQ BH BV " + _RESP)
@dataclass(frozen=True)
class PatronStatusResponse(Message):
    """24 Patron Status Response (also the answer to 01 Block Patron)."""

    patron_status: str = " " * 14
    language: str = "000"
    transaction_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    personal_name: str | None = None
    valid_patron: bool | None = None
    valid_patron_password: bool | None = None
    currency_type: str | None = None
    fee_amount: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("01", "card_retained:yn transaction_date:date", "AO AL AA AC")
@dataclass(frozen=True)
class BlockPatron(Message):
    """01 Block Patron (answered by 24)."""

    card_retained: bool | None = False
    transaction_date: str | None = None
    institution_id: str | None = None
    blocked_card_message: str | None = None
    patron_id: str | None = None
    terminal_password: str | None = None


# ---- items and circulation -------------------------------------------------------------


@message("11", "renewal_policy:yn no_block:yn transaction_date:date nb_due_date:date",
         "AO AA AB AC CH AD BO BI")
@dataclass(frozen=True)
class Checkout(Message):
    """11 Checkout."""

    renewal_policy: bool | None = True
    no_block: bool | None = False
    transaction_date: str | None = None
    nb_due_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    item_id: str | None = None
    terminal_password: str | None = None
    item_properties: str | None = None
    patron_password: str | None = None
    fee_acknowledged: bool | None = None
    cancel: bool | None = None


_CIRC_RESPONSE_FIXED = ("ok:ok renewal_ok:yn magnetic_media:yn desensitize:yn "
                        "transaction_date:date")
_CIRC_RESPONSE_VAR = "AO AA AB AJ AH BT CI BH BV CK CH BK " + _RESP


@dataclass(frozen=True)
class LoanResponse(Message):
    """The layout shared by 12 Checkout Response and 30 Renew Response (a loan made or
    extended): the same fixed and variable fields, only the command differs."""

    ok: bool | None = False
    renewal_ok: bool | None = None
    magnetic_media: bool | None = None
    desensitize: bool | None = None
    transaction_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    item_id: str | None = None
    title: str | None = None
    due_date: str | None = None
    fee_type: str | None = None
    security_inhibit: bool | None = None
    currency_type: str | None = None
    fee_amount: str | None = None
    media_type: str | None = None
    item_properties: str | None = None
    transaction_id: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("12", _CIRC_RESPONSE_FIXED, _CIRC_RESPONSE_VAR)
@dataclass(frozen=True)
class CheckoutResponse(LoanResponse):
    """12 Checkout Response."""


@message("09", "no_block:yn transaction_date:date return_date:date", "AP AO AB AC CH BI")
@dataclass(frozen=True)
class Checkin(Message):
    """09 Checkin."""

    no_block: bool | None = False
    transaction_date: str | None = None
    return_date: str | None = None
    current_location: str | None = None
    institution_id: str | None = None
    item_id: str | None = None
    terminal_password: str | None = None
    item_properties: str | None = None
    cancel: bool | None = None


@message("10", "ok:ok resensitize:yn magnetic_media:yn alert:yn transaction_date:date",
         "AO AB AQ AJ CL AA CK CH CT CV CY DA CR CS " + _RESP)
@dataclass(frozen=True)
class CheckinResponse(Message):
    """10 Checkin Response, with the CT/CV/CY/DA routing extensions."""

    ok: bool | None = False
    resensitize: bool | None = None
    magnetic_media: bool | None = None
    alert: bool | None = None
    transaction_date: str | None = None
    institution_id: str | None = None
    item_id: str | None = None
    permanent_location: str | None = None
    title: str | None = None
    sort_bin: str | None = None
    patron_id: str | None = None
    media_type: str | None = None
    item_properties: str | None = None
    destination_location: str | None = None
    alert_type: str | None = None
    hold_patron_id: str | None = None
    hold_patron_name: str | None = None
    collection_code: str | None = None
    call_number: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("29", "third_party_allowed:yn no_block:yn transaction_date:date nb_due_date:date",
         "AO AA AD AB AJ AC CH BO")
@dataclass(frozen=True)
class Renew(Message):
    """29 Renew."""

    third_party_allowed: bool | None = False
    no_block: bool | None = False
    transaction_date: str | None = None
    nb_due_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    patron_password: str | None = None
    item_id: str | None = None
    title: str | None = None
    terminal_password: str | None = None
    item_properties: str | None = None
    fee_acknowledged: bool | None = None


@message("30", _CIRC_RESPONSE_FIXED, _CIRC_RESPONSE_VAR)
@dataclass(frozen=True)
class RenewResponse(LoanResponse):
    """30 Renew Response (same layout as 12)."""


@message("65", "transaction_date:date", "AO AA AD AC BO")
@dataclass(frozen=True)
class RenewAll(Message):
    """65 Renew All."""

    transaction_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    patron_password: str | None = None
    terminal_password: str | None = None
    fee_acknowledged: bool | None = None


@message("66", "ok:ok renewed_count:n4 unrenewed_count:n4 transaction_date:date",
         "AO BM BN " + _RESP)
@dataclass(frozen=True)
class RenewAllResponse(Message):
    """66 Renew All Response."""

    ok: bool | None = False
    renewed_count: int | None = None
    unrenewed_count: int | None = None
    transaction_date: str | None = None
    institution_id: str | None = None
    renewed_items: tuple[str, ...] = ()
    unrenewed_items: tuple[str, ...] = ()
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("17", "transaction_date:date", "AO AB AC")
@dataclass(frozen=True)
class ItemInformation(Message):
    """17 Item Information."""

    transaction_date: str | None = None
    institution_id: str | None = None
    item_id: str | None = None
    terminal_password: str | None = None


@message("18", "circulation_status:s2 security_marker:s2 fee_type:s2 transaction_date:date",
         "CF AH CJ CM AB AJ BG BH BV CK AQ AP CT CY CH CR CS " + _RESP)
@dataclass(frozen=True)
class ItemInformationResponse(Message):
    """18 Item Information Response.

    ``CT`` (destination location) and ``CY`` (hold patron id) are the 10's fields that some
    ILSs (and the demo ILS) also send in an 18 for an item with a hold: where the first
    hold is picked up, and whose hold it is (the gateway only compares it, never sends it on).
    """

    circulation_status: str = "01"
    security_marker: str = "00"
    fee_type: str = "01"
    transaction_date: str | None = None
    hold_queue_length: str | None = None
    due_date: str | None = None
    recall_date: str | None = None
    hold_pickup_date: str | None = None
    item_id: str | None = None
    title: str | None = None
    owner: str | None = None
    currency_type: str | None = None
    fee_amount: str | None = None
    media_type: str | None = None
    permanent_location: str | None = None
    current_location: str | None = None
    destination_location: str | None = None
    hold_patron_id: str | None = None
    item_properties: str | None = None
    collection_code: str | None = None
    call_number: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("37", "transaction_date:date fee_type:s2 payment_type:s2 currency_type:s3",
         "BV AO AA AC AD CG BK")
@dataclass(frozen=True)
class FeePaid(Message):
    """37 Fee Paid."""

    transaction_date: str | None = None
    fee_type: str = "01"
    payment_type: str = "00"
    currency_type: str = "VND"
    fee_amount: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    terminal_password: str | None = None
    patron_password: str | None = None
    fee_identifier: str | None = None
    transaction_id: str | None = None


@message("38", "payment_accepted:yn transaction_date:date", "AO AA BK " + _RESP)
@dataclass(frozen=True)
class FeePaidResponse(Message):
    """38 Fee Paid Response."""

    payment_accepted: bool | None = None
    transaction_date: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    transaction_id: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("15", "hold_mode:s1 transaction_date:date", "BW BS BY AO AA AD AB AJ AC BO")
@dataclass(frozen=True)
class Hold(Message):
    """15 Hold (mode ``+`` add, ``-`` delete, ``*`` change)."""

    hold_mode: str = "+"
    transaction_date: str | None = None
    expiration_date: str | None = None
    pickup_location: str | None = None
    hold_type: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    patron_password: str | None = None
    item_id: str | None = None
    title: str | None = None
    terminal_password: str | None = None
    fee_acknowledged: bool | None = None


@message("16", "ok:ok available:yn transaction_date:date", "BW BR BS AO AA AB AJ " + _RESP)
@dataclass(frozen=True)
class HoldResponse(Message):
    """16 Hold Response."""

    ok: bool | None = False
    available: bool | None = None
    transaction_date: str | None = None
    expiration_date: str | None = None
    queue_position: str | None = None
    pickup_location: str | None = None
    institution_id: str | None = None
    patron_id: str | None = None
    item_id: str | None = None
    title: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


@message("19", "transaction_date:date", "AO AB AC CH")
@dataclass(frozen=True)
class ItemStatusUpdate(Message):
    """19 Item Status Update."""

    transaction_date: str | None = None
    institution_id: str | None = None
    item_id: str | None = None
    terminal_password: str | None = None
    item_properties: str | None = None


@message("20", "item_properties_ok:ok transaction_date:date", "AB AJ CH " + _RESP)
@dataclass(frozen=True)
class ItemStatusUpdateResponse(Message):
    """20 Item Status Update Response."""

    item_properties_ok: bool | None = False
    transaction_date: str | None = None
    item_id: str | None = None
    title: str | None = None
    item_properties: str | None = None
    screen_message: tuple[str, ...] = ()
    print_line: tuple[str, ...] = ()


REQUESTS: tuple[type[Message], ...] = (
    LoginRequest, ScStatus, EndPatronSession, RequestAcsResend, PatronInformation, PatronStatus,
    BlockPatron, Checkout, Checkin, Renew, RenewAll, ItemInformation, FeePaid, Hold,
    ItemStatusUpdate,
)
"""Messages the SC (kiosk, gateway) sends."""

RESPONSES: tuple[type[Message], ...] = (
    LoginResponse, AcsStatus, EndSessionResponse, RequestScResend, PatronInformationResponse,
    PatronStatusResponse, CheckoutResponse, CheckinResponse, RenewResponse, RenewAllResponse,
    ItemInformationResponse, FeePaidResponse, HoldResponse, ItemStatusUpdateResponse,
)
"""Messages the ACS (the ILS) sends."""

EXPECTED_RESPONSE: dict[str, str] = {
    "93": "94", "99": "98", "35": "36", "63": "64", "23": "24", "01": "24", "11": "12",
    "09": "10", "29": "30", "65": "66", "17": "18", "37": "38", "15": "16", "19": "20",
}
"""Request command -> the command of its answer."""
