"""SIP2 sample messages, one per type, and their pysip2 form: the cross-check tests
(``tests/sync/sip2/test_pysip2_crosscheck.py``) and ``bench/sip2.py`` use the same ones.

The samples are typed here by hand (never produced by our encoder).
"""

from __future__ import annotations

from typing import Any

from sync.sip2.messages import (
    VARIABLE_FIELDS,
    AcsStatus,
    BlockPatron,
    Checkin,
    CheckinResponse,
    Checkout,
    CheckoutResponse,
    EndPatronSession,
    EndSessionResponse,
    FeePaid,
    FeePaidResponse,
    Hold,
    HoldResponse,
    ItemInformation,
    ItemInformationResponse,
    ItemStatusUpdate,
    ItemStatusUpdateResponse,
    LoginRequest,
    LoginResponse,
    Message,
    PatronInformation,
    PatronInformationResponse,
    PatronStatus,
    PatronStatusResponse,
    Renew,
    RenewAll,
    RenewAllResponse,
    RenewResponse,
    RequestAcsResend,
    RequestScResend,
    ScStatus,
)

D = "20261123    120000"
D2 = "20261214    235900"
RENAME = {"patron_id": "patron_identifier", "item_id": "item_identifier",
          "title": "title_identifier", "renewal_policy": "sc_renewal_policy"}

SAMPLES: list[Message] = [
    LoginRequest(uid_algorithm="0", pwd_algorithm="0", login_user_id="kiosk01",
                 login_password="s3cret", location_code="MAIN"),
    LoginResponse(ok=True),
    ScStatus(status_code="0", max_print_width="040", protocol_version="2.00"),
    AcsStatus(online_status=True, checkin_ok=True, checkout_ok=False, acs_renewal_policy=True,
              status_update_ok=False, offline_ok=True, timeout_period="030",
              retries_allowed="003", date_time_sync=D, protocol_version="2.00",
              institution_id="VNLIB", library_name="Thư viện Hà Nội",
              supported_messages="YYYYYYYYYYYYYYNN", terminal_location="Tầng 1",
              screen_message=("Xin chào", "Hello")),
    EndPatronSession(transaction_date=D, institution_id="VNLIB", patron_id="2000001",
                     terminal_password="t", patron_password="1234"),
    EndSessionResponse(end_session=True, transaction_date=D, institution_id="VNLIB",
                       patron_id="2000001", screen_message=("Tạm biệt",), print_line=("bye",)),
    RequestAcsResend(),
    RequestScResend(),
    PatronInformation(language="001", transaction_date=D, summary="  Y       ",
                      institution_id="VNLIB", patron_id="2000001", terminal_password="t",
                      patron_password="1234", start_item="1", end_item="5"),
    PatronInformationResponse(
        patron_status="Y  Y          ", language="001", transaction_date=D, hold_items_count=1,
        overdue_items_count=0, charged_items_count=2, fine_items_count=0, recall_items_count=0,
        unavailable_holds_count=1, institution_id="VNLIB", patron_id="2000001",
        personal_name="Nguyễn Văn An", hold_items_limit="0010", overdue_items_limit="0005",
        charged_items_limit="0010", valid_patron=True, valid_patron_password=False,
        currency_type="VND", fee_amount="5000", fee_limit="50000", hold_items=("30000001",),
        overdue_items=(), charged_items=("30000002", "30000003"), fine_items=("30000004",),
        recall_items=("30000005",), unavailable_hold_items=("30000006",),
        home_address="1 Phố Huế, Hà Nội", email_address="an@example.org",
        home_phone_number="0900000000", screen_message=("m1", "m2"), print_line=("p",)),
    PatronStatus(language="000", transaction_date=D, institution_id="VNLIB",
                 patron_id="2000001", terminal_password="", patron_password="1234"),
    PatronStatusResponse(patron_status=" " * 14, language="000", transaction_date=D,
                         institution_id="VNLIB", patron_id="2000001", personal_name="An",
                         valid_patron=True, valid_patron_password=True, currency_type="VND",
                         fee_amount="0", screen_message=("ok",)),
    BlockPatron(card_retained=False, transaction_date=D, institution_id="VNLIB",
                blocked_card_message="Thẻ bị khóa", patron_id="2000001", terminal_password=""),
    Checkout(renewal_policy=True, no_block=True, transaction_date=D, nb_due_date=D2,
             institution_id="VNLIB", patron_id="2000001", item_id="30000100",
             terminal_password="", item_properties="parts=2", patron_password="1234",
             fee_acknowledged=False, cancel=False),
    CheckoutResponse(ok=True, renewal_ok=False, magnetic_media=False, desensitize=True,
                     transaction_date=D, institution_id="VNLIB", patron_id="2000001",
                     item_id="30000100", title="Lịch sử Việt Nam", due_date=D2, fee_type="01",
                     security_inhibit=False, currency_type="VND", fee_amount="0",
                     media_type="001", item_properties="parts=1", transaction_id="T1",
                     screen_message=("Đã mượn",), print_line=("receipt",)),
    Checkin(no_block=False, transaction_date=D, return_date=D, current_location="MAIN",
            institution_id="VNLIB", item_id="30000100", terminal_password="",
            item_properties="x", cancel=False),
    CheckinResponse(ok=True, resensitize=True, magnetic_media=False, alert=True,
                    transaction_date=D, institution_id="VNLIB", item_id="30000010",
                    permanent_location="MAIN", title="Truyện Kiều", sort_bin="HOLD",
                    patron_id="2000005", media_type="001", item_properties="parts=1",
                    screen_message=("Kệ đặt trước",)),
    Renew(third_party_allowed=False, no_block=False, transaction_date=D, nb_due_date=D2,
          institution_id="VNLIB", patron_id="2000001", patron_password="1234",
          item_id="30000100", title="T", terminal_password="", item_properties="p",
          fee_acknowledged=True),
    RenewResponse(ok=False, renewal_ok=False, magnetic_media=False, desensitize=False,
                  transaction_date=D, institution_id="VNLIB", patron_id="2000001",
                  item_id="30000100", title="T", due_date=D2, screen_message=("no",)),
    RenewAll(transaction_date=D, institution_id="VNLIB", patron_id="2000001",
             patron_password="1234", terminal_password="", fee_acknowledged=False),
    RenewAllResponse(ok=True, renewed_count=2, unrenewed_count=1, transaction_date=D,
                     institution_id="VNLIB", renewed_items=("1", "2"), unrenewed_items=("3",),
                     screen_message=("x",)),
    ItemInformation(transaction_date=D, institution_id="VNLIB", item_id="30000100",
                    terminal_password=""),
    ItemInformationResponse(circulation_status="08", security_marker="02", fee_type="01",
                            transaction_date=D, hold_queue_length="2", due_date=D2,
                            recall_date=D2, hold_pickup_date=D2, item_id="30000100",
                            title="Dế Mèn phiêu lưu ký", owner="VN-HN0001", currency_type="VND",
                            fee_amount="0", media_type="001", permanent_location="MAIN",
                            current_location="MAIN", item_properties="parts=1",
                            screen_message=("a",)),
    FeePaid(transaction_date=D, fee_type="04", payment_type="00", currency_type="VND",
            fee_amount="20000", institution_id="VNLIB", patron_id="2000003",
            terminal_password="", patron_password="3456", fee_identifier="F1",
            transaction_id="T9"),
    FeePaidResponse(payment_accepted=True, transaction_date=D, institution_id="VNLIB",
                    patron_id="2000003", transaction_id="T9", screen_message=("paid",)),
    Hold(hold_mode="+", transaction_date=D, expiration_date=D2, pickup_location="MAIN",
         hold_type="2", institution_id="VNLIB", patron_id="2000004", patron_password="4567",
         item_id="30000100", title="T", terminal_password="", fee_acknowledged=True),
    HoldResponse(ok=True, available=False, transaction_date=D, expiration_date=D2,
                 queue_position="3", pickup_location="MAIN", institution_id="VNLIB",
                 patron_id="2000004", item_id="30000100", title="T", screen_message=("h",)),
    ItemStatusUpdate(transaction_date=D, institution_id="VNLIB", item_id="30000100",
                     terminal_password="", item_properties="shelf=A1"),
    ItemStatusUpdateResponse(item_properties_ok=True, transaction_date=D, item_id="30000100",
                             title="T", item_properties="shelf=A1", screen_message=("u",)),
]


def to_pysip2_kwargs(msg: Message) -> dict[str, Any]:
    """``msg``'s fields as pysip2 names and types them (to build its model)."""
    out: dict[str, Any] = {}
    for f in msg.LAYOUT.fixed:
        v = getattr(msg, f.name)
        if f.kind == "ok":
            v = "1" if v else "0"
        elif f.kind == "yn":
            v = "U" if v is None else ("Y" if v else "N")
        elif f.kind == "n":
            v = f"{v:04d}"
        out[RENAME.get(f.name, f.name)] = v
    for code in msg.LAYOUT.variable:
        name, kind = VARIABLE_FIELDS[code]
        v = getattr(msg, name)
        if v is None or (kind == "l" and not v):
            continue
        if kind == "f":
            v = "Y" if v else "N"
        out[RENAME.get(name, name)] = v
    return out
