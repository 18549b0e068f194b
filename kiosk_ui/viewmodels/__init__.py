"""View-models: QObjects with properties and signals, no widgets, testable headless.

Each screen has one; :class:`~kiosk_ui.viewmodels.kiosk.KioskViewModel` owns them and is
the kiosk's state machine (screens, session, idle countdown, connectivity).
"""

from kiosk_ui.viewmodels.account import AccountViewModel
from kiosk_ui.viewmodels.base import ViewModel
from kiosk_ui.viewmodels.circulation import BorrowViewModel, RenewViewModel, ReturnViewModel
from kiosk_ui.viewmodels.kiosk import KioskViewModel, Screen
from kiosk_ui.viewmodels.login import LoginViewModel
from kiosk_ui.viewmodels.receipt import ReceiptViewModel

__all__ = [
    "AccountViewModel", "BorrowViewModel", "KioskViewModel", "LoginViewModel",
    "ReceiptViewModel", "RenewViewModel", "ReturnViewModel", "Screen", "ViewModel",
]
