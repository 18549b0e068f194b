<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="vi_VN">
<context>
    <name>Account</name>
    <message>
        <source>My account</source>
        <translation>Tài khoản của tôi</translation>
    </message>
    <message>
        <source>Loans ({n})</source>
        <translation>Đang mượn ({n})</translation>
    </message>
    <message>
        <source>{n} overdue</source>
        <translation>{n} quá hạn</translation>
    </message>
    <message>
        <source>Holds ({n} ready)</source>
        <translation>Đặt trước ({n} sẵn sàng)</translation>
    </message>
    <message>
        <source>Fines</source>
        <translation>Tiền phạt</translation>
    </message>
    <message>
        <source>Total to pay: {amount}</source>
        <translation>Tổng cần thanh toán: {amount}</translation>
    </message>
    <message>
        <source>Nothing to pay</source>
        <translation>Không có khoản phạt nào</translation>
    </message>
    <message>
        <source>Fines cannot be checked right now</source>
        <translation>Hiện không kiểm tra được tiền phạt</translation>
    </message>
    <message>
        <source>Pay fines</source>
        <translation>Thanh toán phí phạt</translation>
    </message>
</context>
<context>
    <name>Admin</name>
    <message>
        <source>Too many wrong codes. Try again in {s} s.</source>
        <translation>Nhập sai quá nhiều lần. Thử lại sau {s} giây.</translation>
    </message>
    <message>
        <source>Wrong code</source>
        <translation>Sai mã</translation>
    </message>
    <message>
        <source>Staff: enter the exit code</source>
        <translation>Nhân viên: nhập mã thoát</translation>
    </message>
</context>
<context>
    <name>Attract</name>
    <message>
        <source>Welcome to {library}</source>
        <translation>Chào mừng bạn đến {library}</translation>
    </message>
    <message>
        <source>Opening hours: {hours}</source>
        <translation>Giờ mở cửa: {hours}</translation>
    </message>
    <message>
        <source>Tap your library card</source>
        <translation>Chạm thẻ thư viện</translation>
    </message>
    <message>
        <source>Put your books on the pad</source>
        <translation>Đặt sách lên bàn đọc</translation>
    </message>
    <message>
        <source>Take your receipt</source>
        <translation>Nhận biên lai</translation>
    </message>
    <message>
        <source>Larger text</source>
        <translation>Chữ to hơn</translation>
    </message>
    <message>
        <source>High contrast</source>
        <translation>Tương phản cao</translation>
    </message>
    <message>
        <source>Start — tap your card or touch here</source>
        <translation>Bắt đầu — chạm thẻ hoặc nhấn vào đây</translation>
    </message>
    <message>
        <source>Return books</source>
        <translation>Trả sách</translation>
    </message>
    <message>
        <source>Your session has ended. Thank you!</source>
        <translation>Phiên của bạn đã kết thúc. Xin cảm ơn!</translation>
    </message>
</context>
<context>
    <name>Columns</name>
    <message>
        <source>Title</source>
        <translation>Nhan đề</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Trạng thái</translation>
    </message>
    <message>
        <source>Due</source>
        <translation>Hạn trả</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>Kết quả</translation>
    </message>
    <message>
        <source>Pickup</source>
        <translation>Nơi nhận</translation>
    </message>
    <message>
        <source>Description</source>
        <translation>Nội dung</translation>
    </message>
    <message>
        <source>Amount</source>
        <translation>Số tiền</translation>
    </message>
</context>
<context>
    <name>Common</name>
    <message>
        <source>Back</source>
        <translation>Quay lại</translation>
    </message>
    <message>
        <source>Finish</source>
        <translation>Kết thúc</translation>
    </message>
    <message>
        <source>Back to menu</source>
        <translation>Về menu</translation>
    </message>
</context>
<context>
    <name>EdgeError</name>
    <message>
        <source>The e-mail could not be sent; please try again later or print the receipt.</source>
        <translation>Chưa gửi được e-mail; vui lòng thử lại sau hoặc in biên nhận.</translation>
    </message>
    <message>
        <source>The library has no e-mail address for you; please see the staff.</source>
        <translation>Thư viện chưa có địa chỉ e-mail của bạn; vui lòng liên hệ thủ thư.</translation>
    </message>
    <message>
        <source>The payment is not confirmed yet, so there is no receipt.</source>
        <translation>Khoản thanh toán chưa được xác nhận nên chưa có biên nhận.</translation>
    </message>
    <message>
        <source>Your fines are over the limit: pay them here before you borrow or renew.</source>
        <translation>Bạn đang nợ phí phạt vượt mức cho phép: hãy thanh toán tại đây trước khi mượn hoặc gia hạn.</translation>
    </message>
    <message>
        <source>We do not know this card. Please ask the staff.</source>
        <translation>Không nhận ra thẻ này. Vui lòng hỏi thủ thư.</translation>
    </message>
    <message>
        <source>The PIN is wrong. Please try again.</source>
        <translation>Mã PIN không đúng. Vui lòng thử lại.</translation>
    </message>
    <message>
        <source>Please enter your PIN.</source>
        <translation>Vui lòng nhập mã PIN.</translation>
    </message>
    <message>
        <source>Your account is blocked. Please see the staff.</source>
        <translation>Tài khoản của bạn đang bị khóa. Vui lòng gặp thủ thư.</translation>
    </message>
    <message>
        <source>Your card has expired. Please see the staff to renew it.</source>
        <translation>Thẻ của bạn đã hết hạn. Vui lòng gặp thủ thư để gia hạn thẻ.</translation>
    </message>
    <message>
        <source>Your session has ended. Please log in again.</source>
        <translation>Phiên đã kết thúc. Vui lòng đăng nhập lại.</translation>
    </message>
    <message>
        <source>Login is not possible while the library network is offline.</source>
        <translation>Không thể đăng nhập khi mạng thư viện đang mất kết nối.</translation>
    </message>
    <message>
        <source>Your PIN cannot be checked right now. Please see the staff.</source>
        <translation>Hiện chưa thể kiểm tra mã PIN. Vui lòng liên hệ thủ thư.</translation>
    </message>
    <message>
        <source>This item is not known. Please give it to the staff.</source>
        <translation>Không nhận ra tài liệu này. Vui lòng đưa cho thủ thư.</translation>
    </message>
    <message>
        <source>This item is not on the pad. Place it on the pad.</source>
        <translation>Tài liệu này không có trên khay. Hãy đặt tài liệu lên khay.</translation>
    </message>
    <message>
        <source>The kiosk could not save this. Please try again or see the staff.</source>
        <translation>Máy không lưu được thao tác này. Vui lòng thử lại hoặc liên hệ thủ thư.</translation>
    </message>
    <message>
        <source>Part of this set is missing: put all parts on the pad.</source>
        <translation>Bộ tài liệu còn thiếu: hãy đặt đủ các phần lên bàn đọc.</translation>
    </message>
    <message>
        <source>This item is on hold for another patron.</source>
        <translation>Tài liệu này đã được bạn đọc khác đặt trước.</translation>
    </message>
    <message>
        <source>You have reached your loan limit.</source>
        <translation>Bạn đã mượn đủ số tài liệu tối đa.</translation>
    </message>
    <message>
        <source>This item cannot be borrowed.</source>
        <translation>Tài liệu này không cho mượn về nhà.</translation>
    </message>
    <message>
        <source>The offline limit is reached: no more items until the network is back.</source>
        <translation>Đã đạt giới hạn khi mất mạng: không mượn thêm được cho đến khi có mạng lại.</translation>
    </message>
    <message>
        <source>The library system refused this item.</source>
        <translation>Hệ thống thư viện từ chối tài liệu này.</translation>
    </message>
    <message>
        <source>Borrowed, but the alarm is still on: please see the staff.</source>
        <translation>Đã mượn, nhưng chống trộm vẫn bật: vui lòng gặp thủ thư.</translation>
    </message>
    <message>
        <source>This item is not on loan.</source>
        <translation>Tài liệu này không ở trạng thái đang mượn.</translation>
    </message>
    <message>
        <source>This item cannot be renewed.</source>
        <translation>Không thể gia hạn tài liệu này.</translation>
    </message>
    <message>
        <source>The device is not available right now.</source>
        <translation>Thiết bị hiện không sẵn sàng.</translation>
    </message>
    <message>
        <source>Something was entered wrongly. Please try again.</source>
        <translation>Thông tin nhập chưa đúng. Vui lòng thử lại.</translation>
    </message>
    <message>
        <source>This kiosk is not authorised. Please call the staff.</source>
        <translation>Máy này chưa được cấp quyền. Vui lòng gọi thủ thư.</translation>
    </message>
    <message>
        <source>This is not allowed here.</source>
        <translation>Thao tác này không được phép tại đây.</translation>
    </message>
    <message>
        <source>Not found.</source>
        <translation>Không tìm thấy.</translation>
    </message>
    <message>
        <source>The kiosk cannot reach its service. Please try again shortly.</source>
        <translation>Máy không kết nối được dịch vụ. Vui lòng thử lại sau ít phút.</translation>
    </message>
    <message>
        <source>Select at least one item first.</source>
        <translation>Hãy chọn ít nhất một tài liệu.</translation>
    </message>
    <message>
        <source>Please log in first to return items here.</source>
        <translation>Vui lòng đăng nhập trước khi trả sách tại đây.</translation>
    </message>
    <message>
        <source>Too many wrong PINs: this card is locked for a while. Please try again later or see the staff.</source>
        <translation>Nhập sai mã PIN quá nhiều lần: thẻ tạm bị khóa. Vui lòng thử lại sau hoặc liên hệ thủ thư.</translation>
    </message>
    <message>
        <source>Too many requests. Please wait a moment and try again.</source>
        <translation>Quá nhiều yêu cầu. Vui lòng chờ một lát rồi thử lại.</translation>
    </message>
    <message>
        <source>The request is too large. Please try again or see the staff.</source>
        <translation>Yêu cầu quá lớn. Vui lòng thử lại hoặc liên hệ thủ thư.</translation>
    </message>
    <message>
        <source>The scan could not be read. Please scan your card again, or type your number and PIN.</source>
        <translation>Không đọc được mã vạch. Vui lòng quét lại thẻ, hoặc nhập số thẻ và mã PIN.</translation>
    </message>
    <message>
        <source>Something went wrong. Please try again or see the staff.</source>
        <translation>Đã có lỗi xảy ra. Vui lòng thử lại hoặc gặp thủ thư.</translation>
    </message>
</context>
<context>
    <name>Header</name>
    <message>
        <source>Hello, {name}</source>
        <translation>Xin chào, {name}</translation>
    </message>
    <message>
        <source>{s} s left</source>
        <translation>Còn {s} giây</translation>
    </message>
    <message>
        <source>Change language</source>
        <translation>Đổi ngôn ngữ</translation>
    </message>
    <message>
        <source>The library network is offline. You can still borrow and return; it will be registered when the network is back.</source>
        <translation>Mạng thư viện đang mất kết nối. Bạn vẫn có thể mượn và trả; giao dịch sẽ được ghi nhận khi có mạng lại.</translation>
    </message>
    <message>
        <source>Limit now: {n} items, worth up to {value} in all, per visit.</source>
        <translation>Giới hạn hiện tại: {n} tài liệu, tổng giá trị tối đa {value}, mỗi lượt.</translation>
    </message>
    <message>
        <source>Limit now: {n} items per visit.</source>
        <translation>Giới hạn hiện tại: {n} tài liệu mỗi lượt.</translation>
    </message>
    <message>
        <source>New logins are not possible until the network is back.</source>
        <translation>Chưa thể đăng nhập mới cho đến khi có mạng trở lại.</translation>
    </message>
    <message>
        <source>Log in with your card, or with your number and PIN if you have used this kiosk before.</source>
        <translation>Đăng nhập bằng thẻ, hoặc bằng số thẻ và mã PIN nếu bạn đã từng dùng máy này.</translation>
    </message>
    <message>
        <source>Log in with your library card only.</source>
        <translation>Chỉ đăng nhập được bằng thẻ thư viện.</translation>
    </message>
    <message>
        <source>Are you still there? Your session ends in {s} seconds.</source>
        <translation>Bạn vẫn đang dùng máy chứ? Phiên sẽ kết thúc sau {s} giây.</translation>
    </message>
    <message>
        <source>Continue</source>
        <translation>Tiếp tục</translation>
    </message>
</context>
<context>
    <name>Login</name>
    <message>
        <source>Log in</source>
        <translation>Đăng nhập</translation>
    </message>
    <message>
        <source>The card reader is not working right now: type your card number and PIN</source>
        <translation>Đầu đọc thẻ đang không hoạt động: hãy nhập số thẻ và mã PIN</translation>
    </message>
    <message>
        <source>Tap your card on the reader below the screen</source>
        <translation>Chạm thẻ vào đầu đọc bên dưới màn hình</translation>
    </message>
    <message>
        <source>Or scan the barcode on your card</source>
        <translation>Hoặc quét mã vạch trên thẻ</translation>
    </message>
    <message>
        <source>Card number</source>
        <translation>Số thẻ</translation>
    </message>
    <message>
        <source>PIN</source>
        <translation>Mã PIN</translation>
    </message>
    <message>
        <source>OK</source>
        <translation>OK</translation>
    </message>
</context>
<context>
    <name>Menu</name>
    <message>
        <source>Hello, {name}</source>
        <translation>Xin chào, {name}</translation>
    </message>
    <message>
        <source>What would you like to do?</source>
        <translation>Bạn muốn làm gì?</translation>
    </message>
    <message>
        <source>Borrow</source>
        <translation>Mượn sách</translation>
    </message>
    <message>
        <source>Return</source>
        <translation>Trả sách</translation>
    </message>
    <message>
        <source>Renew</source>
        <translation>Gia hạn</translation>
    </message>
    <message>
        <source>My account</source>
        <translation>Tài khoản của tôi</translation>
    </message>
</context>
<context>
    <name>Pad</name>
    <message>
        <source>Borrow</source>
        <translation>Mượn sách</translation>
    </message>
    <message>
        <source>Return</source>
        <translation>Trả sách</translation>
    </message>
    <message>
        <source>Place your items on the pad</source>
        <translation>Đặt tài liệu lên bàn đọc</translation>
    </message>
    <message>
        <source>Place the items to return on the pad</source>
        <translation>Đặt tài liệu cần trả lên bàn đọc</translation>
    </message>
    <message>
        <source>Borrowed: {n}</source>
        <translation>Đã mượn: {n}</translation>
    </message>
    <message>
        <source>Returned: {n}</source>
        <translation>Đã trả: {n}</translation>
    </message>
    <message>
        <source>Not done: {n}</source>
        <translation>Chưa xong: {n}</translation>
    </message>
    <message>
        <source>Done! You may take your items. Add more, or touch Finish.</source>
        <translation>Xong! Bạn có thể mang tài liệu đi. Đặt thêm, hoặc nhấn Kết thúc.</translation>
    </message>
    <message>
        <source>Done! Put the items where shown. Add more, or touch Finish.</source>
        <translation>Xong! Hãy để tài liệu vào nơi được chỉ dẫn. Đặt thêm, hoặc nhấn Kết thúc.</translation>
    </message>
    <message>
        <source>Done. Items marked in red or amber stay here: please see the staff.</source>
        <translation>Xong. Tài liệu có dấu đỏ hoặc vàng hãy để lại: vui lòng gặp thủ thư.</translation>
    </message>
</context>
<context>
    <name>Receipt</name>
    <message>
        <source>E-mail receipt</source>
        <translation>Gửi biên nhận qua e-mail</translation>
    </message>
    <message>
        <source>Try the e-mail again</source>
        <translation>Gửi lại e-mail</translation>
    </message>
    <message>
        <source>Sending the receipt to {address}…</source>
        <translation>Đang gửi biên nhận tới {address}…</translation>
    </message>
    <message>
        <source>Receipt sent to {address}</source>
        <translation>Đã gửi biên nhận tới {address}</translation>
    </message>
    <message>
        <source>The receipt was not sent to {address}: {reason}</source>
        <translation>Chưa gửi được biên nhận tới {address}: {reason}</translation>
    </message>
    <message>
        <source>Borrowed</source>
        <translation>Mượn</translation>
    </message>
    <message>
        <source>Returned</source>
        <translation>Trả</translation>
    </message>
    <message>
        <source>Renewed</source>
        <translation>Gia hạn</translation>
    </message>
    <message>
        <source>Card: {card}</source>
        <translation>Thẻ: {card}</translation>
    </message>
    <message>
        <source>due {date}</source>
        <translation>hạn trả {date}</translation>
    </message>
    <message>
        <source>…and {n} more (not in this code)</source>
        <translation>…và {n} mục khác (không có trong mã này)</translation>
    </message>
    <message>
        <source>Your receipt</source>
        <translation>Biên lai của bạn</translation>
    </message>
    <message>
        <source>Print it, scan the QR code with your phone, or skip</source>
        <translation>In biên lai, quét mã QR bằng điện thoại, hoặc bỏ qua</translation>
    </message>
    <message>
        <source>Scan with your phone camera</source>
        <translation>Quét bằng camera điện thoại</translation>
    </message>
    <message>
        <source>The code holds a short form: item numbers instead of titles.</source>
        <translation>Mã chỉ chứa bản rút gọn: số hiệu tài liệu thay cho nhan đề.</translation>
    </message>
    <message>
        <source>The receipt is too long for one code: it holds the first items and says how many are left out.</source>
        <translation>Biên lai quá dài cho một mã: mã chứa các mục đầu tiên và ghi số mục còn lại.</translation>
    </message>
    <message>
        <source>Print</source>
        <translation>In biên lai</translation>
    </message>
    <message>
        <source>Show QR code</source>
        <translation>Hiện mã QR</translation>
    </message>
    <message>
        <source>Done</source>
        <translation>Xong</translation>
    </message>
    <message>
        <source>No receipt</source>
        <translation>Không cần biên lai</translation>
    </message>
</context>
<context>
    <name>Renew</name>
    <message>
        <source>Renew</source>
        <translation>Gia hạn</translation>
    </message>
    <message>
        <source>Touch the items to renew, or renew all</source>
        <translation>Chạm vào tài liệu cần gia hạn, hoặc gia hạn tất cả</translation>
    </message>
    <message>
        <source>You have no loans.</source>
        <translation>Bạn không có tài liệu nào đang mượn.</translation>
    </message>
    <message>
        <source>Renew selected ({n})</source>
        <translation>Gia hạn mục đã chọn ({n})</translation>
    </message>
    <message>
        <source>Renew all</source>
        <translation>Gia hạn tất cả</translation>
    </message>
</context>
<context>
    <name>Status</name>
    <message>
        <source>Overdue since {date}</source>
        <translation>Quá hạn từ {date}</translation>
    </message>
    <message>
        <source>Due {date}</source>
        <translation>Hạn trả {date}</translation>
    </message>
    <message>
        <source>Ready for pickup at {place}</source>
        <translation>Sẵn sàng để nhận tại {place}</translation>
    </message>
    <message>
        <source>until {date}</source>
        <translation>đến {date}</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>Đang chờ</translation>
    </message>
    <message>
        <source>Reserved for another reader: put it on the hold shelf</source>
        <translation>Có người đặt trước: hãy để lên kệ giữ sách</translation>
    </message>
    <message>
        <source>Goes to {place}: put it in the transit box</source>
        <translation>Chuyển đến {place}: hãy để vào thùng luân chuyển</translation>
    </message>
    <message>
        <source>Put it in return bin {bin}</source>
        <translation>Hãy để vào thùng trả sách {bin}</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>Đang kiểm tra…</translation>
    </message>
    <message>
        <source>Borrowed — due {date}</source>
        <translation>Đã mượn — hạn trả {date}</translation>
    </message>
    <message>
        <source>Borrowed (offline) — due {date}</source>
        <translation>Đã mượn (ngoại tuyến) — hạn trả {date}</translation>
    </message>
    <message>
        <source>Borrowed, but the alarm is still on: please see the staff</source>
        <translation>Đã mượn, nhưng chống trộm vẫn bật: vui lòng gặp thủ thư</translation>
    </message>
    <message>
        <source>Incomplete set: put all parts on the pad</source>
        <translation>Bộ chưa đủ: hãy đặt đủ các phần lên bàn đọc</translation>
    </message>
    <message>
        <source>On hold for another patron: please leave it at the desk</source>
        <translation>Đã có người đặt trước: vui lòng để lại tại quầy</translation>
    </message>
    <message>
        <source>Returned</source>
        <translation>Đã trả</translation>
    </message>
    <message>
        <source>Renewed — now due {date}</source>
        <translation>Đã gia hạn — hạn mới {date}</translation>
    </message>
    <message>
        <source>Refused: {reason}</source>
        <translation>Từ chối: {reason}</translation>
    </message>
    <message>
        <source>Fine to pay: {amount}</source>
        <translation>Tiền phạt: {amount}</translation>
    </message>
</context>
<context>
    <name>Fines</name>
    <message>
        <source>Print receipt</source>
        <translation>In biên nhận</translation>
    </message>
    <message>
        <source>Printed</source>
        <translation>Đã in</translation>
    </message>
    <message>
        <source>Received {paid} of {amount}. Scan the new code to pay the remaining {rest} · {m}:{s:02d} left</source>
        <translation>Đã nhận {paid} trên {amount}. Quét mã mới để thanh toán {rest} còn lại · còn {m}:{s:02d}</translation>
    </message>
    <message>
        <source>Pay all {amount}</source>
        <translation>Thanh toán tất cả {amount}</translation>
    </message>
    <message>
        <source>Your fines are over the limit, so borrowing and renewing are paused. Pay them here; then log in again to borrow.</source>
        <translation>Phí phạt của bạn đã vượt mức cho phép nên tạm thời chưa mượn hoặc gia hạn được. Hãy thanh toán tại đây, rồi đăng nhập lại để mượn sách.</translation>
    </message>
    <message>
        <source>Pay fines</source>
        <translation>Thanh toán phí phạt</translation>
    </message>
    <message>
        <source>Choose the fines to pay, then scan the code with your banking app</source>
        <translation>Chọn khoản phạt cần thanh toán, rồi quét mã bằng ứng dụng ngân hàng</translation>
    </message>
    <message>
        <source>Scan the code with your banking app</source>
        <translation>Quét mã bằng ứng dụng ngân hàng của bạn</translation>
    </message>
    <message>
        <source>Pay {amount}</source>
        <translation>Thanh toán {amount}</translation>
    </message>
    <message>
        <source>There is nothing to pay.</source>
        <translation>Không có khoản phạt nào cần thanh toán.</translation>
    </message>
    <message>
        <source>{amount} to {bank} · code {ref} · {m}:{s:02d} left</source>
        <translation>{amount} tới {bank} · mã {ref} · còn {m}:{s:02d}</translation>
    </message>
    <message>
        <source>Paid {amount}, thank you. Your account is up to date.</source>
        <translation>Đã thanh toán {amount}, xin cảm ơn. Tài khoản của bạn đã được cập nhật.</translation>
    </message>
    <message>
        <source>The payment arrived but the library system did not take it; please see the staff.</source>
        <translation>Đã nhận tiền nhưng hệ thống thư viện chưa ghi nhận; vui lòng liên hệ thủ thư.</translation>
    </message>
    <message>
        <source>The code has expired; start again to pay.</source>
        <translation>Mã đã hết hạn; hãy bắt đầu lại để thanh toán.</translation>
    </message>
</context>
</TS>
