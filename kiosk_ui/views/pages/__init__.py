"""The kiosk's screens, one module per page; :mod:`.base` holds what they share (the page
frame, the title header, label and list helpers).

Each page only lays out widgets, forwards taps to its view-model and re-reads the view-model
in ``refresh()`` (which also re-translates every label, so a language switch needs no
restart). Pages make no edge calls.
"""

from kiosk_ui.views.pages.account import AccountPage
from kiosk_ui.views.pages.admin import AdminPage
from kiosk_ui.views.pages.attract import AttractPage
from kiosk_ui.views.pages.base import Page, PageHeader
from kiosk_ui.views.pages.fines import FinesPage
from kiosk_ui.views.pages.login import LoginPage
from kiosk_ui.views.pages.menu import MenuPage
from kiosk_ui.views.pages.out_of_service import OutOfServicePage
from kiosk_ui.views.pages.pad import PadPage
from kiosk_ui.views.pages.receipt import ReceiptPage
from kiosk_ui.views.pages.renew import RenewPage

__all__ = ["AccountPage", "AdminPage", "AttractPage", "FinesPage", "LoginPage", "MenuPage",
           "OutOfServicePage", "PadPage", "Page", "PageHeader", "ReceiptPage", "RenewPage"]
