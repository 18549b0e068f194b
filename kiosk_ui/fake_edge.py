"""An in-memory edge that follows docs/api.md, for screenshots, benches and tests.

It is not used by the kiosk in production; ``smartlib kiosk`` always talks to a real edge.
Patrons, items and loans are small fixed sets with Vietnamese titles so that screenshots
show diacritics. Error texts are the real edge's (:mod:`edge.error_texts`, the one
module of ``edge`` the kiosk may import: pure data).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

from edge.error_texts import TEXTS  # the real edge's texts (a pure data module)
from kiosk_ui.errors import EdgeApiError, EdgeUnreachable

JSON = dict[str, Any]


def _err(code: str, status: int = 400) -> EdgeApiError:
    """The error the real edge answers: its ``en`` text as the message, both texts."""
    texts = TEXTS.get(code, {})
    return EdgeApiError(code, texts.get("en") or code.replace("_", " "), texts, status)


class FakeEdge:
    """A scripted edge. Set ``down = True`` to make every call fail as unreachable.

    Patrons: card ``04A1B2C3`` / barcode ``123456`` with PIN ``1234`` (Nguyễn Thị Lan);
    ``999`` is blocked, ``888`` expired. Items: see :attr:`items`. The barcode scanner's
    affixes, as ``[card_reader]`` sets them on the real edge: :attr:`scan_prefix`,
    :attr:`scan_suffix`.
    """

    def __init__(self, today: dt.date | None = None) -> None:
        self.today = today or dt.date(2026, 11, 23)
        self.scan_prefix = ""
        self.scan_suffix = ""
        self.scan_tokens: dict[str, str] = {}
        """Unused scan tokens ``read_scan`` issued: token → identifier."""
        self.down = False
        self.gateway = "online"
        self.card_reader: str | None = "online"
        self.offline_policy: JSON = {"login": "cached", "max_items": 5, "max_value": 1_000_000}
        """What ``/health`` sends as ``offline_policy`` (as the real edge: login, items, value)."""
        self.card_on_reader: str | None = None
        self.anonymous_returns: dict[str, JSON] = {}
        """Anonymous returns by transaction key: their receipt lines."""
        self.calls: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.patrons: dict[str, JSON] = {
            "123456": {"pin": "1234", "name": "Nguyễn Thị Lan", "language": "vi", "card": "04A1B2C3",
                       "email": "lan.nguyen@example.org"},
            "999": {"pin": "1111", "name": "Trần Văn Bình", "language": "vi", "blocked": True},
            "888": {"pin": "2222", "name": "Lê Minh Châu", "language": "en", "expired": True},
            # blocked for fines only: a restricted session (account and payments only)
            "777": {"pin": "3333", "name": "John Smith", "language": "en",
                    "restricted": "fines"},
        }
        self.items: dict[str, JSON] = {
            "3001": {"title": "Truyện Kiều — Nguyễn Du"},
            "3002": {"title": "Dế Mèn phiêu lưu ký — Tô Hoài"},
            "3003": {"title": "Số đỏ — Vũ Trọng Phụng"},
            "3004": {"title": "Tắt đèn — Ngô Tất Tố", "hold_for_other": True},
            "3005": {"title": "Từ điển Tiếng Việt (2 tập)", "incomplete": True},
            "3006": {"title": "Atlas Địa lý Việt Nam", "not_loanable": True},
            "3007": {"title": "Lão Hạc — Nam Cao", "alarm": True},
            "3101": {"title": "Nỗi buồn chiến tranh — Bảo Ninh"},
            "3102": {"title": "Chí Phèo — Nam Cao"},
            "3103": {"title": "Vợ nhặt — Kim Lân"},
        }
        self.loans: dict[str, JSON] = {
            "3101": {"due_date": "2026-11-20", "patron": "123456"},
            "3102": {"due_date": "2026-12-01", "patron": "123456"},
            "3103": {"due_date": "2026-12-05", "patron": "123456", "renew_refused": True},
        }
        self.holds: list[JSON] = [
            {"item_id": "3201", "title": "Những ngôi sao xa xôi — Lê Minh Khuê", "ready": True,
             "pickup_location": "Quầy thủ thư tầng 1", "expires": "2026-12-14"},
            {"item_id": "3202", "title": "Bỉ vỏ — Nguyên Hồng", "ready": False,
             "pickup_location": "Quầy thủ thư tầng 1"},
        ]
        self.fines: list[JSON] = [
            {"fine_id": "F1", "amount": "15000", "currency": "VND",
             "reason": "Trả muộn: Nỗi buồn chiến tranh", "date": "2026-11-30", "item_id": "3101"},
        ]
        self.account_offline = False
        """Answer the account as the edge does from its cache (no fines known)."""
        self.payments: dict[str, JSON] = {}
        """Payments made (reference -> the edge's answer); set ``status`` to "paid" to pay."""
        self.pad: list[str] = []
        self.lifted: set[str] = set()
        """Items taken off the pad before the edge handled them (``lift``)."""
        self.sessions: dict[str, JSON] = {}
        self.journal: list[JSON] = []
        self.mail_fails = False
        """Make e-mailed receipts fail as the edge does without a mail relay."""
        self.mailed: list[tuple[str, str]] = []
        """E-mails sent: (receipt key, address); one per receipt, as the edge."""
        self._mail_outcomes: dict[str, JSON | EdgeApiError] = {}

    # -- helpers for tests ------------------------------------------------------------
    def tag_event(self, item_id: str) -> JSON:
        """Put ``item_id`` on the pad and return its ``tag_arrived`` event."""
        self.pad.append(item_id)
        return {"type": "tag_arrived", "at": dt.datetime.now(dt.UTC).isoformat(),
                "uid": f"E004{item_id}", "item_id": item_id,
                "title": self.items.get(item_id, {}).get("title", item_id), "antenna": "pad"}

    def lift(self, item_id: str) -> None:
        """Take ``item_id`` off the pad before the edge has handled it."""
        self.pad = [i for i in self.pad if i != item_id]
        self.lifted.add(item_id)

    def _not_on_pad(self, item_id: str) -> JSON:
        return {"item_id": item_id, "title": self.items.get(item_id, {}).get("title", item_id),
                "status": "refused", "code": "item_not_on_pad", "message": TEXTS["item_not_on_pad"]}

    def _check(self, name: str, arg: Any = None) -> None:
        with self._lock:
            self.calls.append((name, arg))
        if self.down:
            raise EdgeUnreachable("connection refused")

    def _session(self, sid: str) -> JSON:
        s = self.sessions.get(sid)
        if s is None:
            raise _err("session_expired", 404)
        return s

    def _unrestricted(self, sid: str) -> JSON:
        """As the edge: a session restricted to paying fines may not borrow or renew."""
        s = self._session(sid)
        if s.get("restricted") == "fines":
            raise _err("restricted_fines", 403)
        return s

    def _due(self, days: int = 14) -> str:
        return (self.today + dt.timedelta(days=days)).isoformat()

    # -- EdgeApi ----------------------------------------------------------------------
    def health(self) -> JSON:
        self._check("health")
        return {"status": "ok" if self.card_reader != "offline" else "degraded",
                "gateway": self.gateway, "role": "kiosk", "card_reader": self.card_reader,
                "offline_policy": dict(self.offline_policy)}

    def info(self) -> JSON:
        self._check("info")
        return {"site": {"name": "Thư viện Tỉnh Quảng Nam", "isil": "VN-QN",
                         "opening_hours": "Thứ 2–Thứ 7 · 07:30–20:00"},
                "device": "kiosk-01", "languages": ["vi", "en"]}

    def login(self, source: str, identifier: str, pin: str | None, language: str,
              scan_token: str | None = None) -> JSON:
        """``POST /sessions``: as the edge, a barcode or card without a valid scan token is a
        typed number (``manual``), which needs a PIN."""
        self._check("login", (source, identifier))
        if self.scan_tokens.pop(scan_token or "", None) != identifier:
            source = "manual"
        return self._login(source, identifier, pin)

    def _login(self, source: str, identifier: str, pin: str | None) -> JSON:
        patron_id = identifier
        if source == "card":
            patron_id = next((k for k, p in self.patrons.items() if p.get("card") == identifier), "")
        p = self.patrons.get(patron_id)
        if p is None:
            raise _err("unknown_patron", 404)
        if source == "manual" and not pin:
            raise _err("pin_required", 401)
        if pin is not None and pin != p["pin"]:
            raise _err("wrong_pin", 401)
        if p.get("blocked"):
            raise _err("patron_blocked", 403)
        if p.get("expired"):
            raise _err("card_expired", 403)
        sid = uuid.uuid4().hex
        now = dt.datetime(2026, 11, 23, 14, 5, tzinfo=dt.UTC)
        s = {"id": sid, "patron": {"id_masked": "***" + patron_id[-3:], "name": p["name"],
                                   "language": p["language"]},
             "started_at": now.isoformat(), "expires_at": (now + dt.timedelta(seconds=60)).isoformat(),
             "idle_timeout_s": 60, "offline": self.gateway == "offline",
             "restricted": p.get("restricted"),
             "email_masked": (p["email"][:1] + "***@" + p["email"].partition("@")[2])
             if p.get("email") else None,
             "_patron": patron_id, "_lines": []}
        self.sessions[sid] = s
        return {k: v for k, v in s.items() if not k.startswith("_")}

    def login_card(self, language: str) -> JSON:
        self._check("login_card")
        if not self.card_on_reader:
            raise _err("device_unavailable", 409)
        return self._login("card", self.card_on_reader, None)

    def read_scan(self, raw: str) -> JSON:
        """``POST /scans``, reduced to what the kiosk's tests need: the affixes required and
        stripped, spaces trimmed, an empty or unprintable identifier refused. The scanner's
        full rules are the real edge's (``drivers.scanner``; tested against the real edge in
        ``tests/kiosk_ui/test_edge_integration.py``)."""
        self._check("read_scan", raw)
        text = raw.removesuffix("\n").removesuffix("\r")
        prefix, suffix = self.scan_prefix, self.scan_suffix.rstrip("\r\n")
        ident = text[len(prefix):len(text) - len(suffix)].strip(" ")
        if not text.startswith(prefix):
            reason = "scan lacks the configured prefix"
        elif not text.endswith(suffix):
            reason = "scan lacks the configured suffix"
        elif not ident:
            reason = "empty scan"
        elif not ident.isprintable():
            reason = "scan has a control character"
        else:
            token = uuid.uuid4().hex
            self.scan_tokens[token] = ident
            return {"identifier": ident, "scan_token": token}
        raise EdgeApiError("bad_scan", reason, None, 409)   # no texts: the kiosk's catalogue

    def end_session(self, session_id: str) -> None:
        self._check("end_session", session_id)
        self.sessions.pop(session_id, None)

    def get_session(self, session_id: str) -> JSON:
        self._check("get_session", session_id)
        return {k: v for k, v in self._session(session_id).items() if not k.startswith("_")}

    def _take(self, items: list[str] | None) -> list[str]:
        if items is None:
            taken, self.pad = list(dict.fromkeys(self.pad)), []
            return taken
        self.pad = [i for i in self.pad if i not in items]
        return list(items)

    def checkout(self, session_id: str, items: list[str] | None = None) -> JSON:
        self._check("checkout", items)
        s = self._unrestricted(session_id)
        results = []
        for item_id in self._take(items):
            meta = self.items.get(item_id)
            r: JSON = {"item_id": item_id, "title": (meta or {}).get("title", item_id)}
            if item_id in self.lifted:
                r = self._not_on_pad(item_id)
            elif meta is None:
                r.update(status="refused", code="item_unknown")
            elif meta.get("hold_for_other"):
                r.update(status="on_hold_for_other", code="on_hold_for_other")
            elif meta.get("incomplete"):
                r.update(status="incomplete_set", code="incomplete_set")
            elif meta.get("not_loanable"):
                r.update(status="refused", code="not_loanable", message=TEXTS["not_loanable"])
            else:
                status = "loaned_alarm_on" if meta.get("alarm") else (
                    "offline_accepted" if self.gateway == "offline" else "loaned")
                r.update(status=status, due_date=self._due(), transaction=uuid.uuid4().hex)
                self.loans[item_id] = {"due_date": r["due_date"], "patron": s["_patron"]}
                s["_lines"].append({"item_id": item_id, "title": r["title"], "action": "checkout",
                                    "due_date": r["due_date"]})
            results.append(r)
        return self._results(results)

    def return_items(self, session_id: str | None, items: list[str] | None = None) -> JSON:
        self._check("return", items)
        s = self._session(session_id) if session_id else None  # restricted may return
        results = []
        for item_id in self._take(items):
            meta = self.items.get(item_id, {})
            r: JSON = {"item_id": item_id, "title": meta.get("title", item_id)}
            if item_id in self.lifted:
                results.append(self._not_on_pad(item_id))
                continue
            loan = self.loans.pop(item_id, None)
            if loan is None:
                r.update(status="refused", code="not_on_loan", message=TEXTS["not_on_loan"])
            else:
                r.update(status="returned", transaction=uuid.uuid4().hex)
                if item_id == "3102":
                    r["fine"] = {"amount": 15000, "currency": "VND"}
                if item_id == "3102":
                    r["sort"] = {"kind": "hold_shelf", "destination": None, "bin": None}
                elif item_id == "3103":
                    r["sort"] = {"kind": "transit", "destination": "Thư viện Hội An", "bin": None}
                else:
                    r["sort"] = {"kind": "bin", "destination": None, "bin": "B"}
                if s is not None:
                    s["_lines"].append({"item_id": item_id, "title": r["title"], "action": "return"})
                else:
                    self.anonymous_returns[r["transaction"]] = {
                        "item_id": item_id, "title": r["title"], "action": "return"}
            results.append(r)
        return self._results(results)

    def renew(self, session_id: str, items: list[str] | None = None) -> JSON:
        self._check("renew", items)
        s = self._unrestricted(session_id)
        mine = [i for i, ln in self.loans.items() if ln["patron"] == s["_patron"]]
        results = []
        for item_id in (mine if items is None else items):
            loan = self.loans.get(item_id)
            r: JSON = {"item_id": item_id, "title": self.items.get(item_id, {}).get("title", item_id)}
            if loan is None:
                r.update(status="refused", code="not_on_loan", message=TEXTS["not_on_loan"])
            elif loan.get("renew_refused"):
                r.update(status="refused", code="renew_refused", message=TEXTS["renew_refused"],
                         due_date=loan["due_date"])
            else:
                loan["due_date"] = self._due(28)
                r.update(status="renewed", due_date=loan["due_date"])
                s["_lines"].append({"item_id": item_id, "title": r["title"], "action": "renew",
                                    "due_date": loan["due_date"]})
            results.append(r)
        return self._results(results)

    def account(self, session_id: str) -> JSON:
        self._check("account", session_id)
        s = self._session(session_id)
        loans = [{"item_id": i, "title": self.items.get(i, {}).get("title", i),
                  "due_date": ln["due_date"],
                  "overdue": dt.date.fromisoformat(ln["due_date"]) < self.today}
                 for i, ln in self.loans.items() if ln["patron"] == s["_patron"]]
        # Money is a decimal string, as the edge's AccountOut sends it.
        total = str(sum(Decimal(str(f["amount"])) for f in self.fines if f["amount"] is not None))
        if self.account_offline:
            return {"loans": loans, "holds": list(self.holds), "fines": [], "fine_total": None,
                    "currency": "VND", "offline": True}
        return {"loans": loans, "holds": list(self.holds), "fines": list(self.fines),
                "fine_total": total, "currency": "VND", "offline": False}

    def receipt(self, session_id: str) -> JSON:
        self._check("receipt", session_id)
        s = self._session(session_id)
        return {"library": "Thư viện Tỉnh Quảng Nam", "patron_masked": s["patron"]["id_masked"],
                "when": "2026-11-23T14:07:00+07:00", "lines": list(s["_lines"])}

    def print_receipt(self, session_id: str) -> JSON:
        self._check("print_receipt", session_id)
        self._session(session_id)
        return {"printed": True}

    def return_receipt(self, transactions: list[str], language: str) -> JSON:
        self._check("return_receipt", list(transactions))
        unknown = [t for t in transactions if t not in self.anonymous_returns]
        if unknown:
            raise EdgeApiError("not_found", f"{unknown[0]} is not an anonymous return", None, 404)
        return {"library": "Thư viện Tỉnh Quảng Nam", "patron_masked": "-",
                "when": "2026-11-23T14:07:00+07:00", "language": language,
                "lines": [self.anonymous_returns[t] for t in dict.fromkeys(transactions)]}

    def print_return_receipt(self, transactions: list[str], language: str) -> JSON:
        self.return_receipt(transactions, language)
        self._check("print_return_receipt", list(transactions))
        return {"printed": True}

    def payable_fines(self, session_id: str) -> JSON:
        self._check("payable_fines", session_id)
        self._session(session_id)
        got = [{"fine_id": str(f.get("fine_id") or i + 1), "amount": f["amount"],
                "reason": f.get("reason") or f.get("description") or "", "date": f.get("date")}
               for i, f in enumerate(self.fines)]
        return {"fines": got, "total": sum(f["amount"] for f in got), "currency": "VND",
                "offline": False}

    def create_payment(self, session_id: str, fee_ids: list[str] | None = None) -> JSON:
        self._check("create_payment", fee_ids)
        fines = {f["fine_id"]: f for f in self.payable_fines(session_id)["fines"]}
        chosen = list(fines) if fee_ids is None else fee_ids
        ref = f"SLFAKE{len(self.payments) + 1:04d}"
        amount = sum(fines[f]["amount"] for f in chosen)
        self.payments[ref] = {
            "reference": ref, "amount": amount, "currency": "VND", "fee_ids": chosen,
            "payload": f"000201010212FAKE{ref}", "status": "pending",
            "bank": {"bin": "970415", "name": "VietinBank", "account": "0011001932418"},
            "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()}
        return dict(self.payments[ref])

    def payment_status(self, session_id: str, reference: str) -> JSON:
        self._check("payment_status", reference)
        self._session(session_id)
        return dict(self.payments[reference])

    def _mail_once(self, key: str, sid: str, retry: bool) -> JSON:
        """The edge's one e-mail per receipt: a repeat answers the first outcome; after a
        failure ``retry`` sends again."""
        s = self._session(sid)
        if not s.get("email_masked"):
            raise _err("no_email_address", 409)
        with self._lock:
            first = self._mail_outcomes.get(key)
            if first is not None and not (retry and isinstance(first, EdgeApiError)):
                if isinstance(first, EdgeApiError):
                    raise first
                return {**first, "repeated": True}
            if self.mail_fails:
                err = _err("mail_unavailable", 503)
                self._mail_outcomes[key] = err
                raise err
            self.mailed.append((key, self.patrons[s["_patron"]]["email"]))
            out = {"sent": True, "to_masked": s["email_masked"], "repeated": False}
            self._mail_outcomes[key] = out
            return dict(out)

    def email_receipt(self, session_id: str, retry: bool = False) -> JSON:
        self._check("email_receipt", session_id)
        s = self._session(session_id)
        return self._mail_once(f"session/{session_id}/{len(s['_lines'])}", session_id, retry)

    def payment_receipt(self, session_id: str, reference: str) -> JSON:
        self._check("payment_receipt", reference)
        s = self._session(session_id)
        p = self.payments.get(reference)
        if p is None:
            raise _err("not_found", 404)
        if p["status"] not in ("paid", "partial"):
            raise _err("payment_not_confirmed", 409)
        paid = int(p.get("paid_amount") or p["amount"]) if p["status"] == "partial" \
            else int(p["amount"])
        fines = {str(f.get("fine_id")): f for f in self.fines}
        return {"kind": "payment", "library": "Thư viện Tỉnh Quảng Nam",
                "patron_masked": s["patron"]["id_masked"], "when": "2026-11-23T14:07:00+07:00",
                "language": s["patron"]["language"], "amount": paid, "currency": "VND",
                "reference": reference,
                "owed": int(p["amount"]) - paid if p["status"] == "partial" else None,
                "lines": [{"description": str(fines.get(f, {}).get("reason") or f),
                           "amount": int(fines[f]["amount"]) if f in fines else None}
                          for f in p["fee_ids"]]}

    def print_payment_receipt(self, session_id: str, reference: str) -> JSON:
        self._check("print_payment_receipt", reference)
        self.payment_receipt(session_id, reference)
        return {"printed": True}

    def email_payment_receipt(self, session_id: str, reference: str,
                              retry: bool = False) -> JSON:
        self._check("email_payment_receipt", reference)
        got = self.payment_receipt(session_id, reference)
        return self._mail_once(f"payment/{reference}/{got['amount']}", session_id, retry)

    @staticmethod
    def _results(results: list[JSON]) -> JSON:
        ok = sum(1 for r in results if r["status"] in
                 ("loaned", "returned", "renewed", "offline_accepted", "loaned_alarm_on"))
        return {"results": results, "count": {"ok": ok, "refused": len(results) - ok}}
