"""The patron-facing texts of the edge's error codes, in Vietnamese and English.

Pure data, no imports: the one source of these texts for :mod:`edge.errors` (the API's
error shape and item results) and for the kiosk's test double (``kiosk_ui/fake_edge.py``),
which may import this module and nothing else of ``edge``. Codes are listed in
``docs/api.md``; some keys (``offline_renew``, ``item_not_on_pad``, ``return_sent``,
``renew_sent``) are texts for item results rather than error codes.
"""

TEXTS: dict[str, dict[str, str]] = {
    "unknown_patron": {"vi": "Không tìm thấy bạn đọc", "en": "We do not know this card or number"},
    "wrong_pin": {"vi": "Mã PIN không đúng", "en": "The PIN is wrong"},
    "pin_required": {"vi": "Vui lòng nhập mã PIN", "en": "Please enter your PIN"},
    "pin_locked": {"vi": "Nhập sai mã PIN quá nhiều lần; thẻ tạm bị khóa, vui lòng thử lại sau "
                         "hoặc liên hệ thủ thư",
                   "en": "Too many wrong PINs; this card is locked for a while. Please try "
                         "again later or see the staff"},
    "staff_login_locked": {"vi": "Đăng nhập sai quá nhiều lần; tạm khóa đăng nhập, vui lòng thử "
                                 "lại sau",
                           "en": "Too many failed log-ins; logging in is locked for a while. "
                                 "Please try again later"},
    "rate_limited": {"vi": "Quá nhiều yêu cầu, vui lòng chờ một lát rồi thử lại",
                     "en": "Too many requests; please wait a moment and try again"},
    "payload_too_large": {"vi": "Dữ liệu gửi lên quá lớn", "en": "The request is too large"},
    "patron_blocked": {"vi": "Thẻ bạn đọc đang bị khóa, vui lòng liên hệ thủ thư",
                       "en": "Your account is blocked, please see the staff"},
    "restricted_fines": {"vi": "Bạn đang nợ phí phạt vượt mức cho phép: hãy thanh toán phí phạt "
                                 "trước khi mượn hoặc gia hạn",
                           "en": "Your fines are over the limit: please pay them before "
                                 "borrowing or renewing"},
    "card_expired": {"vi": "Thẻ bạn đọc đã hết hạn", "en": "Your library card has expired"},
    "session_expired": {"vi": "Phiên làm việc đã kết thúc", "en": "Your session has ended"},
    "offline_login_denied": {"vi": "Hệ thống đang mất kết nối, chưa thể đăng nhập",
                             "en": "The system is offline; logging in is not possible now"},
    "pin_check_unavailable": {"vi": "Hiện chưa thể kiểm tra mã PIN, vui lòng liên hệ thủ thư",
                              "en": "Your PIN cannot be checked right now, please see the staff"},
    "item_unknown": {"vi": "Không nhận ra tài liệu này", "en": "This item is not recognised"},
    "incomplete_set": {"vi": "Bộ tài liệu chưa đủ các phần, hãy đặt đủ lên khay",
                       "en": "Some parts of this set are missing; place all of them on the pad"},
    "on_hold_for_other": {"vi": "Tài liệu đang được giữ cho bạn đọc khác",
                          "en": "This item is on hold for another patron"},
    "loan_limit": {"vi": "Bạn đã mượn đủ số lượng cho phép",
                   "en": "You have reached your loan limit"},
    "not_loanable": {"vi": "Tài liệu này không được mượn về", "en": "This item cannot be borrowed"},
    "offline_limit": {"vi": "Hệ thống đang mất kết nối: đã vượt giới hạn mượn ngoại tuyến",
                      "en": "The system is offline and the offline limit is reached"},
    "ils_refused": {"vi": "Thư viện từ chối giao dịch này", "en": "The library system refused this"},
    "alarm_still_on": {"vi": "Chưa tắt được từ tính, vui lòng đưa tài liệu cho thủ thư",
                       "en": "The security tag could not be changed; please give the item to the staff"},
    "not_on_loan": {"vi": "Tài liệu này không được mượn", "en": "This item is not on loan"},
    "renew_refused": {"vi": "Không gia hạn được tài liệu này", "en": "This item cannot be renewed"},
    "device_unavailable": {"vi": "Thiết bị đang không hoạt động", "en": "The device is not available"},
    "internal_error": {"vi": "Đã có lỗi, vui lòng thử lại hoặc liên hệ thủ thư",
                       "en": "Something went wrong; please try again or see the staff"},
    "store_error": {"vi": "Đã có lỗi, vui lòng thử lại hoặc liên hệ thủ thư",
                    "en": "Something went wrong; please try again or see the staff"},
    "validation_error": {"vi": "Dữ liệu không hợp lệ", "en": "The request is not valid"},
    "unauthorized": {"vi": "Cần đăng nhập thiết bị", "en": "A token is needed"},
    "forbidden": {"vi": "Không có quyền", "en": "Not allowed"},
    "not_found": {"vi": "Không tìm thấy", "en": "Not found"},
    "offline_renew": {"vi": "Hệ thống đang mất kết nối, chưa thể gia hạn",
                      "en": "The system is offline; renewing is not possible now"},
    "item_not_on_pad": {"vi": "Hãy đặt tài liệu lên khay", "en": "Place the item on the pad"},
    "renew_sent": {"vi": "Đã gửi yêu cầu gia hạn tới hệ thống thư viện; hạn trả mới sẽ hiện "
                          "trong tài khoản khi hệ thống trả lời",
                   "en": "The renewal was sent to the library system; your account shows the "
                         "new due date when the system answers"},
    "return_sent": {"vi": "Đã gửi yêu cầu trả tới hệ thống thư viện; tài liệu sẽ được ghi trả "
                           "khi hệ thống trả lời",
                    "en": "The return was sent to the library system; it is completed when "
                          "the system answers"},
    "no_email_address": {"vi": "Thư viện chưa có địa chỉ e-mail của bạn; hãy nhập địa chỉ e-mail",
                         "en": "The library has no e-mail address for you; please enter one"},
    "mail_unavailable": {"vi": "Chưa gửi được e-mail, vui lòng thử lại sau hoặc in biên nhận",
                         "en": "The e-mail could not be sent; please try again later or print the receipt"},
    "payments_disabled": {"vi": "Kiosk này chưa nhận thanh toán phí phạt, vui lòng liên hệ thủ thư",
                          "en": "Fines cannot be paid at this kiosk; please see the staff"},
    "nothing_to_pay": {"vi": "Không có khoản phí nào để thanh toán",
                       "en": "There is nothing to pay"},
    "fines_offline": {"vi": "Hệ thống đang mất kết nối, chưa thể kiểm tra phí phạt",
                      "en": "The system is offline; fines cannot be checked now"},
    "payment_not_confirmed": {"vi": "Khoản thanh toán chưa được xác nhận nên chưa có biên nhận",
                              "en": "The payment is not confirmed yet, so there is no receipt"},
    "receipt_font_missing": {"vi": "Chưa tạo được biên nhận, vui lòng liên hệ thủ thư",
                             "en": "The receipt could not be made; please see the staff"},
    "invalid_vietqr": {"vi": "Mã thanh toán VietQR không hợp lệ", "en": "The VietQR payment code is not valid"},
    "bad_scan": {"vi": "Không đọc được mã vừa quét, vui lòng quét lại thẻ hoặc nhập số thẻ và mã PIN",
                 "en": "The scan could not be read. Please scan your card again, or type your number and PIN."},
}
"""Patron texts per code, ``{"vi": ..., "en": ...}``."""
