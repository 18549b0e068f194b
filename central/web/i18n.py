"""Every visible string of the central console, in Vietnamese and English.

Pages and the browser script take their texts from :data:`TEXTS` only; a key missing in
either language is a test failure (tests/central/test_i18n.py). Vietnamese is the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from central.web.ops_texts import OPS_TEXTS

if TYPE_CHECKING:
    from central.store import AlarmRecord

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

TEXTS: dict[str, tuple[str, str]] = {
    # (vi, en)
    "app.title": ("Trung tâm điều hành thư viện", "Library network console"),
    "nav.network": ("Mạng lưới", "Network"),
    "nav.fleet": ("Thiết bị", "Fleet"),
    "nav.alarms": ("Cảnh báo", "Alarms"),
    "nav.staff": ("Tài khoản", "Staff"),
    "nav.audit": ("Nhật ký", "Audit log"),
    "nav.logout": ("Đăng xuất", "Log out"),
    "nav.language": ("Ngôn ngữ", "Language"),
    "login.title": ("Đăng nhập", "Log in"),
    "login.username": ("Tên đăng nhập", "User name"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Log in"),
    "login.refused": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password."),
    "login.locked": ("Tài khoản tạm khóa do nhập sai nhiều lần. Vui lòng thử lại sau.",
                     "This account is locked after repeated failures. Try again later."),
    "login.disabled": ("Tài khoản đã bị vô hiệu hóa.", "This account is disabled."),
    "login.expired": ("Phiên làm việc đã hết hạn, vui lòng tải lại trang.",
                      "The form has expired; reload the page."),
    "user.role": ("Vai trò", "Role"),
    "role.viewer": ("Người xem", "Viewer"),
    "role.librarian": ("Thủ thư", "Librarian"),
    "role.admin": ("Quản trị", "Administrator"),
    "network.title": ("Mạng lưới thư viện", "Library network"),
    "network.empty": ("Chưa có thư viện nào gửi dữ liệu.", "No library has reported yet."),
    # statistics (central/web/stats.py)
    "nav.stats": ("Thống kê", "Statistics"),
    "stats.network_title": ("Thống kê mạng lưới", "Network statistics"),
    "stats.site_title": ("Thống kê", "Statistics"),
    "stats.last_days": ("30 ngày gần nhất", "The last 30 days"),
    "stats.by_day": ("Theo ngày", "By day"),
    "stats.month": ("Tháng", "Month"),
    "stats.show": ("Xem", "Show"),
    "stats.export": ("Xuất báo cáo", "Export"),
    "stats.date": ("Ngày", "Date"),
    "stats.total": ("Tổng cộng", "Total"),
    "stats.chart.circulation": ("Mượn, trả, gia hạn", "Loans, returns, renewals"),
    "stats.chart.visitors": ("Lượt vào, ra", "Visitors in and out"),
    "stats.chart.exceptions": ("Ngoại tuyến, xung đột, cảnh báo",
                               "Offline, conflicts, alarms"),
    "stats.loans": ("Lượt mượn", "Loans"),
    "stats.returns": ("Lượt trả", "Returns"),
    "stats.renewals": ("Lượt gia hạn", "Renewals"),
    "stats.offline_transactions": ("Giao dịch ngoại tuyến", "Offline transactions"),
    "stats.conflicts": ("Xung đột", "Conflicts"),
    "stats.visitors_in": ("Lượt vào", "Visitors in"),
    "stats.visitors_out": ("Lượt ra", "Visitors out"),
    "stats.gate_alarms": ("Cảnh báo cổng", "Gate alarms"),
    "stats.other_alarms": ("Cảnh báo khác", "Other alarms"),
    "site.site": ("Thư viện", "Library"),
    "site.name": ("Tên thư viện", "Library name"),
    "site.rename": ("Lưu tên", "Save the name"),
    "site.devices": ("Thiết bị", "Devices"),
    "site.online": ("Trực tuyến", "Online"),
    "site.offline": ("Ngoại tuyến", "Offline"),
    "site.backlog": ("Tồn đọng", "Backlog"),
    "site.open_alarms": ("Cảnh báo mở", "Open alarms"),
    "site.last_seen": ("Lần cuối", "Last seen"),
    "device.device": ("Thiết bị", "Device"),
    "device.role": ("Loại", "Role"),
    "device.state": ("Trạng thái", "State"),
    "device.since": ("Từ lúc", "Since"),
    "device.last_seen": ("Lần cuối trực tuyến", "Last seen"),
    "device.backlog": ("Giao dịch tồn", "Backlog"),
    "device.reader": ("Đầu đọc", "Reader"),
    "device.reader_failures": ("Lỗi đầu đọc (24 giờ)", "Reader failures (24 h)"),
    "device.printer": ("Máy in", "Printer"),
    "device.software": ("Phần mềm", "Software"),
    "device.config": ("Cấu hình", "Configuration"),
    "device.restarts": ("Số lần khởi động lại", "Restarts"),
    "device.reconnects": ("Số lần kết nối lại", "Reconnects"),
    "device.starts": ("lần khởi động", "starts"),
    "device.events": ("Sự kiện gần đây", "Recent events"),
    "device.no_events": ("Chưa có sự kiện.", "No events yet."),
    "device.source": ("Nguồn", "Source"),
    "device.event": ("Sự kiện", "Event"),
    "event.reader_online": ("Đầu đọc trực tuyến", "Reader online"),
    "event.reader_offline": ("Đầu đọc mất kết nối", "Reader offline"),
    "event.config_applied": ("Đã áp dụng cấu hình", "Configuration applied"),
    "event.config_failed": ("Cấu hình bị từ chối", "Configuration refused"),
    "event.pin_lockout": ("Khóa PIN sau nhiều lần nhập sai", "PIN locked after wrong tries"),
    "event.release_cancelled": ("Hủy mở khóa từ (khoản mượn đã kết thúc)",
                                "Release cancelled (the loan had ended)"),
    "event.secure_cancelled": ("Hủy khóa từ (tài liệu lại được mượn)",
                               "Securing cancelled (the item is on loan again)"),
    "event.payment_intent": ("Yêu cầu thanh toán phí phạt", "Fine payment requested"),
    "event.dead_letter": ("Thư hỏng", "Dead letter"),
    "state.online": ("Trực tuyến", "Online"),
    "state.offline": ("Ngoại tuyến", "Offline"),
    "state.silent": ("Mất tín hiệu", "Silent"),
    "printer.ok": ("Sẵn sàng", "Ready"),
    "printer.paper_low": ("Sắp hết giấy", "Paper low"),
    "printer.paper_out": ("Hết giấy", "Out of paper"),
    "printer.cover_open": ("Nắp đang mở", "Cover open"),
    "printer.error": ("Lỗi", "Error"),
    "printer.offline": ("Ngừng (offline)", "Offline"),
    "printer.reachable": ("Kết nối được, không rõ trạng thái", "Reachable, no status"),
    "printer.unreachable": ("Không kết nối được", "Unreachable"),
    "printer.none": ("Không có máy in", "No printer"),
    "role.kiosk": ("Máy mượn trả", "Kiosk"),
    "role.gate": ("Cổng an ninh", "Security gate"),
    "role.gateway": ("Máy chủ kết nối", "Gateway"),
    "role.staff": ("Bàn thủ thư", "Staff desk"),
    "unknown": ("—", "—"),
    "fleet.title": ("Đội thiết bị", "Fleet"),
    "fleet.filter": ("Lọc", "Filter"),
    "fleet.offline_minutes": ("Ngoại tuyến quá (phút)", "Offline for more than (minutes)"),
    "fleet.backlog_above": ("Tồn đọng trên", "Backlog above"),
    "fleet.all_sites": ("Tất cả thư viện", "All libraries"),
    "fleet.empty": ("Không có thiết bị nào khớp.", "No device matches."),
    "fleet.count": ("thiết bị", "devices"),
    "alarms.title": ("Cảnh báo toàn mạng lưới", "Alarms across all sites"),
    "alarms.live": ("Trực tiếp", "Live"),
    "alarms.history": ("Lịch sử", "History"),
    "alarms.time": ("Thời gian", "Time"),
    "alarms.kind": ("Loại", "Kind"),
    "alarms.item": ("Tài liệu", "Item"),
    "alarms.message": ("Chi tiết", "Details"),
    "alarms.state": ("Trạng thái", "State"),
    "alarms.open": ("Chưa xử lý", "Open"),
    "alarms.acked": ("Đã xác nhận", "Acknowledged"),
    "alarms.acked_by": ("bởi", "by"),
    "alarms.ack": ("Xác nhận", "Acknowledge"),
    "alarms.any": ("Tất cả", "Any"),
    "alarms.since": ("Từ ngày", "From"),
    "alarms.until": ("Đến ngày", "To"),
    "alarms.empty": ("Không có cảnh báo.", "No alarms."),
    "alarms.connected": ("Đang nhận trực tiếp", "Receiving live"),
    "alarms.disconnected": ("Mất kết nối, đang thử lại…", "Disconnected, retrying…"),
    "alarms.ack_failed": ("Không xác nhận được cảnh báo.", "The alarm could not be acknowledged."),
    "kind.gate": ("Cổng báo động", "Gate alarm"),
    "kind.loaned_alarm_on": ("Đã mượn nhưng còn khóa từ", "Loaned, alarm still on"),
    "kind.not_secured": ("Trả nhưng chưa khóa từ", "Returned, not secured"),
    "staff.title": ("Tài khoản nhân viên", "Staff accounts"),
    "staff.create": ("Tạo tài khoản", "Create account"),
    "staff.display_name": ("Họ tên", "Name"),
    "staff.last_login": ("Đăng nhập lần cuối", "Last login"),
    "staff.locked_until": ("Khóa đến", "Locked until"),
    "staff.created": ("Đã tạo tài khoản.", "Account created."),
    "audit.title": ("Nhật ký thao tác", "Audit log"),
    "payments.title": ("Thanh toán phí phạt", "Fine payments"),
    "payments.received": ("Nhận lúc", "Received"),
    "payments.reference": ("Mã tham chiếu", "Reference"),
    "payments.bank_txn": ("Mã giao dịch ngân hàng", "Bank transaction"),
    "payments.amount": ("Số tiền (VND)", "Amount (VND)"),
    "payments.outcome": ("Kết quả", "Outcome"),
    "payments.applied": ("Đã ghi vào ILS (VND)", "Sent to the ILS (VND)"),
    "payments.detail": ("Chi tiết", "Detail"),
    "payments.duplicates": ("Thông báo trùng", "Duplicate notices"),
    "payments.kiosk": ("Kiosk", "Kiosk"),
    "payments.owed": ("Cần thu (VND)", "Owed (VND)"),
    "payments.attention": ("Cần nhân viên xử lý", "Needs staff"),
    "payments.all": ("Tất cả", "All"),
    "payments.none": ("Chưa có thanh toán nào.", "No payments yet."),
    "payments.outcome.paid": ("Đã thanh toán đủ", "Paid in full"),
    "payments.outcome.partial": ("Thanh toán một phần", "Partial payment"),
    "payments.outcome.overpaid": ("Trả thừa (cần hoàn tiền)", "Overpaid (refund due)"),
    "payments.outcome.late": ("Trả sau khi mã hết hạn", "Late (after the QR expired)"),
    "payments.outcome.duplicate": ("Thông báo trùng", "Duplicate notice"),
    "payments.outcome.unmatched": ("Không khớp mã tham chiếu", "Unmatched reference"),
    "audit.actor": ("Người thực hiện", "Who"),
    "audit.action": ("Thao tác", "Action"),
    "audit.target": ("Đối tượng", "Target"),
    "audit.diff": ("Thay đổi", "Changes"),
    "audit_action.login": ("Đăng nhập", "Logged in"),
    "audit_action.logout": ("Đăng xuất", "Logged out"),
    "audit_action.login.failed": ("Đăng nhập sai", "Failed login"),
    "audit_action.login.locked": ("Khóa tài khoản (đăng nhập sai nhiều lần)",
                                  "Account locked (failed logins)"),
    "audit_action.staff.create": ("Tạo tài khoản", "Account created"),
    "audit_action.alarm.ack": ("Xác nhận cảnh báo", "Alarm acknowledged"),
    "audit_action.conflict.resolve": ("Xử lý xung đột", "Conflict resolved"),
    "audit_action.site.rename": ("Đổi tên thư viện", "Library renamed"),
    "audit_action.security_task.retry": ("Thử lại ghi an ninh", "Security task retried"),
    "audit_action.security_task.abandon": ("Bỏ ghi an ninh", "Security task abandoned"),
    "audit_action.command.cancel": ("Hủy lệnh", "Command cancelled"),
    "audit_action.config.change": ("Thay đổi cấu hình", "Configuration changed"),
    "audit_action.enrol_code": ("Cấp mã đăng ký", "Enrolment code issued"),
    "audit_action.enrolled": ("Thiết bị đã đăng ký", "Device enrolled"),
    "audit_action.enrol_refused": ("Từ chối đăng ký", "Enrolment refused"),
    "audit_action.device_revoked": ("Thu hồi thiết bị", "Device revoked"),
    "nav.enrol": ("Đăng ký thiết bị", "Enrolment"),
    "enrol.title": ("Đăng ký thiết bị mới", "Enrol a new box"),
    "enrol.new": ("Cấp mã đăng ký dùng một lần", "Issue a one-time enrolment code"),
    "enrol.site": ("Mã thư viện", "Site"),
    "enrol.device": ("Mã thiết bị", "Device id"),
    "enrol.minutes": ("Hiệu lực (phút)", "Valid for (minutes)"),
    "enrol.issue": ("Cấp mã", "Issue the code"),
    "enrol.code": ("Mã đăng ký", "Enrolment code"),
    "enrol.shown_once": ("Mã chỉ hiển thị một lần: hãy ghi lại ngay.",
                         "This code is shown once: note it now."),
    "enrol.expires": ("hết hạn lúc", "expires at"),
    "enrol.prompt_hint": ("(nhập mã khi được hỏi, hoặc chuyển vào qua stdin; đừng ghi mã "
                          "trên dòng lệnh: mọi người dùng đều thấy nó trong ps)",
                          "(type the code when asked, or pipe it in; never on the command "
                          "line, where every user sees it in ps)"),
    "enrol.fingerprint": ("Dấu vân tay CA (SHA-256)", "CA fingerprint (SHA-256)"),
    "enrol.revoke": ("Thu hồi thiết bị", "Revoke a device"),
    "enrol.revoked": ("Thiết bị đã thu hồi", "Revoked devices"),
    "enrol.revoked_at": ("Thu hồi lúc", "Revoked at"),
    "enrol.revoked_done": ("Đã thu hồi (số chứng chỉ):", "Revoked (certificates):"),
    "enrol.role.kiosk": ("Máy mượn trả", "Kiosk"),
    "enrol.role.gate": ("Cổng an ninh", "Security gate"),
    "nav.config": ("Cấu hình", "Configuration"),
    "config.title": ("Cấu hình từ xa", "Remote configuration"),
    "config.site_document": ("Cấu hình chung của thư viện", "The library's configuration"),
    "config.device_document": ("Cấu hình riêng của thiết bị", "This device's own configuration"),
    "config.effective": ("Cấu hình áp dụng (thư viện + thiết bị)",
                         "Configuration in force (library + device)"),
    "config.version": ("Phiên bản", "Version"),
    "config.state": ("Trạng thái", "State"),
    "config.needs_restart": ("Cần khởi động lại", "Needs a restart"),
    "config.reason": ("Lý do", "Reason"),
    "config.pushed": ("Gửi lúc", "Pushed"),
    "config.acked": ("Thiết bị trả lời", "Device answered"),
    "config.save": ("Lưu và gửi", "Save and push"),
    "config.saved": ("Đã lưu và gửi cấu hình.", "Configuration saved and pushed."),
    "config.refused": ("Cấu hình bị từ chối:", "Configuration refused:"),
    "config.conflict": ("Cấu hình vừa được người khác thay đổi; hãy tải lại trang.",
                        "Someone else changed this configuration; reload the page."),
    "config.help": ("Chỉ các mục [policy], [gate], [kiosk], [printer], [security], [sync] "
                    "được phép thay đổi từ xa.",
                    "Only [policy], [gate], [kiosk], [printer], [security] and [sync] may be "
                    "changed remotely."),
    "config.none": ("Chưa có cấu hình từ xa.", "No remote configuration yet."),
    "config.edit": ("Sửa cấu hình của thư viện hoặc thiết bị",
                    "Edit a library's or a device's configuration"),
    "config.open": ("Cấu hình", "Configuration"),
    "config_state.pending": ("Đang chờ", "Pending"),
    "config_state.applied": ("Đã áp dụng", "Applied"),
    "config_state.failed": ("Thất bại", "Failed"),
    "error.forbidden": ("Vai trò của bạn không được phép làm việc này.",
                        "Your role may not do this."),
    "error.not_found": ("Không tìm thấy.", "Not found."),
    "error.csrf": ("Yêu cầu không hợp lệ (CSRF). Vui lòng tải lại trang.",
                   "Invalid request (CSRF). Reload the page."),
    "error.bad_request": ("Dữ liệu không hợp lệ.", "Invalid input."),
}

TEXTS.update(OPS_TEXTS)

BROWSER_KEYS = ("alarms.open", "alarms.acked", "alarms.acked_by", "alarms.ack",
                "alarms.connected", "alarms.disconnected", "alarms.ack_failed",
                "kind.gate", "kind.loaned_alarm_on", "kind.not_secured", "unknown")
"""The texts the browser script needs (sent to the page as JSON)."""


def text(key: str, lang: str) -> str:
    """The text of ``key`` in ``lang`` (Vietnamese when ``lang`` is unknown).

    Raises:
        KeyError: an unknown key (a bug: every visible string is in :data:`TEXTS`).
    """
    vi, en = TEXTS[key]
    return en if lang == "en" else vi


def optional_text(key: str, lang: str, fallback: str) -> str:
    """The text of ``key`` if there is one (e.g. ``kind.<alarm kind>``), else ``fallback``."""
    return text(key, lang) if key in TEXTS else fallback


def event_text(kind: str, lang: str) -> str:
    """A device event's name in ``lang``: ``printer_<state>`` as "Printer: <state>", a
    known kind by its text, an unknown one by its code."""
    if f"event.{kind}" in TEXTS:
        return text(f"event.{kind}", lang)
    state = kind.removeprefix("printer_")
    if state != kind and f"printer.{state}" in TEXTS:
        return f"{text('device.printer', lang)}: {text(f'printer.{state}', lang)}"
    return kind


def alarm_details(alarm: AlarmRecord, lang: str) -> str:
    """What an alarm's details column says: the gate's reason in ``lang`` when the edge sent
    its texts (``detail.reason_texts``), else the edge's own message."""
    texts = alarm.detail.get("reason_texts")
    if isinstance(texts, dict) and isinstance(texts.get(lang), str):
        return str(texts[lang])
    return alarm.message or ""


def browser_texts(lang: str) -> dict[str, str]:
    return {k: text(k, lang) for k in BROWSER_KEYS}
