"""My account: loans (overdue flagged), holds ready for pickup, fines."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from kiosk_ui.client import EdgeApi
from kiosk_ui.i18n import Localizer
from kiosk_ui.models import FinesModel, HoldsModel, LoansModel
from kiosk_ui.text import format_money
from kiosk_ui.viewmodels.base import ViewModel
from kiosk_ui.worker import Runner


class AccountViewModel(ViewModel):
    """Loads ``GET /sessions/{id}/account`` into three models."""

    def __init__(self, client: EdgeApi, runner: Runner, localizer: Localizer,
                 parent: QObject | None = None) -> None:
        super().__init__(client, runner, localizer, parent)
        self.loans = LoansModel(localizer, parent=self)
        self.holds = HoldsModel(localizer, self)
        self.fines = FinesModel(localizer, self)
        self._fine_total: Any = 0
        self._currency = "VND"
        self.offline = False
        """The edge answered from its cache: fines are not known (not "nothing to pay")."""

    @property
    def overdue_count(self) -> int:
        return sum(1 for r in self.loans.rows if r.get("overdue"))

    @property
    def ready_count(self) -> int:
        return sum(1 for r in self.holds.rows if r.get("ready"))

    @property
    def fine_total(self) -> str:
        """The total of the fines, formatted; ``""`` when there is none."""
        try:
            if not float(self._fine_total or 0):
                return ""
        except (TypeError, ValueError):
            return str(self._fine_total)
        return format_money(self._fine_total, self._currency, self.localizer.language)

    def begin(self, session_id: str) -> None:
        """Fetch the account of ``session_id``."""
        self.reset()
        for m in (self.loans, self.holds, self.fines):
            m.clear()
        self._fine_total = 0
        self.call(lambda: self.client.account(session_id), self._apply)

    def _apply(self, acc: Any) -> None:
        self.offline = bool(acc.get("offline"))
        self.loans.set_rows(list(acc.get("loans", [])))
        self.holds.set_rows(list(acc.get("holds", [])))
        fines = list(acc.get("fines", []))
        self.fines.set_rows(fines)
        self._currency = str(acc.get("currency") or "VND")
        if fines:
            self._currency = str(fines[0].get("currency") or self._currency)
        total = acc.get("fine_total")
        if isinstance(total, dict):
            self._currency = str(total.get("currency") or self._currency)
            total = total.get("amount")
        self._fine_total = total if total is not None else sum(
            float(f.get("amount") or 0) for f in fines)  # an edge without the ILS's total
