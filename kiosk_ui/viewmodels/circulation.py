"""Borrow, return and renew: lists that fill as tags arrive and as the edge answers."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from kiosk_ui.client import EdgeApi
from kiosk_ui.errors import InputRefused, PatronFacingError
from kiosk_ui.i18n import Localizer
from kiosk_ui.models import ItemResultsModel, LoansModel
from kiosk_ui.text import DONE_STATUSES
from kiosk_ui.viewmodels.base import ViewModel
from kiosk_ui.worker import Runner

# Pad states shown to the patron.
WAITING, WORKING, DONE = "waiting", "working", "done"
NOT_ON_PAD = "item_not_on_pad"


class PadViewModel(ViewModel):
    """Items placed on the pad, each sent to the edge once and its result shown.

    Rows appear on ``tag_arrived`` with status ``checking`` and change on the call's answer
    or on an ``item_status`` event for this session, whichever comes first.

    One physical action is one call per item. Entering the screen sends one *sweep* (the
    call without items: whatever is on the pad). A tag that arrives while the sweep is open
    is held, not sent: the sweep may cover it. When the sweep answers, the held tags it did
    not answer for are sent, each once; when it fails, they show its failure and are not
    sent (the edge may have done them). Entering again while the sweep is open (a double
    press, or Back and in again) starts no second sweep.

    Signals:
        transacted(int): this many items were completed (for the receipt decision).
    """

    transacted = Signal(int)

    def __init__(self, client: EdgeApi, runner: Runner, localizer: Localizer,
                 parent: QObject | None = None) -> None:
        super().__init__(client, runner, localizer, parent)
        self.model = ItemResultsModel(localizer, self)
        self.session_id: str | None = None
        self.active = False
        self._sweeping = False
        self._held: list[str] = []     # tags that arrived while the sweep was open
        self.model.rowsInserted.connect(lambda *_: self.changed.emit())
        self.model.rowsRemoved.connect(lambda *_: self.changed.emit())
        self.model.dataChanged.connect(lambda *_: self.changed.emit())

    # -- properties -------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        """``ok``, ``refused`` and ``pending`` row counts."""
        return self.model.counts()

    @property
    def state(self) -> str:
        """``waiting`` (nothing yet), ``working`` (a row is being checked) or ``done``."""
        c = self.counts
        if c["pending"] or self.busy:
            return WORKING
        if c["ok"] or c["refused"]:
            return DONE
        return WAITING

    # -- flow -------------------------------------------------------------------------
    def begin(self, session_id: str | None) -> None:
        """Start on a clear list and process what is already on the pad.

        While the sweep of an earlier entry in the same session is still open, this only
        shows the screen again: that sweep covers the pad, and a second one would send the
        same items again.
        """
        if self._sweeping and session_id == self.session_id:
            self.active = True
            return
        self.reset()
        self.model.clear()
        self.session_id = session_id
        self.active = True
        self._sweeping = True
        self.call(lambda: self._send(None), self._swept, self._sweep_failed)

    def reset(self) -> None:
        self._sweeping = False
        self._held = []
        super().reset()

    def stop(self) -> None:
        """Leave the screen: later tags are ignored."""
        self.active = False

    def on_event(self, evt: dict[str, Any]) -> None:
        """Handle an edge event (``tag_arrived``, ``item_status``)."""
        if not self.active:
            return
        kind = evt.get("type")
        if kind == "tag_arrived":
            item_id = str(evt.get("item_id") or evt.get("uid") or "")
            if not item_id:
                return
            i = self.model.find(item_id)
            if i >= 0 and self.model.rows[i].get("status") in DONE_STATUSES | {"checking"}:
                return   # done or under way; a tag seen again changes nothing
            self.model.upsert({"item_id": item_id, "title": evt.get("title") or item_id,
                               "status": "checking", "code": None, "message": None})
            if self._sweeping:
                self._held.append(item_id)   # the open sweep may take it: see _swept
                return
            self._send_item(item_id)
        elif kind == "item_status":
            session = evt.get("session")
            item = evt.get("item")
            # Only rows of this screen: the edge also reports later changes of items
            # handled elsewhere (a security retry of an item borrowed earlier).
            if (isinstance(item, dict) and session in (None, self.session_id)
                    and self.model.find(str(item.get("item_id"))) >= 0):
                self._upsert_result(item)

    def _send(self, items: list[str] | None) -> Any:
        raise NotImplementedError

    def _send_item(self, item_id: str) -> None:
        self.call(lambda: self._send([item_id]), self._apply_arrived(item_id),
                  self._item_failed(item_id))

    def _swept(self, answer: Any) -> None:
        held, self._held, self._sweeping = self._held, [], False
        answered = {str(r.get("item_id")) for r in (answer or {}).get("results", [])
                    if isinstance(r, dict)}
        self._apply(answer)
        for item_id in dict.fromkeys(held):
            if item_id not in answered:
                self._send_item(item_id)   # put down after the edge read the pad

    def _sweep_failed(self, exc: PatronFacingError) -> None:
        held, self._held, self._sweeping = self._held, [], False
        self.set_error(exc)
        for item_id in dict.fromkeys(held):
            self._item_failed(item_id)(exc)

    def _apply(self, answer: Any) -> None:
        done = 0
        for item in (answer or {}).get("results", []):
            if isinstance(item, dict):
                done += self._upsert_result(item)
        if done:
            self.transacted.emit(done)

    def _apply_arrived(self, item_id: str) -> Any:
        def handler(answer: Any) -> None:
            # The tag left the pad before the edge could handle it (or its event was
            # still queued from the screen before): nothing for the patron to do, no row.
            results = [r for r in (answer or {}).get("results", []) if isinstance(r, dict)]
            if any(r.get("item_id") == item_id and r.get("code") == NOT_ON_PAD for r in results):
                i = self.model.find(item_id)
                if i >= 0 and self.model.rows[i].get("status") == "checking":
                    self.model.remove(item_id)
                answer = {**answer, "results": [r for r in results if r.get("item_id") != item_id]}
            self._apply(answer)
        return handler

    def _upsert_result(self, item: dict[str, Any]) -> int:
        row = dict(item)
        i = self.model.find(str(row.get("item_id")))
        before = self.model.rows[i].get("status") if i >= 0 else None
        if before in DONE_STATUSES and row.get("status") not in DONE_STATUSES:
            # The same item answered twice (the pad sweep on entry and its own tag event
            # overlapped): the second "not on loan" must not hide that it was returned.
            return 0
        if row.get("status") != "refused":
            row.setdefault("code", None)
        self.model.upsert(row)
        now = row.get("status")
        return int(now in DONE_STATUSES and before not in DONE_STATUSES)

    def _item_failed(self, item_id: str) -> Any:
        def handler(exc: PatronFacingError) -> None:
            if exc.unreachable:
                self.set_error(exc)
            self.model.upsert({"item_id": item_id, "status": "refused", "code": exc.code,
                               "message": exc.texts or None})
        return handler


class BorrowViewModel(PadViewModel):
    """Borrow: ``POST /sessions/{id}/checkout`` per item placed on the pad."""

    def _send(self, items: list[str] | None) -> Any:
        assert self.session_id is not None, "borrowing needs a session"
        return self.client.checkout(self.session_id, items)


class ReturnViewModel(PadViewModel):
    """Return: in a session, or anonymously (``POST /returns``) where the site allows it."""

    def _send(self, items: list[str] | None) -> Any:
        return self.client.return_items(self.session_id, items)

    @property
    def transactions(self) -> list[str]:
        """The journal keys of the items returned (what an anonymous return's receipt
        lists), in the order shown."""
        return [str(r["transaction"]) for r in self.model.rows
                if r.get("status") in DONE_STATUSES and r.get("transaction")]

    @property
    def fines(self) -> list[dict[str, Any]]:
        """The fines announced by returned items."""
        return [r["fine"] for r in self.model.rows if isinstance(r.get("fine"), dict)]


class RenewViewModel(ViewModel):
    """Renew: the patron's loans with due dates; renew the selected ones or all."""

    transacted = Signal(int)

    def __init__(self, client: EdgeApi, runner: Runner, localizer: Localizer,
                 parent: QObject | None = None) -> None:
        super().__init__(client, runner, localizer, parent)
        self.loans = LoansModel(localizer, checkable=True, parent=self)
        self.session_id: str | None = None
        self.loans.dataChanged.connect(lambda *_: self.changed.emit())

    @property
    def selected(self) -> list[str]:
        return self.loans.checked_ids()

    @property
    def has_results(self) -> bool:
        return any("status" in r for r in self.loans.rows)

    def begin(self, session_id: str) -> None:
        """Load the loans of ``session_id``."""
        self.reset()
        self.session_id = session_id
        self.loans.clear()
        self.call(lambda: self.client.account(session_id),
                  lambda acc: self.loans.set_rows(list(acc.get("loans", []))))

    def renew_selected(self) -> None:
        """Renew the checked loans (an error when none is checked)."""
        ids = self.selected
        if not ids:
            self.set_error(InputRefused("nothing_selected"))
            return
        self._renew(ids)

    def renew_all(self) -> None:
        """Renew every loan."""
        self._renew(None)

    def _renew(self, ids: list[str] | None) -> None:
        sid = self.session_id
        assert sid is not None, "renewing needs a session"
        self.set_error(None)
        self.call(lambda: self.client.renew(sid, ids), self._apply)

    def _apply(self, answer: Any) -> None:
        done = 0
        for item in (answer or {}).get("results", []):
            if isinstance(item, dict):
                row = dict(item)
                if row.get("status") != "refused":
                    row.setdefault("code", None)
                self.loans.upsert(row)
                done += int(row.get("status") == "renewed")
        if done:
            self.transacted.emit(done)
