<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en_US">
<context>
    <name>Account</name>
    <message>
        <source>My account</source>
        <translation>My account</translation>
    </message>
    <message>
        <source>Loans ({n})</source>
        <translation>Loans ({n})</translation>
    </message>
    <message>
        <source>{n} overdue</source>
        <translation>{n} overdue</translation>
    </message>
    <message>
        <source>Holds ({n} ready)</source>
        <translation>Holds ({n} ready)</translation>
    </message>
    <message>
        <source>Fines</source>
        <translation>Fines</translation>
    </message>
    <message>
        <source>Total to pay: {amount}</source>
        <translation>Total to pay: {amount}</translation>
    </message>
    <message>
        <source>Nothing to pay</source>
        <translation>Nothing to pay</translation>
    </message>
    <message>
        <source>Fines cannot be checked right now</source>
        <translation>Fines cannot be checked right now</translation>
    </message>
</context>
<context>
    <name>Admin</name>
    <message>
        <source>Too many wrong codes. Try again in {s} s.</source>
        <translation>Too many wrong codes. Try again in {s} s.</translation>
    </message>
    <message>
        <source>Wrong code</source>
        <translation>Wrong code</translation>
    </message>
    <message>
        <source>Staff: enter the exit code</source>
        <translation>Staff: enter the exit code</translation>
    </message>
</context>
<context>
    <name>Attract</name>
    <message>
        <source>Welcome to {library}</source>
        <translation>Welcome to {library}</translation>
    </message>
    <message>
        <source>Opening hours: {hours}</source>
        <translation>Opening hours: {hours}</translation>
    </message>
    <message>
        <source>Tap your library card</source>
        <translation>Tap your library card</translation>
    </message>
    <message>
        <source>Put your books on the pad</source>
        <translation>Put your books on the pad</translation>
    </message>
    <message>
        <source>Take your receipt</source>
        <translation>Take your receipt</translation>
    </message>
    <message>
        <source>Larger text</source>
        <translation>Larger text</translation>
    </message>
    <message>
        <source>High contrast</source>
        <translation>High contrast</translation>
    </message>
    <message>
        <source>Start — tap your card or touch here</source>
        <translation>Start — tap your card or touch here</translation>
    </message>
    <message>
        <source>Return books</source>
        <translation>Return books</translation>
    </message>
    <message>
        <source>Your session has ended. Thank you!</source>
        <translation>Your session has ended. Thank you!</translation>
    </message>
</context>
<context>
    <name>Columns</name>
    <message>
        <source>Title</source>
        <translation>Title</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
    <message>
        <source>Due</source>
        <translation>Due</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>Result</translation>
    </message>
    <message>
        <source>Pickup</source>
        <translation>Pickup</translation>
    </message>
    <message>
        <source>Description</source>
        <translation>Description</translation>
    </message>
    <message>
        <source>Amount</source>
        <translation>Amount</translation>
    </message>
</context>
<context>
    <name>Common</name>
    <message>
        <source>Back</source>
        <translation>Back</translation>
    </message>
    <message>
        <source>Finish</source>
        <translation>Finish</translation>
    </message>
    <message>
        <source>Back to menu</source>
        <translation>Back to menu</translation>
    </message>
</context>
<context>
    <name>EdgeError</name>
    <message>
        <source>The e-mail could not be sent; please try again later or print the receipt.</source>
        <translation>The e-mail could not be sent; please try again later or print the receipt.</translation>
    </message>
    <message>
        <source>The library has no e-mail address for you; please see the staff.</source>
        <translation>The library has no e-mail address for you; please see the staff.</translation>
    </message>
    <message>
        <source>The payment is not confirmed yet, so there is no receipt.</source>
        <translation>The payment is not confirmed yet, so there is no receipt.</translation>
    </message>
    <message>
        <source>Your fines are over the limit: pay them here before you borrow or renew.</source>
        <translation>Your fines are over the limit: pay them here before you borrow or renew.</translation>
    </message>
    <message>
        <source>We do not know this card. Please ask the staff.</source>
        <translation>We do not know this card. Please ask the staff.</translation>
    </message>
    <message>
        <source>The PIN is wrong. Please try again.</source>
        <translation>The PIN is wrong. Please try again.</translation>
    </message>
    <message>
        <source>Please enter your PIN.</source>
        <translation>Please enter your PIN.</translation>
    </message>
    <message>
        <source>Your account is blocked. Please see the staff.</source>
        <translation>Your account is blocked. Please see the staff.</translation>
    </message>
    <message>
        <source>Your card has expired. Please see the staff to renew it.</source>
        <translation>Your card has expired. Please see the staff to renew it.</translation>
    </message>
    <message>
        <source>Your session has ended. Please log in again.</source>
        <translation>Your session has ended. Please log in again.</translation>
    </message>
    <message>
        <source>Login is not possible while the library network is offline.</source>
        <translation>Login is not possible while the library network is offline.</translation>
    </message>
    <message>
        <source>Your PIN cannot be checked right now. Please see the staff.</source>
        <translation>Your PIN cannot be checked right now. Please see the staff.</translation>
    </message>
    <message>
        <source>This item is not known. Please give it to the staff.</source>
        <translation>This item is not known. Please give it to the staff.</translation>
    </message>
    <message>
        <source>This item is not on the pad. Place it on the pad.</source>
        <translation>This item is not on the pad. Place it on the pad.</translation>
    </message>
    <message>
        <source>The kiosk could not save this. Please try again or see the staff.</source>
        <translation>The kiosk could not save this. Please try again or see the staff.</translation>
    </message>
    <message>
        <source>Part of this set is missing: put all parts on the pad.</source>
        <translation>Part of this set is missing: put all parts on the pad.</translation>
    </message>
    <message>
        <source>This item is on hold for another patron.</source>
        <translation>This item is on hold for another patron.</translation>
    </message>
    <message>
        <source>You have reached your loan limit.</source>
        <translation>You have reached your loan limit.</translation>
    </message>
    <message>
        <source>This item cannot be borrowed.</source>
        <translation>This item cannot be borrowed.</translation>
    </message>
    <message>
        <source>The offline limit is reached: no more items until the network is back.</source>
        <translation>The offline limit is reached: no more items until the network is back.</translation>
    </message>
    <message>
        <source>The library system refused this item.</source>
        <translation>The library system refused this item.</translation>
    </message>
    <message>
        <source>Borrowed, but the alarm is still on: please see the staff.</source>
        <translation>Borrowed, but the alarm is still on: please see the staff.</translation>
    </message>
    <message>
        <source>This item is not on loan.</source>
        <translation>This item is not on loan.</translation>
    </message>
    <message>
        <source>This item cannot be renewed.</source>
        <translation>This item cannot be renewed.</translation>
    </message>
    <message>
        <source>The device is not available right now.</source>
        <translation>The device is not available right now.</translation>
    </message>
    <message>
        <source>Something was entered wrongly. Please try again.</source>
        <translation>Something was entered wrongly. Please try again.</translation>
    </message>
    <message>
        <source>This kiosk is not authorised. Please call the staff.</source>
        <translation>This kiosk is not authorised. Please call the staff.</translation>
    </message>
    <message>
        <source>This is not allowed here.</source>
        <translation>This is not allowed here.</translation>
    </message>
    <message>
        <source>Not found.</source>
        <translation>Not found.</translation>
    </message>
    <message>
        <source>The kiosk cannot reach its service. Please try again shortly.</source>
        <translation>The kiosk cannot reach its service. Please try again shortly.</translation>
    </message>
    <message>
        <source>Select at least one item first.</source>
        <translation>Select at least one item first.</translation>
    </message>
    <message>
        <source>Please log in first to return items here.</source>
        <translation>Please log in first to return items here.</translation>
    </message>
    <message>
        <source>Too many wrong PINs: this card is locked for a while. Please try again later or see the staff.</source>
        <translation>Too many wrong PINs: this card is locked for a while. Please try again later or see the staff.</translation>
    </message>
    <message>
        <source>Too many requests. Please wait a moment and try again.</source>
        <translation>Too many requests. Please wait a moment and try again.</translation>
    </message>
    <message>
        <source>The request is too large. Please try again or see the staff.</source>
        <translation>The request is too large. Please try again or see the staff.</translation>
    </message>
    <message>
        <source>The scan could not be read. Please scan your card again, or type your number and PIN.</source>
        <translation>The scan could not be read. Please scan your card again, or type your number and PIN.</translation>
    </message>
    <message>
        <source>Something went wrong. Please try again or see the staff.</source>
        <translation>Something went wrong. Please try again or see the staff.</translation>
    </message>
</context>
<context>
    <name>Header</name>
    <message>
        <source>Hello, {name}</source>
        <translation>Hello, {name}</translation>
    </message>
    <message>
        <source>{s} s left</source>
        <translation>{s} s left</translation>
    </message>
    <message>
        <source>Change language</source>
        <translation>Change language</translation>
    </message>
    <message>
        <source>The library network is offline. You can still borrow and return; it will be registered when the network is back.</source>
        <translation>The library network is offline. You can still borrow and return; it will be registered when the network is back.</translation>
    </message>
    <message>
        <source>Limit now: {n} items, worth up to {value} in all, per visit.</source>
        <translation>Limit now: {n} items, worth up to {value} in all, per visit.</translation>
    </message>
    <message>
        <source>Limit now: {n} items per visit.</source>
        <translation>Limit now: {n} items per visit.</translation>
    </message>
    <message>
        <source>New logins are not possible until the network is back.</source>
        <translation>New logins are not possible until the network is back.</translation>
    </message>
    <message>
        <source>Log in with your card, or with your number and PIN if you have used this kiosk before.</source>
        <translation>Log in with your card, or with your number and PIN if you have used this kiosk before.</translation>
    </message>
    <message>
        <source>Log in with your library card only.</source>
        <translation>Log in with your library card only.</translation>
    </message>
    <message>
        <source>Are you still there? Your session ends in {s} seconds.</source>
        <translation>Are you still there? Your session ends in {s} seconds.</translation>
    </message>
    <message>
        <source>Continue</source>
        <translation>Continue</translation>
    </message>
</context>
<context>
    <name>Login</name>
    <message>
        <source>Log in</source>
        <translation>Log in</translation>
    </message>
    <message>
        <source>The card reader is not working right now: type your card number and PIN</source>
        <translation>The card reader is not working right now: type your card number and PIN</translation>
    </message>
    <message>
        <source>Tap your card on the reader below the screen</source>
        <translation>Tap your card on the reader below the screen</translation>
    </message>
    <message>
        <source>Or scan the barcode on your card</source>
        <translation>Or scan the barcode on your card</translation>
    </message>
    <message>
        <source>Card number</source>
        <translation>Card number</translation>
    </message>
    <message>
        <source>PIN</source>
        <translation>PIN</translation>
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
        <translation>Hello, {name}</translation>
    </message>
    <message>
        <source>What would you like to do?</source>
        <translation>What would you like to do?</translation>
    </message>
    <message>
        <source>Borrow</source>
        <translation>Borrow</translation>
    </message>
    <message>
        <source>Return</source>
        <translation>Return</translation>
    </message>
    <message>
        <source>Renew</source>
        <translation>Renew</translation>
    </message>
    <message>
        <source>My account</source>
        <translation>My account</translation>
    </message>
</context>
<context>
    <name>Pad</name>
    <message>
        <source>Borrow</source>
        <translation>Borrow</translation>
    </message>
    <message>
        <source>Return</source>
        <translation>Return</translation>
    </message>
    <message>
        <source>Place your items on the pad</source>
        <translation>Place your items on the pad</translation>
    </message>
    <message>
        <source>Place the items to return on the pad</source>
        <translation>Place the items to return on the pad</translation>
    </message>
    <message>
        <source>Borrowed: {n}</source>
        <translation>Borrowed: {n}</translation>
    </message>
    <message>
        <source>Returned: {n}</source>
        <translation>Returned: {n}</translation>
    </message>
    <message>
        <source>Not done: {n}</source>
        <translation>Not done: {n}</translation>
    </message>
    <message>
        <source>Done! You may take your items. Add more, or touch Finish.</source>
        <translation>Done! You may take your items. Add more, or touch Finish.</translation>
    </message>
    <message>
        <source>Done! Put the items where shown. Add more, or touch Finish.</source>
        <translation>Done! Put the items where shown. Add more, or touch Finish.</translation>
    </message>
    <message>
        <source>Done. Items marked in red or amber stay here: please see the staff.</source>
        <translation>Done. Items marked in red or amber stay here: please see the staff.</translation>
    </message>
</context>
<context>
    <name>Receipt</name>
    <message>
        <source>E-mail receipt</source>
        <translation>E-mail receipt</translation>
    </message>
    <message>
        <source>Try the e-mail again</source>
        <translation>Try the e-mail again</translation>
    </message>
    <message>
        <source>Sending the receipt to {address}…</source>
        <translation>Sending the receipt to {address}…</translation>
    </message>
    <message>
        <source>Receipt sent to {address}</source>
        <translation>Receipt sent to {address}</translation>
    </message>
    <message>
        <source>The receipt was not sent to {address}: {reason}</source>
        <translation>The receipt was not sent to {address}: {reason}</translation>
    </message>
    <message>
        <source>Borrowed</source>
        <translation>Borrowed</translation>
    </message>
    <message>
        <source>Returned</source>
        <translation>Returned</translation>
    </message>
    <message>
        <source>Renewed</source>
        <translation>Renewed</translation>
    </message>
    <message>
        <source>Card: {card}</source>
        <translation>Card: {card}</translation>
    </message>
    <message>
        <source>due {date}</source>
        <translation>due {date}</translation>
    </message>
    <message>
        <source>…and {n} more (not in this code)</source>
        <translation>…and {n} more (not in this code)</translation>
    </message>
    <message>
        <source>Your receipt</source>
        <translation>Your receipt</translation>
    </message>
    <message>
        <source>Print it, scan the QR code with your phone, or skip</source>
        <translation>Print it, scan the QR code with your phone, or skip</translation>
    </message>
    <message>
        <source>Scan with your phone camera</source>
        <translation>Scan with your phone camera</translation>
    </message>
    <message>
        <source>The code holds a short form: item numbers instead of titles.</source>
        <translation>The code holds a short form: item numbers instead of titles.</translation>
    </message>
    <message>
        <source>The receipt is too long for one code: it holds the first items and says how many are left out.</source>
        <translation>The receipt is too long for one code: it holds the first items and says how many are left out.</translation>
    </message>
    <message>
        <source>Print</source>
        <translation>Print</translation>
    </message>
    <message>
        <source>Show QR code</source>
        <translation>Show QR code</translation>
    </message>
    <message>
        <source>Done</source>
        <translation>Done</translation>
    </message>
    <message>
        <source>No receipt</source>
        <translation>No receipt</translation>
    </message>
</context>
<context>
    <name>Renew</name>
    <message>
        <source>Renew</source>
        <translation>Renew</translation>
    </message>
    <message>
        <source>Touch the items to renew, or renew all</source>
        <translation>Touch the items to renew, or renew all</translation>
    </message>
    <message>
        <source>You have no loans.</source>
        <translation>You have no loans.</translation>
    </message>
    <message>
        <source>Renew selected ({n})</source>
        <translation>Renew selected ({n})</translation>
    </message>
    <message>
        <source>Renew all</source>
        <translation>Renew all</translation>
    </message>
</context>
<context>
    <name>Status</name>
    <message>
        <source>Overdue since {date}</source>
        <translation>Overdue since {date}</translation>
    </message>
    <message>
        <source>Due {date}</source>
        <translation>Due {date}</translation>
    </message>
    <message>
        <source>Ready for pickup at {place}</source>
        <translation>Ready for pickup at {place}</translation>
    </message>
    <message>
        <source>until {date}</source>
        <translation>until {date}</translation>
    </message>
    <message>
        <source>Waiting</source>
        <translation>Waiting</translation>
    </message>
    <message>
        <source>Reserved for another reader: put it on the hold shelf</source>
        <translation>Reserved for another reader: put it on the hold shelf</translation>
    </message>
    <message>
        <source>Goes to {place}: put it in the transit box</source>
        <translation>Goes to {place}: put it in the transit box</translation>
    </message>
    <message>
        <source>Put it in return bin {bin}</source>
        <translation>Put it in return bin {bin}</translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation>Checking…</translation>
    </message>
    <message>
        <source>Borrowed — due {date}</source>
        <translation>Borrowed — due {date}</translation>
    </message>
    <message>
        <source>Borrowed (offline) — due {date}</source>
        <translation>Borrowed (offline) — due {date}</translation>
    </message>
    <message>
        <source>Borrowed, but the alarm is still on: please see the staff</source>
        <translation>Borrowed, but the alarm is still on: please see the staff</translation>
    </message>
    <message>
        <source>Incomplete set: put all parts on the pad</source>
        <translation>Incomplete set: put all parts on the pad</translation>
    </message>
    <message>
        <source>On hold for another patron: please leave it at the desk</source>
        <translation>On hold for another patron: please leave it at the desk</translation>
    </message>
    <message>
        <source>Returned</source>
        <translation>Returned</translation>
    </message>
    <message>
        <source>Renewed — now due {date}</source>
        <translation>Renewed — now due {date}</translation>
    </message>
    <message>
        <source>Refused: {reason}</source>
        <translation>Refused: {reason}</translation>
    </message>
    <message>
        <source>Fine to pay: {amount}</source>
        <translation>Fine to pay: {amount}</translation>
    </message>
</context>
<context>
    <name>Fines</name>
    <message>
        <source>Print receipt</source>
        <translation>Print receipt</translation>
    </message>
    <message>
        <source>Printed</source>
        <translation>Printed</translation>
    </message>
    <message>
        <source>Received {paid} of {amount}. Scan the new code to pay the remaining {rest} · {m}:{s:02d} left</source>
        <translation>Received {paid} of {amount}. Scan the new code to pay the remaining {rest} · {m}:{s:02d} left</translation>
    </message>
    <message>
        <source>Pay all {amount}</source>
        <translation>Pay all {amount}</translation>
    </message>
    <message>
        <source>Your fines are over the limit, so borrowing and renewing are paused. Pay them here; then log in again to borrow.</source>
        <translation>Your fines are over the limit, so borrowing and renewing are paused. Pay them here; then log in again to borrow.</translation>
    </message>
</context>
</TS>
